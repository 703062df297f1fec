#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/reduce.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::optim {
namespace {

// sum(g^2) in one pass, accumulated in double over fixed chunks: the same total whatever the
// thread count. The 2-norm's fast path; other norms and strided gradients go op by op.
double sum_of_squares(const Tensor& g) {
  ProfileScope scope("clip_grad_norm (fused)");
  const int64_t n = g.numel(), chunk = kParallelGrain, chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  visit_floating(g.dtype(), "clip_grad_norm_", [&]<class T>() {
    const T* pg = g.data<T>();
    parallel_for(chunks, 2, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0;
        const int64_t end = std::min(n, (c + 1) * chunk);
#pragma omp simd reduction(+ : acc)
        for (int64_t i = c * chunk; i < end; ++i) acc += static_cast<double>(pg[i]) * static_cast<double>(pg[i]);
        partial[static_cast<size_t>(c)] = acc;
      }
    });
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
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (inf_norm) {
      const double m = max(abs(g)).item<double>();
      if (std::isnan(m) || m > total) total = m;  // keeps a NaN, which std::max(total, m) would drop
    } else if (options.norm_type == 2 && g.is_contiguous() && g.is_floating_point()) {
      total += sum_of_squares(g);
    } else {
      total += sum(pow(abs(g), options.norm_type)).item<double>();
    }
  }
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
