// Layer normalization over the last n elements of each row, forward and backward
// (autograd/fused_layer_norm.cpp makes them one differentiable op).
//   forward:  m = mean(x), s = 1 / sqrt(mean((x - m)^2) + eps), xhat = (x - m) s, y = xhat w + b
//   backward: g = dy w;  dx = s (g - mean(g) - xhat mean(g xhat));  dw = sum dy xhat;  db = sum dy
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {
namespace {

// One row. Two passes (no cancellation for rows far from zero), the sums in T over SIMD lanes
// as in the backward.
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

// One row of the backward; dw and db (when given) are accumulated into. The row sums are in T:
// a row is a model width (hundreds of values) summed over 8 SIMD lanes. __restrict: the
// pointers never overlap, and without it GCC versions every loop for aliasing.
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

LayerNormOut layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  GG_PROFILE("layer_norm");
  const int64_t N = x.size(0), n = x.size(1);
  LayerNormOut out{Tensor::empty({N, n}, x.dtype()), Tensor::empty({N}, x.dtype()), Tensor::empty({N}, x.dtype())};
  visit_floating(x.dtype(), "layer_norm", [&]<class T>() {
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    const T* pb = b.defined() ? b.data<T>() : nullptr;
    parallel_for(N, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        layer_norm_row(x.data<T>() + r * n, pw, pb, static_cast<T>(eps), out.y.data<T>() + r * n,
                       out.mean.data<T>() + r, out.rstd.data<T>() + r, n);
    });
  });
  return out;
}

LayerNormGrads layer_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Tensor& mean,
                                   const Tensor& rstd, bool affine) {
  GG_PROFILE("layer_norm");
  const int64_t N = x.size(0), n = x.size(1);
  LayerNormGrads grads{Tensor::empty({N, n}, x.dtype()), Tensor(), Tensor()};
  // dw = sum over rows of dy xhat, db = sum over rows of dy: summed in T per block of kBlock
  // rows while the rows are in cache, the blocks then in double and in order (the same total
  // for any thread count), instead of a [N, n] buffer and two column sums afterwards.
  constexpr int64_t kBlock = 32;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  std::vector<double> dw_blocks(affine ? static_cast<size_t>(blocks * n) : 0), db_blocks(dw_blocks.size());
  visit_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    const T* pw = w.defined() ? w.data<T>() : nullptr;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * kBlock, 1));
    parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
      std::vector<T> dw_acc(affine ? static_cast<size_t>(n) : 0), db_acc(dw_acc.size());
      for (int64_t blk = b0; blk < b1; ++blk) {
        std::fill(dw_acc.begin(), dw_acc.end(), T(0));
        std::fill(db_acc.begin(), db_acc.end(), T(0));
        for (int64_t r = blk * kBlock; r < std::min(N, (blk + 1) * kBlock); ++r)
          layer_norm_backward_row(x.data<T>() + r * n, dy.data<T>() + r * n, pw, mean.data<T>()[r],
                                  rstd.data<T>()[r], grads.dx.data<T>() + r * n, affine ? dw_acc.data() : nullptr,
                                  db_acc.data(), n);
        for (size_t j = 0; j < dw_acc.size(); ++j) {
          dw_blocks[static_cast<size_t>(blk * n) + j] = static_cast<double>(dw_acc[j]);
          db_blocks[static_cast<size_t>(blk * n) + j] = static_cast<double>(db_acc[j]);
        }
      }
    });
  });
  if (affine) {  // the blocks' partial sums, in block order
    auto column_total = [&](const std::vector<double>& parts) {
      std::vector<double> total(static_cast<size_t>(n), 0.0);
      for (int64_t blk = 0; blk < blocks; ++blk)
        for (int64_t j = 0; j < n; ++j) total[j] += parts[static_cast<size_t>(blk * n + j)];
      return cast(from_vector(total), x.dtype());
    };
    grads.dweight = column_total(dw_blocks);
    grads.dbias = column_total(db_blocks);
  }
  return grads;
}

}  // namespace gg::kernel
