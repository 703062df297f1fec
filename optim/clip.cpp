#include "optim/clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/reduce.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::optim {
namespace {

// sum(g^2) over all of `grads` in one parallel region (a model has dozens of small
// gradients; a region each costs more than their arithmetic), accumulated in double over fixed
// chunks of each gradient and added in order: the same total whatever the thread count. The
// 2-norm's fast path; other norms and strided gradients go op by op.
double sum_of_squares(const std::vector<Tensor>& grads) {
  ProfileScope scope("clip_grad_norm (fused)");
  struct Chunk {
    const Tensor* g;
    int64_t begin, end;
  };
  std::vector<Chunk> chunks;
  int64_t total_size = 0;
  for (const Tensor& g : grads) {
    for (int64_t at = 0; at < g.numel(); at += kParallelGrain)
      chunks.push_back({&g, at, std::min(g.numel(), at + kParallelGrain)});
    total_size += g.numel();
  }
  std::vector<double> partial(chunks.size(), 0.0);
  const auto n = static_cast<int64_t>(chunks.size());
  parallel_for(n, total_size < 2 * kParallelGrain ? std::max<int64_t>(n, 1) : 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const Chunk& k = chunks[static_cast<size_t>(c)];
      visit_floating(k.g->dtype(), "clip_grad_norm_", [&]<class T>() {
        const T* pg = k.g->data<T>();
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = k.begin; i < k.end; ++i) acc += static_cast<double>(pg[i]) * static_cast<double>(pg[i]);
        partial[static_cast<size_t>(c)] = acc;
      });
    }
  });
  double total = 0;
  for (double x : partial) total += x;
  return total;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipOptions& options) {
  GG_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be non-negative, got {}", max_norm);
  NoGradGuard no_grad;
  const bool inf_norm = std::isinf(options.norm_type);
  double total = 0;
  std::vector<Tensor> fast;  // the 2-norm's contiguous float gradients, summed in one region below
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (inf_norm) {
      const double m = max(abs(g)).item<double>();
      if (std::isnan(m) || m > total) total = m;  // keeps a NaN, which std::max(total, m) would drop
    } else if (options.norm_type == 2 && g.is_contiguous() && g.is_floating_point()) {
      fast.push_back(g);
    } else {
      total += sum(pow(abs(g), options.norm_type)).item<double>();
    }
  }
  if (!fast.empty()) total += sum_of_squares(fast);
  if (!inf_norm) total = std::pow(total, 1.0 / options.norm_type);
  if (!std::isfinite(total)) {
    GG_CHECK(!options.error_if_nonfinite,
             "clip_grad_norm_: the total gradient norm is {}, so some gradient holds a NaN or inf; hint: lower the "
             "learning rate, check the loss for log(0) or division by zero, or pass error_if_nonfinite = false",
             total);
    return total;
  }
  const double scale = max_norm / (total + 1e-6);  // torch's clip_coef
  if (scale < 1)
    for (const Tensor& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  GG_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got {}", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace gg::optim
