// The fused layer norm and its backward node (see autograd/fused_layer_norm.h).
#include "autograd/fused_layer_norm.h"

#include <cmath>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {

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
    // dw = sum over rows of dy * xhat, db = sum over rows of dy: summed in double per block of
    // kBlock rows while the rows are in cache, then the blocks in order (the same total for any
    // thread count), instead of a [N, n] buffer and two column sums afterwards.
    constexpr int64_t kBlock = 32;
    const int64_t blocks = (N + kBlock - 1) / kBlock;
    const bool affine = needs_grad(1) || needs_grad(2);
    std::vector<double> dw_blocks(affine ? static_cast<size_t>(blocks * n) : 0), db_blocks(dw_blocks.size());
    ProfileScope scope("layer_norm");
    visit_floating(xs.dtype(), "LayerNormBackward", [&]<class T>() {
      const T* pw = ws.defined() ? ws.data<T>() : nullptr;
      parallel_for(blocks, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * kBlock, 1)), [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
          double* dwb = affine ? &dw_blocks[static_cast<size_t>(blk * n)] : nullptr;
          double* dbb = affine ? &db_blocks[static_cast<size_t>(blk * n)] : nullptr;
          for (int64_t r = blk * kBlock; r < std::min(N, (blk + 1) * kBlock); ++r) {
            const T* xr = xs.data<T>() + r * n;
            const T* g = dy.data<T>() + r * n;
            T* d = dx.data<T>() + r * n;
            const T m = mu.data<T>()[r], s = rs.data<T>()[r];
            double sum_g = 0, sum_gx = 0;  // mean(g) and mean(g xhat), g = dy w
#pragma omp simd reduction(+ : sum_g, sum_gx)
            for (int64_t j = 0; j < n; ++j) {
              const T gj = pw ? g[j] * pw[j] : g[j];
              const T xh = (xr[j] - m) * s;
              sum_g += static_cast<double>(gj);
              sum_gx += static_cast<double>(gj * xh);
            }
            if (affine) {
#pragma omp simd
              for (int64_t j = 0; j < n; ++j) {
                dwb[j] += static_cast<double>(g[j] * ((xr[j] - m) * s));
                dbb[j] += static_cast<double>(g[j]);
              }
            }
            const T mean_g = static_cast<T>(sum_g / static_cast<double>(n)), mean_gx = static_cast<T>(sum_gx / static_cast<double>(n));
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
              const T gj = pw ? g[j] * pw[j] : g[j];
              d[j] = s * (gj - mean_g - (xr[j] - m) * s * mean_gx);
            }
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
        for (int64_t r = r0; r < r1; ++r) {
          const T* xr = xs.data<T>() + r * n;
          double sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(xr[j]);
          const double m = sum / static_cast<double>(n);
          double sq = 0;  // two passes: no cancellation for rows far from zero
#pragma omp simd reduction(+ : sq)
          for (int64_t j = 0; j < n; ++j) sq += (static_cast<double>(xr[j]) - m) * (static_cast<double>(xr[j]) - m);
          const T mt = static_cast<T>(m), s = static_cast<T>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
          mean.data<T>()[r] = mt;
          rstd.data<T>()[r] = s;
          T* yr = y.data<T>() + r * n;
          for (int64_t j = 0; j < n; ++j) {
            const T xh = (xr[j] - mt) * s;
            yr[j] = (pw ? xh * pw[j] : xh) + (pb ? pb[j] : T(0));
          }
        }
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
