// dist/comm.h over MPI (built when GG_MPI is on). Every call checks MPI's return code and
// throws a gg::Error naming the call and MPI's own words: errors return to us instead of
// aborting inside MPI (MPI_ERRORS_RETURN), so the message the user reads is ours.
#include <fcntl.h>
#include <malloc.h>
#include <mpi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "dist/comm.h"

namespace gg::dist {
namespace {

bool g_initialized = false;
int g_rank = 0, g_size = 1;
// The nonblocking collectives of data-parallel training, on communicators of their own. MPI
// requires the collectives of one communicator to start in the same order on every rank. The
// reductions' first phases (and Fast's all-reduces) start in bucket order; an Exact bucket's
// second phase starts when its first has finished, which each rank learns at its own moment,
// so the second phases get a communicator of their own (where they, too, start in bucket
// order), and blocking calls (sums, broadcasts) stay on MPI_COMM_WORLD.
MPI_Comm g_first_phase = MPI_COMM_NULL, g_second_phase = MPI_COMM_NULL;

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("{} failed on rank {} of {}: {}", call, g_rank, g_size, std::string(text, static_cast<size_t>(length)));
}

int to_int(int64_t n, const char* what) {
  GG_CHECK(n >= 0 && n <= INT_MAX, "dist: {} of {} elements does not fit MPI's int counts", what, n);
  return static_cast<int>(n);
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

bool built_with_mpi() { return true; }

bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr; }

void init() {
  if (g_initialized || !launched_by_mpirun()) return;
  // Open MPI's nonblocking collectives allocate their temporaries on every call. glibc hands
  // freed blocks of 128 KiB and more back to the kernel, and each call then faults them in
  // again: a 4 MiB MPI_Iallreduce between two ranks here took 13-17 ms instead of 1-2. Freed
  // memory stays in the process (as PyTorch's users get from tcmalloc).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int provided = 0;
  // FUNNELED: only the thread that called init talks to MPI; OpenMP's workers never do.
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  check(MPI_Comm_dup(MPI_COMM_WORLD, &g_first_phase), "MPI_Comm_dup");
  check(MPI_Comm_dup(MPI_COMM_WORLD, &g_second_phase), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(g_first_phase, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(g_second_phase, MPI_ERRORS_RETURN);
  g_initialized = true;
  std::atexit(finalize_at_exit);
}

bool initialized() { return g_initialized; }
int rank() { return g_rank; }
int world_size() { return g_size; }

void abort(int status) {
  if (g_initialized) MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);
}

void barrier() {
  if (g_initialized) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void broadcast(std::span<std::byte> data, int root) {
  if (!g_initialized) return;
  for (size_t done = 0; done < data.size();) {  // in pieces: MPI counts are ints
    const size_t n = std::min<size_t>(data.size() - done, size_t{1} << 30);
    check(MPI_Bcast(data.data() + done, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    done += n;
  }
}

std::vector<int64_t> all_gather(int64_t value) {
  std::vector<int64_t> all(static_cast<size_t>(g_size), value);
  if (g_initialized)
    check(MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

std::vector<double> all_gather(double value) {
  std::vector<double> all(static_cast<size_t>(g_size), value);
  if (g_initialized)
    check(MPI_Allgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

int64_t sum(int64_t value) {
  int64_t total = 0;
  for (int64_t v : all_gather(value)) total += v;
  return total;
}

double sum(double value) {
  double total = 0;
  for (double v : all_gather(value)) total += v;
  return total;
}

int64_t max(int64_t value) {
  int64_t m = value;
  for (int64_t v : all_gather(value)) m = std::max(m, v);
  return m;
}

// ---- nonblocking collectives ----------------------------------------------------------------------

struct Request::Impl {
  MPI_Request request = MPI_REQUEST_NULL;
  std::vector<int> counts, offsets, recv_counts, recv_offsets;  // MPI reads them until the request completes
};

Request::Request() = default;
Request::~Request() {
  if (impl && impl->request != MPI_REQUEST_NULL) MPI_Wait(&impl->request, MPI_STATUS_IGNORE);
}
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&&) noexcept = default;

bool Request::done() {
  if (!impl || impl->request == MPI_REQUEST_NULL) return true;
  int flag = 0;
  check(MPI_Test(&impl->request, &flag, MPI_STATUS_IGNORE), "MPI_Test");
  return flag != 0;
}

void Request::wait() {
  if (impl && impl->request != MPI_REQUEST_NULL) check(MPI_Wait(&impl->request, MPI_STATUS_IGNORE), "MPI_Wait");
}

namespace {
// Offsets of consecutive parts.
std::vector<int> offsets_of(const std::vector<int>& counts) {
  std::vector<int> offsets(counts.size(), 0);
  for (size_t j = 1; j < counts.size(); ++j) offsets[j] = offsets[j - 1] + counts[j - 1];
  return offsets;
}

// A request of `op` over a buffer cut into one part per rank: MPI's int counts and offsets.
Request with_parts(std::span<const int64_t> parts, const char* op) {
  GG_CHECK(static_cast<int>(parts.size()) == g_size, "{}: {} parts for {} ranks", op, parts.size(), g_size);
  Request r;
  r.impl = std::make_unique<Request::Impl>();
  for (int64_t n : parts) r.impl->counts.push_back(to_int(n, op));
  r.impl->offsets = offsets_of(r.impl->counts);
  return r;
}
}  // namespace

Request scatter_parts(std::span<const float> send, std::span<float> recv, std::span<const int64_t> parts) {
  Request r = with_parts(parts, "scatter_parts");
  auto& p = *r.impl;
  GG_CHECK(static_cast<size_t>(p.offsets.back() + p.counts.back()) == send.size() &&
           recv.size() == static_cast<size_t>(g_size) * parts[static_cast<size_t>(g_rank)],
           "scatter_parts: buffers of {} and {} floats for parts summing to {}", send.size(), recv.size(),
           p.offsets.back() + p.counts.back());
  p.recv_counts.assign(static_cast<size_t>(g_size), p.counts[static_cast<size_t>(g_rank)]);
  p.recv_offsets = offsets_of(p.recv_counts);
  if (!g_initialized) {
    std::copy(send.begin(), send.end(), recv.begin());
    return r;
  }
  check(MPI_Ialltoallv(send.data(), p.counts.data(), p.offsets.data(), MPI_FLOAT, recv.data(), p.recv_counts.data(),
                       p.recv_offsets.data(), MPI_FLOAT, g_first_phase, &p.request),
        "MPI_Ialltoallv");
  return r;
}

Request gather_parts(std::span<float> data, std::span<const int64_t> parts) {
  Request r = with_parts(parts, "gather_parts");
  auto& p = *r.impl;
  if (!g_initialized) return r;
  check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data.data(), p.counts.data(), p.offsets.data(), MPI_FLOAT,
                        g_second_phase, &p.request),
        "MPI_Iallgatherv");
  return r;
}

Request sum_in_place(std::span<float> data) {
  Request r;
  r.impl = std::make_unique<Request::Impl>();
  if (!g_initialized) return r;
  check(MPI_Iallreduce(MPI_IN_PLACE, data.data(), to_int(static_cast<int64_t>(data.size()), "sum_in_place: a buffer"),
                       MPI_FLOAT, MPI_SUM, g_first_phase, &r.impl->request),
        "MPI_Iallreduce");
  return r;
}

// ---- memory shared by the ranks of one machine ----------------------------------------------------

namespace {
// True on every rank when every rank runs on this machine (MPI's shared-memory split of the world).
bool all_ranks_on_one_machine() {
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int size = 0;
  MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  return size == g_size;
}
}  // namespace

std::unique_ptr<SharedSegments> SharedSegments::create(int64_t floats) {
  GG_CHECK(floats >= 0, "SharedSegments: a negative size, {} floats", floats);
  if (!g_initialized || g_size == 1) return nullptr;
  // Rank 0 decides for all (every rank must take the same path); the machine test is collective.
  int use = all_ranks_on_one_machine();
  const char* setting = std::getenv("GG_DIST_SHARED_MEMORY");
  use = use && !(setting && std::strcmp(setting, "0") == 0);
  check(MPI_Bcast(&use, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  if (!use) return nullptr;

  std::unique_ptr<SharedSegments> s(new SharedSegments);
  s->stride_ = std::max<size_t>(64, (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64);
  s->bytes_ = s->stride_ * static_cast<size_t>(g_size);
  // Rank 0 creates a named object and reserves its memory (a full /dev/shm is an error here, not
  // a SIGBUS at the first write); the others open it by name; the name goes once all have.
  static int created = 0;
  std::array<char, 64> name{};
  std::snprintf(name.data(), name.size(), "/glassgrad-%ld-%d", static_cast<long>(::getpid()), created++);
  check(MPI_Bcast(name.data(), static_cast<int>(name.size()), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string error;
  int fd = -1;
  bool named = false;  // rank 0: the name exists and must be removed, whatever happens next
  if (g_rank == 0) {
    fd = ::shm_open(name.data(), O_CREAT | O_EXCL | O_RDWR, 0600);
    named = fd >= 0;
    if (fd < 0) error = fmt::format("shm_open: {}", std::strerror(errno));
    else if (const int e = ::posix_fallocate(fd, 0, static_cast<off_t>(s->bytes_)); e != 0)
      error = fmt::format("reserving {:.1f} MiB in /dev/shm: {}", s->bytes_ / 1048576.0, std::strerror(e));
  }
  int created_ok = error.empty();
  check(MPI_Bcast(&created_ok, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  if (created_ok && g_rank != 0) {
    fd = ::shm_open(name.data(), O_RDWR, 0600);
    if (fd < 0) error = fmt::format("shm_open: {}", std::strerror(errno));
  }
  if (fd >= 0 && error.empty()) {
    void* p = ::mmap(nullptr, s->bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) error = fmt::format("mmap: {}", std::strerror(errno));
    else s->base_ = p;
  }
  if (fd >= 0) ::close(fd);
  const auto ok = all_gather(static_cast<int64_t>(error.empty()));
  if (named) ::shm_unlink(name.data());
  if (!error.empty())
    std::fprintf(stderr, "data-parallel: rank %d cannot share memory with the other ranks (%s); gradients travel as "
                 "MPI messages\n", g_rank, error.c_str());
  if (std::find(ok.begin(), ok.end(), 0) != ok.end()) return nullptr;  // the destructor unmaps what was mapped
  return s;
}

SharedSegments::~SharedSegments() {
  if (base_) ::munmap(base_, bytes_);
}

float* SharedSegments::segment(int rank) const {
  return reinterpret_cast<float*>(static_cast<std::byte*>(base_) + static_cast<size_t>(rank) * stride_);
}

// MPI_Barrier orders the ranks; the fences keep the compiler and the CPU from moving this rank's
// loads and stores of the segments across it.
void SharedSegments::barrier() const {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace gg::dist
