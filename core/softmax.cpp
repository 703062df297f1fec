// softmax and log_softmax along any dim, numerically stable: the row max is subtracted
// before exponentiating, so exp never overflows.
#include <cmath>

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

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl<false>(x, dim, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl<true>(x, dim, "log_softmax"); }

}  // namespace gg::kernel
