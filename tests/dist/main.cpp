// test_dist runs under mpirun (tests/CMakeLists.txt): every rank runs every test case, and the
// job fails if a case failed on any rank.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "dist/comm.h"

int main(int argc, char** argv) {
  gg::dist::init();
  const int failed = Catch::Session().run(argc, argv);
  return gg::dist::max(int64_t{failed}) != 0 ? 1 : 0;
}
