#pragma once
// One row's softmax, the kernels under kernel::softmax, log_softmax and masked_softmax
// (core/softmax.cpp) and the float64 path of the attention kernels (core/attention_pair.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/fast_math.h"

namespace gg::kernel {

// out[j] = e^(x[j] - mx) / sum_j e^(x[j] - mx); x may be out itself.
template <class T>
void exp_normalize(const T* x, T mx, T* out, int64_t n) {
  double total = 0;  // in double: a float sum of thousands of terms (a vocabulary) drifts
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < n; ++j) {
    out[j] = fast::exp_of(x[j] - mx);
    total += static_cast<double>(out[j]);
  }
  const T inv = static_cast<T>(1.0 / total);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) out[j] *= inv;
}

// One row of n contiguous values: the loops are branch-free with explicit SIMD reductions
// (a float max or sum is not vectorized otherwise: reordering changes rounding and NaN
// propagation), so they run 8 floats at a time with AVX2.
template <bool kLog, class T>
void softmax_row(const T* row, T* out, int64_t n) {
  T mx = row[0];
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; ++j) mx = row[j] > mx ? row[j] : mx;  // (std::max returns a reference: no SIMD)
  if constexpr (kLog) {
    double total = 0;  // in double, as in exp_normalize
#pragma omp simd reduction(+ : total)
    for (int64_t j = 0; j < n; ++j) total += static_cast<double>(fast::exp_of(row[j] - mx));
    // (x - max) - log(total): folding max into log(total) first would round it to max's ulp.
    const T log_total = static_cast<T>(std::log(total));
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) out[j] = (row[j] - mx) - log_total;
  } else {
    exp_normalize(row, mx, out, n);
  }
}

// One row with its mask (true = masked key): masked keys become -inf, whose exp is exactly 0
// (fast::exp and std::exp both return 0 for -inf); a row with every key masked is all zeros.
// Three passes, each a SIMD loop: the select reads the mask as bytes and both operands
// unconditionally, and the max is a plain comparison (with `m[j] ? -inf : row[j]` GCC loads
// row[j] only under the condition, and std::max returns a reference: both loops ran one
// element at a time). An attention head's row is short (often 16 keys), so per-row work is
// what it costs.
template <class T>
void masked_softmax_row(const T* __restrict row, const bool* __restrict m, T* __restrict out, int64_t n) {
  constexpr T kLow = -std::numeric_limits<T>::infinity();
  const auto* masked = reinterpret_cast<const uint8_t*>(m);
  T mx = kLow;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; ++j) {
    const T x = row[j];
    const T y = masked[j] != 0 ? kLow : x;
    out[j] = y;
    mx = y > mx ? y : mx;
  }
  if (mx == kLow && std::find(m, m + n, false) == m + n) {  // every key masked
    std::fill(out, out + n, T(0));
    return;
  }
  exp_normalize(out, mx, out, n);
}

}  // namespace gg::kernel
