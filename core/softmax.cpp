// softmax and log_softmax along any dim, numerically stable: the row max is subtracted
// before exponentiating, so exp never overflows.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/fast_math.h"
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
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        const T* row = px + base;
        T* orow = po + base;
        T mx = row[0];
        for (int64_t j = 1; j < n; ++j) mx = std::max(mx, row[j * inner]);
        double total = 0;
        for (int64_t j = 0; j < n; ++j) {
          T e = fast::exp_of(row[j * inner] - mx);
          total += e;
          if constexpr (!kLog) orow[j * inner] = e;
        }
        if constexpr (kLog) {
          // (x - max) - log(total): folding max into log(total) first would round it to max's ulp.
          const T log_total = static_cast<T>(std::log(total));
          for (int64_t j = 0; j < n; ++j) orow[j * inner] = (row[j * inner] - mx) - log_total;
        } else {
          const T inv = static_cast<T>(1.0 / total);
          for (int64_t j = 0; j < n; ++j) orow[j * inner] *= inv;
        }
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
        T total = 0;
        for (int64_t j = 0; j < n; ++j) total += kLog ? gr[j * inner] : gr[j * inner] * yr[j * inner];
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

Tensor masked_softmax(const Tensor& x_in, const Tensor& mask) {
  GG_PROFILE("masked_softmax");
  GG_CHECK(x_in.defined() && x_in.is_floating_point() && x_in.dim() >= 1,
           "masked_softmax: the scores must be a float tensor of at least one dim, got {}", x_in.shape());
  GG_CHECK(mask.defined() && mask.dtype() == DType::Bool && mask.dim() <= x_in.dim() &&
               broadcast_shapes(x_in.shape(), mask.shape(), "masked_softmax") == x_in.shape(),
           "masked_softmax: the mask must be bool and broadcast to the scores' shape {}, got {} {}", x_in.shape(),
           mask.defined() ? dtype_name(mask.dtype()) : "undefined", mask.shape());
  const Tensor x = contiguous(x_in);
  Tensor out = empty_like(x);
  if (x.numel() == 0) return out;
  const Shape& shape = x.shape();
  const int64_t n = shape.back(), rows = x.numel() / n, dims = x.dim();
  // The mask read as if expanded to the scores' shape: stride 0 where it broadcasts.
  const Strides ms = broadcast_strides(mask.shape(), mask.strides(), shape);
  const bool* pm = mask.data<bool>();
  visit_floating(x.dtype(), "masked_softmax", [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t moff = 0;  // the mask's offset for row r: its index in every leading dim
        for (int64_t i = dims - 2, rest = r; i >= 0; --i) {
          moff += (rest % shape[i]) * ms[i];
          rest /= shape[i];
        }
        const bool* m = pm + moff;
        const int64_t mstep = ms[dims - 1];
        const T* row = px + r * n;
        T* orow = po + r * n;
        T mx = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < n; ++j)
          if (!m[j * mstep]) mx = std::max(mx, row[j]);
        if (mx == -std::numeric_limits<T>::infinity()) {  // every key masked (or -inf): a zero row
          std::fill(orow, orow + n, T(0));
          continue;
        }
        double total = 0;
        for (int64_t j = 0; j < n; ++j) {
          const T e = m[j * mstep] ? T(0) : fast::exp_of(row[j] - mx);
          total += e;
          orow[j] = e;
        }
        const T inv = static_cast<T>(1.0 / total);
        for (int64_t j = 0; j < n; ++j) orow[j] *= inv;
      }
    });
  });
  return out;
}

}  // namespace gg::kernel
