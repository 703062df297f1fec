// Fused cross-entropy: log-softmax and the negative log-likelihood in one pass over the
// logits, skipping ignored (padding) targets. Its composed twin is
// nn::functional::cross_entropy_composed; tests/nn check that the two agree.
#include "autograd/loss.h"

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {
namespace {

struct Rows {
  int64_t n = 0, classes = 0;
};

Rows check_cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  GG_CHECK(logits.defined() && target.defined(), "cross_entropy: an input tensor is undefined");
  GG_CHECK(logits.is_floating_point(), "cross_entropy: logits must be float, got {}", dtype_name(logits.dtype()));
  GG_CHECK(target.dtype() == DType::Int64,
           "cross_entropy: targets must be int64 class ids, got {} of shape {}; hint: convert with "
           ".to(gg::DType::Int64)",
           dtype_name(target.dtype()), target.shape());
  GG_CHECK(logits.dim() >= 1, "cross_entropy: logits need a class dim, got shape {}", logits.shape());
  Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  GG_CHECK(target.shape() == lead,
           "cross_entropy: logits of shape {} need targets of shape {} (classes on the last dim), got {}",
           logits.shape(), lead, target.shape());
  GG_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0,
           "cross_entropy: label_smoothing must be in [0, 1], got {}", o.label_smoothing);
  return {target.numel(), logits.size(-1)};
}

}  // namespace

// forward: loss_n = (1 - eps) (lse_n - x[n, y_n]) + eps (lse_n - mean_c x[n, c])
// backward: dx[n, c] = w_n (softmax(x_n)_c - (1 - eps) [c == y_n] - eps / C), w_n = 0 where y_n is ignored
struct CrossEntropyBackward : Node {
  SavedTensor logits{this}, target{this}, lse{this};  // logits [N, C], target [N], lse [N]
  CrossEntropyOptions options;
  int64_t counted = 0;  // targets not ignored
  std::string name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    GG_PROFILE("cross_entropy");
    const Tensor& x = logits();
    const int64_t N = x.size(0), C = x.size(1);
    const Tensor dy = kernel::contiguous(dy_in.reshape({-1}));
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    const int64_t* y = target().data<int64_t>();
    const double eps = options.label_smoothing;
    visit_floating(x.dtype(), "cross_entropy", [&]<class T>() {
      const T* px = x.data<T>();
      const T* pl = lse().data<T>();
      const T* pdy = dy.data<T>();
      T* pdx = dx.data<T>();
      parallel_for(N, std::max<int64_t>(1, kParallelGrain / C), [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
          T* row = pdx + n * C;
          double w = 0;
          if (y[n] != options.ignore_index) {
            w = options.reduction == Reduction::None ? static_cast<double>(pdy[n])
                : options.reduction == Reduction::Sum ? static_cast<double>(pdy[0])
                                                      : static_cast<double>(pdy[0]) / static_cast<double>(counted);
          }
          if (w == 0) {
            std::fill(row, row + C, T(0));
            continue;
          }
          const T wt = static_cast<T>(w), floor = static_cast<T>(eps / static_cast<double>(C)), l = pl[n];
          const T* xr = px + n * C;
          fast::scaled_exp(xr, l, wt, floor, row, C);
          row[y[n]] -= static_cast<T>(w * (1.0 - eps));
        }
      });
    });
    return {dx.reshape(inputs[0].shape), Tensor()};
  }
};

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target_in, const CrossEntropyOptions& options) {
  GG_PROFILE("cross_entropy");
  const Rows r = check_cross_entropy(logits_in, target_in, options);
  const int64_t N = r.n, C = r.classes;
  const Tensor x = kernel::contiguous(logits_in).view({N, C});
  const Tensor y = kernel::contiguous(target_in).view({N});
  Tensor lse = Tensor::empty({N}, x.dtype());
  Tensor losses = Tensor::empty({N}, x.dtype());
  int64_t counted = 0;
  const int64_t* py = y.data<int64_t>();
  for (int64_t n = 0; n < N; ++n) {
    if (py[n] == options.ignore_index) continue;
    GG_CHECK(py[n] >= 0 && py[n] < C,
             "cross_entropy: target {} at position {} is out of range for {} classes; hint: a token id beyond the "
             "vocabulary, or padding that should be passed as ignore_index",
             py[n], n, C);
    ++counted;
  }
  const double eps = options.label_smoothing;
  visit_floating(x.dtype(), "cross_entropy", [&]<class T>() {
    const T* px = x.data<T>();
    T* pl = lse.data<T>();
    T* pout = losses.data<T>();
    parallel_for(N, std::max<int64_t>(1, kParallelGrain / C), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        if (py[n] == options.ignore_index) {  // padding: no loss, no gradient, nothing to compute
          pl[n] = T(0);
          pout[n] = T(0);
          continue;
        }
        const T* row = px + n * C;
        T mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int64_t c = 1; c < C; ++c) mx = row[c] > mx ? row[c] : mx;
        // Summed in T over blocks of kBlock classes (8 SIMD lanes of 32 terms each in float32),
        // the blocks in double: as accurate as a double sum for any vocabulary, without
        // converting every term to double, which took as long as the exponentials.
        constexpr int64_t kBlock = 256;
        double total = 0, sum = 0;
        for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
          const int64_t c1 = std::min(C, c0 + kBlock);
          total += static_cast<double>(fast::sum_exp(row + c0, mx, c1 - c0));
          if (eps > 0) {  // the mean logit, for label smoothing
            T logits = 0;
#pragma omp simd reduction(+ : logits)
            for (int64_t c = c0; c < c1; ++c) logits += row[c];
            sum += static_cast<double>(logits);
          }
        }
        const double l = std::log(total) + static_cast<double>(mx);
        pl[n] = static_cast<T>(l);
        const double nll = l - static_cast<double>(row[py[n]]);
        const double smooth = eps > 0 ? l - sum / static_cast<double>(C) : 0.0;
        pout[n] = static_cast<T>((1.0 - eps) * nll + eps * smooth);
      }
    });
  });
  Tensor out;
  if (options.reduction == Reduction::None) {
    out = kernel::view(losses, target_in.shape());
  } else {
    out = kernel::sum(losses, {}, false);
    if (options.reduction == Reduction::Mean) kernel::scale(out, counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0);
  }
  if (needs_grad(logits_in)) {
    auto node = std::make_shared<CrossEntropyBackward>();
    node->logits = x;
    node->target = y;
    node->lse = lse;
    node->options = options;
    node->counted = counted;
    attach(out, node, {logits_in, target_in});
  }
  return out;
}

}  // namespace gg
