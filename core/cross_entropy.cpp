// Cross-entropy rows: log-softmax and the negative log-likelihood in one pass over each row
// of logits, forward and backward (autograd/loss.cpp makes them one differentiable op).
//   forward:  loss_n = (1 - eps) (lse_n - x[n, y_n]) + eps (lse_n - mean_c x[n, c])
//   backward: dx[n, c] = w_n (softmax(x_n)_c - (1 - eps) [c == y_n] - eps / C)
#include <algorithm>
#include <cmath>

#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {

CrossEntropyRows cross_entropy(const Tensor& x, const Tensor& y, int64_t ignore_index, double eps) {
  GG_PROFILE("cross_entropy");
  const int64_t N = x.size(0), C = x.size(1);
  CrossEntropyRows out{Tensor::empty({N}, x.dtype()), Tensor::empty({N}, x.dtype()), 0};
  const int64_t* py = y.data<int64_t>();
  for (int64_t n = 0; n < N; ++n) {
    if (py[n] == ignore_index) continue;
    GG_CHECK(py[n] >= 0 && py[n] < C,
             "cross_entropy: target {} at position {} is out of range for {} classes; hint: a token id beyond the "
             "vocabulary, or padding that should be passed as ignore_index",
             py[n], n, C);
    ++out.counted;
  }
  visit_floating(x.dtype(), "cross_entropy", [&]<class T>() {
    const T* px = x.data<T>();
    T* pl = out.lse.data<T>();
    T* pout = out.losses.data<T>();
    parallel_for(N, std::max<int64_t>(1, kParallelGrain / C), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        if (py[n] == ignore_index) {  // padding: no loss, no gradient, nothing to compute
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
        // converting every term to double, which takes as long as the exponentials.
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
  return out;
}

Tensor cross_entropy_backward(const Tensor& x, const Tensor& y, const Tensor& lse, const std::vector<double>& w,
                              double eps) {
  GG_PROFILE("cross_entropy");
  const int64_t N = x.size(0), C = x.size(1);
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  const int64_t* py = y.data<int64_t>();
  visit_floating(x.dtype(), "cross_entropy_backward", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pl = lse.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(N, std::max<int64_t>(1, kParallelGrain / C), [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        T* row = pdx + n * C;
        if (w[n] == 0) {  // an ignored target, or no gradient for this row
          std::fill(row, row + C, T(0));
          continue;
        }
        // row = w_n exp(x - lse_n) - w_n eps / C, then the target's share.
        const T wt = static_cast<T>(w[n]), floor = static_cast<T>(eps / static_cast<double>(C));
        fast::scaled_exp(px + n * C, pl[n], wt, floor, row, C);
        row[py[n]] -= static_cast<T>(w[n] * (1.0 - eps));
      }
    });
  });
  return dx;
}

}  // namespace gg::kernel
