// dist/comm.h without MPI (GG_MPI off): a world of one process, where every collective is a
// copy. Data-parallel training then runs the same code as under mpirun -np 1.
#include <cstdlib>

#include "core/error.h"
#include "dist/comm.h"

namespace gg::dist {

bool built_with_mpi() { return false; }
bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr; }

void init() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  GG_CHECK(size == nullptr || std::atoi(size) <= 1,
           "this glassgrad was built without MPI (GG_MPI off: install libopenmpi-dev and configure again), so the {} "
           "processes mpirun started cannot train together",
           size ? size : "");
}
bool initialized() { return false; }
int rank() { return 0; }
int world_size() { return 1; }
void abort(int status) { std::_Exit(status); }
void barrier() {}
void broadcast(std::span<std::byte>, int) {}
std::vector<int64_t> all_gather(int64_t value) { return {value}; }
std::vector<double> all_gather(double value) { return {value}; }
int64_t sum(int64_t value) { return value; }
double sum(double value) { return value; }
int64_t max(int64_t value) { return value; }

struct Request::Impl {};
Request::Request() = default;
Request::~Request() = default;
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&&) noexcept = default;
bool Request::done() { return true; }
void Request::wait() {}

Request scatter_parts(std::span<const float> send, std::span<float> recv, std::span<const int64_t> parts) {
  GG_CHECK(parts.size() == 1 && send.size() == recv.size(), "scatter_parts: a world of one has one part");
  std::copy(send.begin(), send.end(), recv.begin());
  return {};
}
Request gather_parts(std::span<float>, std::span<const int64_t>) { return {}; }
Request sum_in_place(std::span<float>) { return {}; }


// A world of one shares nothing: create() says so, and the rest is never reached.
std::unique_ptr<SharedSegments> SharedSegments::create(int64_t) { return nullptr; }
SharedSegments::~SharedSegments() = default;
float* SharedSegments::segment(int) const { return nullptr; }
void SharedSegments::barrier() const {}

}  // namespace gg::dist
