#pragma once
// One row's softmax: the kernels under kernel::softmax, log_softmax and masked_softmax
// (core/softmax.cpp) and under the attention pairs (core/attention_pair.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

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

// Functions taking an 8-float vector: see core/fast_math.h on -Wpsabi.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// One row of attention weights, the kernel under masked_softmax (core/softmax.cpp) and the
// attention pairs (core/attention_pair.h): out[j] = softmax over the visible keys of
// scale * x[j], where m[j * m_stride] != 0 masks key j (m_stride 0: one value masks the whole
// row or none of it; m null: every key is visible). Masked keys become -inf, whose exp is
// exactly 0; a row with every key masked is all zeros. x may be out itself.
//
// float32 runs on explicit 8-float vectors, the row's tail (n % 8) through a zero-padded
// vector: an attention row is short (often 16 keys), so per-row overhead is what it costs,
// and loops left to the compiler peel scalar iterations to align and run a masked max one
// element at a time. Its sum is over 8 float lanes; float64's is a plain sum.
template <class T>
void masked_softmax_row(const T* x, const uint8_t* m, int64_t m_stride, T* out, int64_t n, T scale = 1) {
  if (m && m_stride == 0) {
    if (*m) {
      std::fill(out, out + n, T(0));
      return;
    }
    m = nullptr;
  }
  // Every key masked: the max is -inf (a finite max means some key is visible), then check.
  auto all_masked = [&](T mx) {
    return mx == -std::numeric_limits<T>::infinity() && (n == 0 || (m && std::find(m, m + n, uint8_t{0}) == m + n));
  };
  if constexpr (std::is_same_v<T, float>) {
    using fast::float8;
    using fast::int32x8;
    typedef uint8_t bytes8 __attribute__((vector_size(8)));
    const float8 low = float8{} - std::numeric_limits<float>::infinity();
    const int32x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const int64_t whole = n - n % 8;  // [whole, n) is the tail, read and written element-wise
    auto load = [&](const float* p, int64_t j) {
      float8 v{};
      std::memcpy(&v, p + j, j < whole ? sizeof v : sizeof(float) * static_cast<size_t>(n - j));
      return v;
    };
    auto store = [&](float* p, int64_t j, float8 v) {
      std::memcpy(p + j, &v, j < whole ? sizeof v : sizeof(float) * static_cast<size_t>(n - j));
    };
    float8 mx = low;
    for (int64_t j = 0; j < n; j += 8) {  // out = scale * x; masked keys and the tail -inf
      int32x8 hide = lane + static_cast<int32_t>(j) >= static_cast<int32_t>(n);
      if (m) {
        bytes8 mb{};
        std::memcpy(&mb, m + j, j < whole ? sizeof mb : static_cast<size_t>(n - j));
        hide |= __builtin_convertvector(mb, int32x8) != 0;
      }
      const float8 v = hide ? low : load(x, j) * scale;
      store(out, j, v);
      mx = v > mx ? v : mx;
    }
    mx = fast::across_lanes(mx, [](float8 a, float8 b) { return a > b ? a : b; });
    if (all_masked(mx[0])) {
      std::fill(out, out + n, 0.0f);
      return;
    }
    float8 total{};
    for (int64_t j = 0; j < n; j += 8) {
      const int32x8 tail = lane + static_cast<int32_t>(j) >= static_cast<int32_t>(n);
      const float8 e = tail ? float8{} : fast::exp(load(out, j) - mx);
      store(out, j, e);
      total += e;
    }
    const float8 inv = 1.0f / fast::across_lanes(total, [](float8 a, float8 b) { return a + b; });
    for (int64_t j = 0; j < n; j += 8) store(out, j, load(out, j) * inv);
  } else {
    constexpr T kLow = -std::numeric_limits<T>::infinity();
    T mx = kLow;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) {
      const T y = m && m[j] != 0 ? kLow : x[j] * scale;
      out[j] = y;
      mx = y > mx ? y : mx;
    }
    if (all_masked(mx)) {
      std::fill(out, out + n, T(0));
      return;
    }
    exp_normalize(out, mx, out, n);
  }
}

#pragma GCC diagnostic pop

}  // namespace gg::kernel
