#pragma once
// Data-parallel training: every rank holds the whole model and runs forward and backward on its
// share of each global batch; the ranks then add their gradients, so that every rank takes the
// same optimizer step that one process would take on the whole batch.
//
//   dist::DataParallel ddp(model.parameters());            // rank 0's weights to every rank
//   for (const data::Batch& global : batches) {
//     data::Batch mine = data::shard(global, dist::rank(), dist::world_size());
//     optimizer.zero_grad();
//     ddp.begin_step();
//     Tensor loss = model.loss(mine..., {.reduction = Reduction::Sum});   // a sum, not a mean
//     loss.backward();                 // each bucket of gradients leaves as soon as it is final
//     int64_t tokens = ddp.finish(mine.tgt_tokens);  // summed gradients / the global token count
//     optim::clip_grad_norm_(...); optimizer.step();  // the same on every rank
//   }
//
// How gradients travel. Parameters are cut, in reverse order (backward finishes the last layers
// first), into buckets of a few MiB, numbered the same on every rank. Every parameter has a
// grad_ready hook (autograd/engine.cpp) that runs once its gradient is final; when a bucket's
// last gradient is in, the bucket is copied into one flat buffer and its reduction starts while
// backward goes on. Buckets start in their fixed order on every rank (a bucket that is ready
// early waits for the ones before it), as MPI's collectives must be called in the same order
// everywhere. finish() starts the buckets no gradient reached, waits for all of them and
// divides by the global number of target tokens: each rank's loss is a sum over its tokens,
// and the division happens once, after the sum, so the result is the mean over the global
// batch whatever the shards' sizes.
//
// Two modes (ReduceMode):
//   Exact: the same bits as one process that runs the N shards one after another and adds
//     their gradients in rank order, ((g0 + g1) + g2) ... Each rank owns 1/N of the bucket: an
//     all-to-all brings it every rank's copy of that part, it adds them in rank order, and an
//     all-gather returns the sums to everyone. MPI_Allreduce cannot promise this: the standard
//     leaves the order of its additions to the implementation, which picks a different
//     algorithm by message size and process count (recursive doubling, a ring that starts each
//     part's sum at a different rank, Rabenseifner's), and float addition is not associative.
//     When all ranks run on one machine the buckets live in shared memory instead
//     (SharedSegments): after backward each rank adds the copies of its part where they lie,
//     and every rank reads each part's sum from its owner. The same additions in the same
//     order, without MPI copying every byte twice through its own buffers; GG_DIST_SHARED_MEMORY=0
//     sends messages, as between machines.
//   Fast: one MPI_Iallreduce per bucket, in MPI's order: equal to Exact within float32
//     rounding (a few ulps of the largest gradient element; tests/dist checks 1e-5 relative).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "dist/comm.h"

namespace gg::dist {

enum class ReduceMode { Exact, Fast };
const char* mode_name(ReduceMode m);
ReduceMode parse_mode(const std::string& name);  // "exact" or "fast"; anything else is an error

struct DataParallelOptions {
  ReduceMode mode = ReduceMode::Exact;
  int64_t bucket_bytes = int64_t{4} << 20;  // a bucket closes once it holds this many bytes
};

class DataParallel {
 public:
  // Hooks every parameter (float32 leaves that require grad) and copies rank 0's values to every
  // rank, after checking that every rank has the same parameters (count, shapes).
  explicit DataParallel(std::vector<Tensor> parameters, DataParallelOptions options = {});
  ~DataParallel();  // removes the hooks
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Before backward: every bucket waits for its gradients again.
  void begin_step();
  // After backward: waits for every bucket, writes the summed gradients into .grad() (zeros
  // for a parameter no rank's graph reached), divides them by the global token count and
  // returns it. `tokens`: this rank's target tokens (the count its loss summed over).
  int64_t finish(int64_t tokens);

  // Seconds of the last step: spent in the hooks and in finish() starting reductions (copies
  // into the buckets, the rank-order sums), and waiting in finish() for the network: the part
  // of the communication backward did not hide.
  struct StepTimes {
    double start_seconds = 0, wait_seconds = 0;
  };
  const StepTimes& last_step() const { return times_; }
  int64_t bucket_count() const;
  int64_t gradient_bytes() const;
  // True when the ranks add their gradients in shared memory (Exact, all ranks on one machine).
  bool shared_memory() const { return shared_ != nullptr; }

 private:
  struct Bucket;
  void ready(size_t bucket);
  void start(Bucket& b);
  void advance(Bucket& b, bool block);
  void sum_shared();
  void copy_sums(const Bucket& b, int64_t from, int64_t n, float* out);
  float* gradients(int rank);  // a rank's buffer of every bucket's floats (another rank's: shared memory only)

  std::vector<Tensor> params_;
  DataParallelOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::unique_ptr<SharedSegments> shared_;  // every rank's gradients (Exact, ranks on one machine), or
  std::vector<float> local_;                // this rank's alone
  size_t next_start_ = 0;          // buckets start in order: the first not yet started
  StepTimes times_;
};

// Rank 0's values of `tensors` (contiguous; the same shapes on every rank) into every rank's:
// DataParallel does it for the parameters, a trainer for the buffers (a positional table).
void broadcast_from_rank0(const std::vector<Tensor>& tensors);

// The gradient of a sum of losses over `tokens` targets made that of their mean: every .grad()
// times 1/tokens. Ends every data-parallel step, and its one-process reference in tests/dist.
void divide_gradients(const std::vector<Tensor>& parameters, int64_t tokens);

// The seed of rank `rank`'s random numbers (dropout) at optimizer step `step`: different on
// every rank and every step, and the same whenever (seed, step, rank) are, whatever the number
// of ranks or where a resumed run restarted.
uint64_t step_seed(uint64_t seed, int64_t step, int rank);

}  // namespace gg::dist
