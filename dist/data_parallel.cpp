#include "dist/data_parallel.h"

#include <chrono>
#include <cstring>

#include "autograd/node.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/profiler.h"
#include "core/random.h"

namespace gg::dist {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Every rank must hold the same parameters: the same count and shapes, in the same order.
void check_same_parameters(const std::vector<Tensor>& params) {
  uint64_t fingerprint = mix64(params.size());
  for (const Tensor& p : params)
    for (int64_t d : p.shape()) fingerprint = mix64(fingerprint ^ static_cast<uint64_t>(d));
  const auto all = all_gather(static_cast<int64_t>(fingerprint));
  for (size_t r = 1; r < all.size(); ++r)
    GG_CHECK(all[r] == all[0],
             "data-parallel training: rank {} has other parameters than rank 0 (their count or shapes differ); every "
             "rank must build the same model from the same options and data",
             r);
}

}  // namespace

const char* mode_name(ReduceMode m) { return m == ReduceMode::Exact ? "exact" : "fast"; }

ReduceMode parse_mode(const std::string& name) {
  if (name == "exact") return ReduceMode::Exact;
  if (name == "fast") return ReduceMode::Fast;
  fail("gradient reduction: expected exact or fast, got '{}'", name);
}

struct DataParallel::Bucket {
  enum class State { Waiting, Ready, Copied, Scattering, Gathering, Summing, Done };
  std::vector<size_t> params;    // indices into params_, in the order their gradients are laid out
  std::vector<int64_t> offsets;  // of each of them from `begin`
  int64_t begin = 0, size = 0;   // where the bucket's floats lie in a rank's gradient buffer, how many
  std::vector<int64_t> parts;    // Exact: how many of the bucket's floats each rank owns, in rank order
  std::vector<float> copies;     // Exact over messages: every rank's copy of this rank's part, in rank order
  size_t waiting = 0;            // gradients of this step not yet final
  State state = State::Waiting;
  Request request;

  int64_t part_begin(size_t rank) const {
    int64_t first = 0;
    for (size_t r = 0; r < rank; ++r) first += parts[r];
    return first;
  }
};

DataParallel::DataParallel(std::vector<Tensor> parameters, DataParallelOptions options)
    : params_(std::move(parameters)), options_(options) {
  GG_CHECK(options_.bucket_bytes >= 1, "DataParallel: bucket_bytes must be at least 1, got {}", options_.bucket_bytes);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    GG_CHECK(p.requires_grad() && p.is_leaf() && p.dtype() == DType::Float32 && p.is_contiguous(),
             "DataParallel: parameter {} (shape {}, {}) is not a contiguous float32 leaf that requires grad", i,
             p.shape(), dtype_name(p.dtype()));
  }
  check_same_parameters(params_);
  broadcast_from_rank0(params_);

  // Buckets in reverse parameter order: backward finishes the last layers first.
  bucket_of_.resize(params_.size());
  int64_t total = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    if (buckets_.empty() || static_cast<int64_t>(buckets_.back().size * sizeof(float)) >= options_.bucket_bytes) {
      buckets_.emplace_back();
      buckets_.back().begin = total;
    }
    Bucket& b = buckets_.back();
    b.params.push_back(k);
    b.offsets.push_back(b.size);
    b.size += params_[k].numel();
    total += params_[k].numel();
    bucket_of_[k] = buckets_.size() - 1;
  }
  const int64_t n = world_size();
  for (Bucket& b : buckets_)
    for (int64_t r = 0; r < n; ++r) b.parts.push_back((r + 1) * b.size / n - r * b.size / n);
  // Ranks on one machine add each other's gradients in shared memory; otherwise they travel
  // through MPI (an all-to-all of the parts, an all-gather of their sums).
  if (options_.mode == ReduceMode::Exact) shared_ = SharedSegments::create(total);
  if (!shared_) {
    local_.resize(static_cast<size_t>(total));
    if (options_.mode == ReduceMode::Exact)
      for (Bucket& b : buckets_) b.copies.resize(static_cast<size_t>(n * b.parts[static_cast<size_t>(rank())]));
  }
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].set_grad_ready_hook([this, i] {
      Bucket& b = buckets_[bucket_of_[i]];
      GG_CHECK(b.waiting > 0 && b.state == Bucket::State::Waiting,
               "DataParallel: a second backward reached parameter {} in one step; call begin_step() before each "
               "backward (gradient accumulation over several backwards is not supported)", i);
      if (--b.waiting == 0) ready(bucket_of_[i]);
    });
  begin_step();
}

DataParallel::~DataParallel() {
  for (Tensor& p : params_) p.set_grad_ready_hook({});
}

int64_t DataParallel::bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

int64_t DataParallel::gradient_bytes() const {
  int64_t bytes = 0;
  for (const Bucket& b : buckets_) bytes += b.size * static_cast<int64_t>(sizeof(float));
  return bytes;
}

float* DataParallel::gradients(int rank) { return shared_ ? shared_->segment(rank) : local_.data(); }

void DataParallel::begin_step() {
  for (Bucket& b : buckets_) {
    b.waiting = b.params.size();
    b.state = Bucket::State::Waiting;
  }
  next_start_ = 0;
  times_ = {};
}

// Called from a hook: bucket `index` has all its gradients. It and every ready bucket after it
// start, in order; started ones move on if MPI has finished their current phase.
void DataParallel::ready(size_t index) {
  const auto t0 = Clock::now();
  buckets_[index].state = Bucket::State::Ready;
  while (next_start_ < buckets_.size() && buckets_[next_start_].state == Bucket::State::Ready)
    start(buckets_[next_start_++]);
  for (size_t k = 0; k < next_start_; ++k) {  // second phases, too, start in bucket order
    advance(buckets_[k], /*block=*/false);
    if (buckets_[k].state == Bucket::State::Scattering) break;
  }
  times_.start_seconds += seconds_since(t0);
}

void DataParallel::start(Bucket& b) {
  ProfileScope scope("allreduce start");
  float* flat = gradients(rank()) + b.begin;
  for (size_t j = 0; j < b.params.size(); ++j) {
    const Tensor g = params_[b.params[j]].grad();
    float* out = flat + b.offsets[j];
    const int64_t n = params_[b.params[j]].numel();
    if (!g.defined()) std::fill(out, out + n, 0.0f);  // no path from this rank's loss to the parameter
    else std::memcpy(out, g.contiguous().data<float>(), static_cast<size_t>(n) * sizeof(float));
  }
  const std::span<float> all(flat, static_cast<size_t>(b.size));
  if (shared_) {
    b.state = Bucket::State::Copied;  // summed in finish(), once every rank's copy is in
  } else if (options_.mode == ReduceMode::Exact) {
    b.request = scatter_parts(all, b.copies, b.parts);
    b.state = Bucket::State::Scattering;
  } else {
    b.request = sum_in_place(all);
    b.state = Bucket::State::Summing;
  }
}

namespace {
bool finished(Request& r, bool block) {
  if (!block) return r.done();
  r.wait();
  return true;
}
}  // namespace

// Moves bucket b to its next phase if its current one has finished (block: waits for it).
void DataParallel::advance(Bucket& b, bool block) {
  using State = Bucket::State;
  if (b.state == State::Scattering) {
    if (!finished(b.request, block)) return;
    // This rank's part: every rank's copy, added in rank order.
    const size_t me = static_cast<size_t>(rank()), n = static_cast<size_t>(b.parts[me]);
    float* flat = gradients(rank()) + b.begin;
    float* sum = flat + b.part_begin(me);
    std::copy(b.copies.begin(), b.copies.begin() + static_cast<std::ptrdiff_t>(n), sum);
    for (size_t r = 1; r < b.parts.size(); ++r) {
      const float* copy = b.copies.data() + r * n;
      for (size_t i = 0; i < n; ++i) sum[i] += copy[i];
    }
    b.request = gather_parts({flat, static_cast<size_t>(b.size)}, b.parts);
    b.state = State::Gathering;
  } else if ((b.state == State::Gathering || b.state == State::Summing) && finished(b.request, block)) {
    b.state = State::Done;
  }
}

int64_t DataParallel::finish(int64_t tokens) {
  auto t0 = Clock::now();
  {
    ProfileScope scope("allreduce start");
    for (; next_start_ < buckets_.size(); ++next_start_) start(buckets_[next_start_]);  // gradients no graph reached
  }
  times_.start_seconds += seconds_since(t0);
  t0 = Clock::now();
  const int64_t total = [&] {
    ProfileScope scope("allreduce wait");
    if (shared_) {
      sum_shared();
    } else {
      for (Bucket& b : buckets_) advance(b, /*block=*/true);  // all-to-alls (then the sums' all-gathers start)
      for (Bucket& b : buckets_) advance(b, /*block=*/true);  // all-gathers
    }
    return sum(tokens);
  }();
  times_.wait_seconds = seconds_since(t0);
  GG_CHECK(total > 0, "data-parallel step: the global batch has no target tokens");
  for (const Bucket& b : buckets_)
    for (size_t j = 0; j < b.params.size(); ++j) {
      const Tensor& p = params_[b.params[j]];
      AutogradMeta& meta = *p.autograd_meta;
      const bool reuse = meta.grad.defined() && meta.grad.is_contiguous() && meta.grad.storage().use_count() == 1;
      if (!reuse) meta.grad = Tensor::empty(p.shape());
      copy_sums(b, b.offsets[j], p.numel(), meta.grad.data<float>());
    }
  if (shared_) shared_->barrier();  // no rank writes its next gradients while another still reads these sums
  divide_gradients(params_, total);
  return total;
}

// Exact, in shared memory: each rank adds every rank's copy of its part of each bucket, in rank
// order, reading them in the other ranks' segments, and writes the sum over its own copy.
void DataParallel::sum_shared() {
  shared_->barrier();  // every rank's gradients are in its segment
  const size_t me = static_cast<size_t>(rank());
  const int n = world_size();
  constexpr int64_t block = 1024;  // floats summed at a time, in L1: each loop below vectorizes
  float acc[block];
  for (const Bucket& b : buckets_) {
    const int64_t first = b.begin + b.part_begin(me), count = b.parts[me];
    for (int64_t i = 0; i < count; i += block) {
      const int64_t m = std::min(block, count - i);
      std::copy_n(shared_->segment(0) + first + i, m, acc);
      for (int r = 1; r < n; ++r) {
        const float* copy = shared_->segment(r) + first + i;
        for (int64_t k = 0; k < m; ++k) acc[k] += copy[k];  // ((g0 + g1) + g2) ..., as one process adds them
      }
      std::copy_n(acc, m, shared_->segment(rank()) + first + i);
    }
  }
  shared_->barrier();  // every part's sum is in its owner's segment
}

// The summed floats [from, from + n) of bucket b into out. Over messages the all-gather brought
// them all into this rank's buffer; in shared memory part r of the bucket is in rank r's segment.
void DataParallel::copy_sums(const Bucket& b, int64_t from, int64_t n, float* out) {
  if (!shared_) {
    std::memcpy(out, local_.data() + b.begin + from, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  for (size_t r = 0; r < b.parts.size(); ++r) {
    const int64_t first = b.part_begin(r), lo = std::max(from, first), hi = std::min(from + n, first + b.parts[r]);
    if (lo < hi)
      std::memcpy(out + (lo - from), shared_->segment(static_cast<int>(r)) + b.begin + lo,
                  static_cast<size_t>(hi - lo) * sizeof(float));
  }
}

void broadcast_from_rank0(const std::vector<Tensor>& tensors) {
  for (const Tensor& t : tensors) {
    GG_CHECK(t.is_contiguous(), "broadcast_from_rank0: a tensor of shape {} is not contiguous", t.shape());
    broadcast({static_cast<std::byte*>(t.raw_data()), static_cast<size_t>(t.numel()) * dtype_size(t.dtype())});
  }
}

void divide_gradients(const std::vector<Tensor>& parameters, int64_t tokens) {
  GG_CHECK(tokens > 0, "divide_gradients: tokens must be positive, got {}", tokens);
  for (const Tensor& p : parameters)
    if (p.grad().defined()) kernel::scale(p.grad(), 1.0 / static_cast<double>(tokens));
}

uint64_t step_seed(uint64_t seed, int64_t step, int rank) {
  return mix64(mix64(mix64(seed) ^ static_cast<uint64_t>(step)) ^ static_cast<uint64_t>(rank));
}

}  // namespace gg::dist
