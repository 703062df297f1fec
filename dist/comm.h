#pragma once
// The processes of one training run and the messages between them, over MPI.
//
//   mpirun -np 2 build/bin/translate train ...      every process runs the same program;
//   gg::dist::init();                                 rank() is 0 or 1, world_size() is 2
//
// A program started without mpirun (or a build without MPI, GG_MPI off) is a world of one:
// rank 0 of 1, every collective a copy. Only the calls data-parallel training needs are here,
// on float32 and int64 buffers; data_parallel.h builds the gradient reduction from them.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gg::dist {

// True when glassgrad was built with MPI (CMake option GG_MPI).
bool built_with_mpi();
// True when this process was started by mpirun (Open MPI's environment says so).
bool launched_by_mpirun();

// Joins the world mpirun started (MPI_Init_thread); a no-op when not launched by mpirun. The
// world ends when the process exits normally (MPI_Finalize then runs).
void init();
bool initialized();
int rank();        // 0 .. world_size() - 1
int world_size();  // 1 without mpirun

// Ends every process of the run at once, with `status` (MPI_Abort): a rank that fails must not
// leave the others waiting for it in a collective until a time-out.
[[noreturn]] void abort(int status);

void barrier();
// Rank `root`'s bytes into every rank's `data` (same size on every rank).
void broadcast(std::span<std::byte> data, int root = 0);
// Every rank's value, gathered into rank order: result[r] is rank r's.
std::vector<int64_t> all_gather(int64_t value);
std::vector<double> all_gather(double value);
// The sum over ranks, added in rank order on every rank: the same bits everywhere, which the
// decisions taken from it (stop, save, early stopping) need.
int64_t sum(int64_t value);
double sum(double value);
int64_t max(int64_t value);

// A collective on float buffers that runs while the caller goes on; done() asks MPI for
// progress (nonblocking collectives move forward only inside MPI calls), wait() blocks.
// Every rank must start scatter_parts and sum_in_place calls in one order, and gather_parts
// calls in one order (two separate sequences: see comm_mpi.cpp).
class Request {
 public:
  Request();
  ~Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  bool done();
  void wait();

  struct Impl;
  std::unique_ptr<Impl> impl;
};

// Every rank sends part j of `send` to rank j and receives rank r's part `rank()` into
// recv[r * parts[rank()] ...]: parts[j] floats for rank j, in order (MPI_Ialltoallv).
Request scatter_parts(std::span<const float> send, std::span<float> recv, std::span<const int64_t> parts);
// The inverse: every rank's part `rank()` of `data` (in place) to every rank (MPI_Iallgatherv).
Request gather_parts(std::span<float> data, std::span<const int64_t> parts);
// The element-wise sum over ranks, in place, in whatever order MPI's algorithm picks (MPI_Iallreduce).
Request sum_in_place(std::span<float> data);

// Memory that every rank of a run on one machine reads and writes directly: one segment of
// `floats` per rank, in rank order (POSIX shared memory, mapped by every rank). Ranks on one
// machine then add each other's gradients where they lie, instead of copying them through MPI's
// messages twice. create() is collective and returns null on every rank alike when the ranks
// are not all on one machine, when GG_DIST_SHARED_MEMORY=0 (gradients then travel as messages,
// as between machines), or when the memory cannot be had (rank 0 says why); the destructor
// only unmaps, so a rank that unwinds from an error never waits for the others.
class SharedSegments {
 public:
  static std::unique_ptr<SharedSegments> create(int64_t floats);
  ~SharedSegments();
  SharedSegments(const SharedSegments&) = delete;
  SharedSegments& operator=(const SharedSegments&) = delete;

  float* segment(int rank) const;  // rank's `floats` floats, 64-byte aligned
  // Every rank's writes to the segments before it are visible to every rank after it.
  void barrier() const;

 private:
  SharedSegments() = default;
  void* base_ = nullptr;
  size_t bytes_ = 0, stride_ = 0;  // the whole mapping; bytes from one segment to the next
};

}  // namespace gg::dist
