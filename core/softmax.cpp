// softmax and log_softmax along any dim, numerically stable: the row max is subtracted
// before exponentiating, so exp never overflows.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/fast_math.h"
#include "core/softmax_row.h"
#include "core/kernels.h"
#include "core/profiler.h"
#include "core/parallel.h"

namespace gg::kernel {
namespace {

template <bool kLog>
Tensor softmax_impl(const Tensor& x_in, int64_t dim, std::string_view op) {
  GG_PROFILE(op);
  GG_CHECK(x_in.defined(), "{}: the input tensor is undefined", op);
  const int64_t d = wrap_dim(dim, x_in.dim(), op);
  const Tensor x = contiguous(x_in);
  Tensor out = empty_like(x);
  if (x.numel() == 0) return out;
  // View x as [outer, n, inner]: the softmax runs over n, with stride `inner`.
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[d];
  int64_t inner = 1;
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const int64_t rows = x.numel() / n;
  visit_floating(x.dtype(), op, [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t begin, int64_t end) {
      if (inner == 1) {  // the last dim: contiguous rows
        for (int64_t r = begin; r < end; ++r) softmax_row<kLog>(px + r * n, po + r * n, n);
        return;
      }
      std::vector<T> buf(static_cast<size_t>(2 * n));  // a strided row, gathered and scattered
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        for (int64_t j = 0; j < n; ++j) buf[j] = px[base + j * inner];
        softmax_row<kLog>(buf.data(), buf.data() + n, n);
        for (int64_t j = 0; j < n; ++j) po[base + j * inner] = buf[n + j];
      }
    });
  });
  return out;
}

// The backward passes, y the forward's output, over the same [outer, n, inner] view:
//   softmax:     dx_j = y_j * (dy_j - sum_k dy_k y_k)
//   log_softmax: dx_j = dy_j - exp(y_j) * sum_k dy_k
template <bool kLog>
Tensor softmax_backward_impl(const Tensor& y_in, const Tensor& dy_in, int64_t dim, std::string_view op) {
  GG_PROFILE(op);
  GG_CHECK(y_in.shape() == dy_in.shape() && y_in.dtype() == dy_in.dtype(),
           "{}: the output {} {} and its gradient {} {} must match", op, dtype_name(y_in.dtype()), y_in.shape(),
           dtype_name(dy_in.dtype()), dy_in.shape());
  const int64_t d = wrap_dim(dim, y_in.dim(), op);
  const Tensor y = contiguous(y_in), dy = contiguous(dy_in);
  Tensor dx = empty_like(y);
  if (y.numel() == 0) return dx;
  const int64_t n = y.dim() == 0 ? 1 : y.shape()[d];
  int64_t inner = 1;
  for (int64_t i = d + 1; i < y.dim(); ++i) inner *= y.shape()[i];
  const int64_t rows = y.numel() / n;
  visit_floating(y.dtype(), op, [&]<class T>() {
    const T* py = y.data<T>();
    const T* pg = dy.data<T>();
    T* pd = dx.data<T>();
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        const T* yr = py + base;
        const T* gr = pg + base;
        T* dr = pd + base;
        double sum = 0;
        if (inner == 1) {  // contiguous rows: SIMD loops
          if constexpr (kLog) {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(gr[j]);
            const T total = static_cast<T>(sum);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) dr[j] = gr[j] - fast::exp_of(yr[j]) * total;
          } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(gr[j] * yr[j]);
            const T total = static_cast<T>(sum);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - total);
          }
          continue;
        }
        for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(kLog ? gr[j * inner] : gr[j * inner] * yr[j * inner]);
        const T total = static_cast<T>(sum);
        for (int64_t j = 0; j < n; ++j) {
          const int64_t k = j * inner;
          if constexpr (kLog) dr[k] = gr[k] - fast::exp_of(yr[k]) * total;
          else dr[k] = yr[k] * (gr[k] - total);
        }
      }
    });
  });
  return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl<false>(x, dim, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl<true>(x, dim, "log_softmax"); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl<false>(y, dy, dim, "softmax");
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim) {
  return softmax_backward_impl<true>(y, dy, dim, "log_softmax");
}

Tensor masked_softmax(const Tensor& x_in, const Tensor& mask_in) {
  GG_PROFILE("masked_softmax");
  GG_CHECK(x_in.defined() && x_in.is_floating_point() && x_in.dim() >= 1,
           "masked_softmax: the scores must be a float tensor of at least one dim, got {}", x_in.shape());
  GG_CHECK(mask_in.defined() && mask_in.dtype() == DType::Bool && mask_in.dim() <= x_in.dim() &&
               broadcast_shapes(x_in.shape(), mask_in.shape(), "masked_softmax") == x_in.shape(),
           "masked_softmax: the mask must be bool and broadcast to the scores' shape {}, got {} {}", x_in.shape(),
           mask_in.defined() ? dtype_name(mask_in.dtype()) : "undefined", mask_in.shape());
  const Tensor x = contiguous(x_in);
  Tensor out = empty_like(x);
  if (x.numel() == 0) return out;
  const Shape& shape = x.shape();
  const int64_t n = shape.back(), rows = x.numel() / n, dims = x.dim();
  // The rows below read a row's mask with stride 1 (or one value for the row): any other
  // layout (a transposed mask) is copied first.
  const bool strided_rows = broadcast_strides(mask_in.shape(), mask_in.strides(), shape).back() > 1;
  const Tensor mask = strided_rows ? contiguous(mask_in) : mask_in;
  // The mask read as if expanded to the scores' shape: stride 0 where it broadcasts.
  const Strides ms = broadcast_strides(mask.shape(), mask.strides(), shape);
  const bool* pm = mask.data<bool>();
  visit_floating(x.dtype(), "masked_softmax", [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t begin, int64_t end) {
      // Row r's index in the leading dims, and the mask's offset there; both advance by one row
      // at a time with a carry, like an odometer.
      std::vector<int64_t> idx(static_cast<size_t>(dims), 0);
      int64_t moff = 0;
      for (int64_t i = dims - 2, rest = begin; i >= 0; --i) {
        idx[i] = rest % shape[i];
        rest /= shape[i];
        moff += idx[i] * ms[i];
      }
      for (int64_t r = begin; r < end; ++r) {
        if (r > begin) {
          for (int64_t i = dims - 2; i >= 0; --i) {
            moff += ms[i];
            if (++idx[i] < shape[i]) break;
            moff -= idx[i] * ms[i];
            idx[i] = 0;
          }
        }
        masked_softmax_row(px + r * n, reinterpret_cast<const uint8_t*>(pm + moff), ms[dims - 1], po + r * n, n);
      }
    });
  });
  return out;
}

}  // namespace gg::kernel
