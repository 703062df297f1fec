#pragma once
// Shared by the data tests: a temporary directory, the path of the Tatoeba corpus (tests that need it skip when it is absent), and
// a matcher for gg::Error messages.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "testing.h"

namespace gg::testing {

namespace fs = std::filesystem;

// A fresh directory for one test (testing.h's scratch_dir), with its files' paths.
class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_(scratch_dir(name)) {}
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Tatoeba spa.txt (English<TAB>Spanish), shared outside the repository; never copied into it.
inline std::string spa_path() { return GG_SOURCE_DIR "/../shared/data/tatoeba-spa-eng/spa.txt"; }
inline bool have_spa() { return fs::exists(spa_path()); }

// Use at the top of a test that needs spa.txt: warns and returns when it is absent.
#define GG_REQUIRE_SPA()                                                                       \
  do {                                                                                         \
    if (!gg::testing::have_spa()) {                                                              \
      WARN("skipped: " << gg::testing::spa_path() << " is absent (Tatoeba spa-eng, CC-BY 2.0)"); \
      return;                                                                                  \
    }                                                                                          \
  } while (false)

}  // namespace gg::testing

// CHECK_THROWS_WITH(expr, Contains("spa.txt:3")) for gg::Error.
using Catch::Matchers::Contains;
