// The fused layer norm and its backward node (see autograd/fused_layer_norm.h).
#include "autograd/fused_layer_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {
namespace {

// One row: m = mean(x), s = 1 / sqrt(mean((x - m)^2) + eps), y = (x - m) s w + b. Two passes
// (no cancellation for rows far from zero), the sums in T over SIMD lanes as in the backward.
template <class T>
void layer_norm_row(const T* __restrict x, const T* __restrict w, const T* __restrict b, T eps, T* __restrict y,
                    T* __restrict mean, T* __restrict rstd, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += x[j];
  const T m = sum / static_cast<T>(n);
  T sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) sq += (x[j] - m) * (x[j] - m);
  const T s = T(1) / std::sqrt(sq / static_cast<T>(n) + eps);
  *mean = m;
  *rstd = s;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T xh = (x[j] - m) * s;
    y[j] = (w ? xh * w[j] : xh) + (b ? b[j] : T(0));
  }
}

// One row of the backward, g = dy w, xhat = (x - m) s:
//   dx = s (g - mean(g) - xhat mean(g xhat));   dw += dy xhat, db += dy (when dw is given)
// The row sums are in T: a row is a model width (hundreds of values) summed over 8 SIMD lanes.
// __restrict: the pointers never overlap, and without it GCC versions every loop for aliasing.
template <class T>
void layer_norm_backward_row(const T* __restrict x, const T* __restrict dy, const T* __restrict w, T m, T s,
                             T* __restrict dx, T* __restrict dw, T* __restrict db, int64_t n) {
  T sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
  for (int64_t j = 0; j < n; ++j) {
    const T gj = w ? dy[j] * w[j] : dy[j];
    sum_g += gj;
    sum_gx += gj * ((x[j] - m) * s);
  }
  if (dw) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      dw[j] += dy[j] * ((x[j] - m) * s);
      db[j] += dy[j];
    }
  }
  const T mean_g = sum_g / static_cast<T>(n), mean_gx = sum_gx / static_cast<T>(n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T gj = w ? dy[j] * w[j] : dy[j];
    dx[j] = s * (gj - mean_g - (x[j] - m) * s * mean_gx);
  }
}

}  // namespace

struct LayerNormBackward : Node {
  SavedTensor x{this}, w{this}, mean{this}, rstd{this};  // x as [N, n]; mean, rstd [N]
  bool has_weight = false;
  std::string name() const override { return "LayerNormBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor xs = x(), mu = mean(), rs = rstd();
    const Tensor ws = has_weight ? w() : Tensor();
    const int64_t N = xs.size(0), n = xs.size(1);
    const Tensor dy = kernel::view(kernel::contiguous(dy_in), {N, n});
    Tensor dx = Tensor::empty({N, n}, xs.dtype());
    // dw = sum over rows of dy * xhat, db = sum over rows of dy: summed in T per block of
    // kBlock rows while the rows are in cache, the blocks then in double and in order (the same
    // total for any thread count), instead of a [N, n] buffer and two column sums afterwards.
    constexpr int64_t kBlock = 32;
    const int64_t blocks = (N + kBlock - 1) / kBlock;
    const bool affine = needs_grad(1) || needs_grad(2);
    std::vector<double> dw_blocks(affine ? static_cast<size_t>(blocks * n) : 0), db_blocks(dw_blocks.size());
    ProfileScope scope("layer_norm");
    visit_floating(xs.dtype(), "LayerNormBackward", [&]<class T>() {
      const T* pw = ws.defined() ? ws.data<T>() : nullptr;
      parallel_for(blocks, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * kBlock, 1)), [&](int64_t b0, int64_t b1) {
        std::vector<T> dw_acc(affine ? static_cast<size_t>(n) : 0), db_acc(dw_acc.size());
        for (int64_t blk = b0; blk < b1; ++blk) {
          std::fill(dw_acc.begin(), dw_acc.end(), T(0));
          std::fill(db_acc.begin(), db_acc.end(), T(0));
          for (int64_t r = blk * kBlock; r < std::min(N, (blk + 1) * kBlock); ++r)
            layer_norm_backward_row(xs.data<T>() + r * n, dy.data<T>() + r * n, pw, mu.data<T>()[r], rs.data<T>()[r],
                                    dx.data<T>() + r * n, affine ? dw_acc.data() : nullptr, db_acc.data(), n);
          for (size_t j = 0; j < dw_acc.size(); ++j) {
            dw_blocks[static_cast<size_t>(blk * n) + j] = static_cast<double>(dw_acc[j]);
            db_blocks[static_cast<size_t>(blk * n) + j] = static_cast<double>(db_acc[j]);
          }
        }
      });
    });
    // The blocks' partial sums, in block order.
    auto column_total = [&](const std::vector<double>& parts, size_t input) {
      if (!needs_grad(input)) return Tensor();
      std::vector<double> total(static_cast<size_t>(n), 0.0);
      for (int64_t blk = 0; blk < blocks; ++blk)
        for (int64_t j = 0; j < n; ++j) total[j] += parts[static_cast<size_t>(blk * n + j)];
      return kernel::view(kernel::cast(from_vector(total), xs.dtype()), inputs[input].shape);
    };
    return {needs_grad(0) ? kernel::view(dx, inputs[0].shape) : Tensor(), column_total(dw_blocks, 1),
            column_total(db_blocks, 2)};
  }
};

Tensor layer_norm_fused(const Tensor& x, int64_t n, const Tensor& weight, const Tensor& bias, double eps) {
  GG_CHECK(x.defined() && x.is_floating_point(), "layer_norm_fused: x must be a float tensor");
  GG_CHECK(n >= 1 && x.numel() % n == 0, "layer_norm_fused: {} elements per row do not divide x of shape {}", n, x.shape());
  for (const Tensor* t : {&weight, &bias})
    GG_CHECK(!t->defined() || (t->numel() == n && t->dtype() == x.dtype()),
             "layer_norm_fused: weight and bias must have {} {} elements, got {} of shape {}", n, dtype_name(x.dtype()),
             dtype_name(t->dtype()), t->shape());
  const int64_t N = x.numel() / n;
  const Tensor xs = kernel::view(kernel::contiguous(x), {N, n});
  const Tensor w = weight.defined() ? kernel::contiguous(weight) : Tensor(), b = bias.defined() ? kernel::contiguous(bias) : Tensor();
  Tensor y = Tensor::empty({N, n}, x.dtype()), mean = Tensor::empty({N}, x.dtype()), rstd = Tensor::empty({N}, x.dtype());
  {
    ProfileScope scope("layer_norm");
    visit_floating(x.dtype(), "layer_norm_fused", [&]<class T>() {
      const T* pw = w.defined() ? w.data<T>() : nullptr;
      const T* pb = b.defined() ? b.data<T>() : nullptr;
      parallel_for(N, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          layer_norm_row(xs.data<T>() + r * n, pw, pb, static_cast<T>(eps), y.data<T>() + r * n, mean.data<T>() + r,
                         rstd.data<T>() + r, n);
      });
    });
  }
  y = kernel::view(y, x.shape());
  if (needs_grad(x, weight, bias)) {
    auto node = std::make_shared<LayerNormBackward>();
    node->x = xs;
    if (w.defined()) {
      node->w = w;
      node->has_weight = true;
    }
    node->mean = mean;
    node->rstd = rstd;
    attach(y, node, {x, weight, bias});
  }
  return y;
}

}  // namespace gg
