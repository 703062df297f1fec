// Branch-free float32 exp, tanh and sigmoid that the compiler can vectorize.
//
// libm's expf/tanhf are accurate but scalar: a loop over them runs one element at a time and,
// in a recurrent network, tanh and sigmoid then cost as much as the matrix products. These
// versions use only +, *, /, min, max and bit operations, so `for (i...) y[i] = fast_tanh(x[i])`
// becomes SIMD code. float64 keeps libm (gradchecks run in float64 and want the exact value).
//
// Accuracy, checked over [-30, 30] against the float64 functions in tests/core/test_fast_math.cpp:
//   fast_exp      relative error < 2e-7 (a few ulp), 0 below -87.3, +inf above 88.7
//   fast_tanh     absolute error < 1e-6   (Eigen's 13/6 rational interpolant, exactly +-1 past +-9)
//   fast_sigmoid  absolute error < 1e-6, relative error < 1e-6 where the value is above 1e-30
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gg::fast {

// Value selects the compiler turns into SIMD min/max/blend (std::min/max return references,
// which keeps GCC from if-converting the loop). NaN passes through clamp unchanged.
inline float clamp(float x, float lo, float hi) {
  x = lo > x ? lo : x;
  return x > hi ? hi : x;
}

// GCC notes, for each function taking a float8 (below) in a file built without AVX, that the
// calling convention differs from AVX's; the functions are static, so the two never meet.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// e^r for |r| <= ln2 / 2 by a degree-6 polynomial (Cephes expf), for a float or a vector of
// them (static: see float8 below).
template <class F>
static inline F exp_reduced(F r) {
  F p = F{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

// e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by exp_reduced, 2^n by writing n into the
// float's exponent bits.
inline float exp(float x) {
  const float hi = 88.7228391f, lo = -87.3365448f;  // e^hi is the largest float, e^lo the smallest normal
  const float xc = x < lo ? 0.0f : clamp(x, lo, hi);  // below lo: e^0, replaced by 0 at the end
  const float n = static_cast<float>(static_cast<int32_t>(xc * 1.44269504088896341f + (xc >= 0 ? 0.5f : -0.5f)));
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;  // ln 2 split in two for an exact product
  const float er = exp_reduced(r);
  // 2^n for n in [-126, 128]: n = 128 (only at the top of the range) is split as 2^127 * 2.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni > 127 ? 127 : ni;
  const int32_t bits = (n1 + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float result = er * scale * (ni > 127 ? 2.0f : 1.0f);
  return x < lo ? 0.0f : (x > hi ? __builtin_inff() : result);
}

// tanh(x) = x P(x^2) / Q(x^2) on [-9, 9] (Eigen's generic_fast_tanh_float coefficients).
inline float tanh(float x) {
  const float xc = clamp(x, -9.0f, 9.0f);
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float y = xc * p / q;
  return clamp(y, -1.0f, 1.0f);
}

// 8 floats at once (GCC's vector extension, which clang also has), for kernels that work on
// explicit vectors (a row of 16 attention scores is two of them), where a loop would spend
// more on its prologue and remainder than on the arithmetic. A 32-byte vector is passed in one
// AVX register when the file is compiled with AVX and in memory otherwise (the library is
// built -march=native, a test file need not be), so the functions below have internal
// linkage: each file keeps its own copy, called its own way.
typedef float float8 __attribute__((vector_size(32)));
typedef int32_t int32x8 __attribute__((vector_size(32)));
// Lane i of the result is lane I[i] of the concatenation a:b (I in 0..15), the indices
// constants: GCC spells it __builtin_shuffle, clang __builtin_shufflevector.
template <int... I>
static inline float8 shuffle(float8 a, float8 b) {
#if defined(__clang__)
  return __builtin_shufflevector(a, b, I...);
#else
  return __builtin_shuffle(a, b, int32x8{I...});
#endif
}

// op (max or +) over the 8 lanes of x in three steps (halves, quarters, pairs), the result in
// every lane.
template <class Op>
static inline float8 across_lanes(float8 x, Op op) {
  x = op(x, shuffle<4, 5, 6, 7, 0, 1, 2, 3>(x, x));
  x = op(x, shuffle<2, 3, 0, 1, 6, 7, 4, 5>(x, x));
  return op(x, shuffle<1, 0, 3, 2, 5, 4, 7, 6>(x, x));
}

// An 8 x 8 block of floats transposed in registers: rows r[0..8) become columns, in three
// rounds of shuffles (pairs of rows interleaved, then pairs of pairs, then the two halves).
static inline void transpose8x8(float8 r[8]) {
  float8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = shuffle<0, 8, 1, 9, 4, 12, 5, 13>(r[i], r[i + 1]);
    t[i + 1] = shuffle<2, 10, 3, 11, 6, 14, 7, 15>(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4)
    for (int k = 0; k < 2; ++k) {
      u[i + 2 * k] = shuffle<0, 1, 8, 9, 4, 5, 12, 13>(t[i + k], t[i + k + 2]);
      u[i + 2 * k + 1] = shuffle<2, 3, 10, 11, 6, 7, 14, 15>(t[i + k], t[i + k + 2]);
    }
  for (int k = 0; k < 4; ++k) {
    r[k] = shuffle<0, 1, 2, 3, 8, 9, 10, 11>(u[k], u[k + 4]);
    r[k + 4] = shuffle<4, 5, 6, 7, 12, 13, 14, 15>(u[k], u[k + 4]);
  }
}

// e^x on 8 floats: the same steps and results as exp above.
static inline float8 exp(float8 x) {
  const float hi = 88.7228391f, lo = -87.3365448f;
  const float8 zero{}, lo8 = zero + lo, hi8 = zero + hi;
  float8 xc = x < lo8 ? zero : x;  // below lo: e^0, replaced by 0 at the end
  xc = xc > hi8 ? hi8 : xc;
  const float8 t = xc * 1.44269504088896341f + (xc >= zero ? zero + 0.5f : zero - 0.5f);
  const int32x8 ni = __builtin_convertvector(t, int32x8);  // truncates, as the scalar cast
  const float8 n = __builtin_convertvector(ni, float8);
  const float8 r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  const float8 er = exp_reduced(r);
  const int32x8 n1 = ni > 127 ? int32x8{} + 127 : ni;
  const int32x8 bits = (n1 + 127) << 23;
  float8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float8 result = er * scale * (ni > 127 ? zero + 2.0f : zero + 1.0f);
  return x < lo8 ? zero : (x > hi8 ? zero + __builtin_inff() : result);
}

// sum_j e^(x[j] - shift) over a row of n, summed in T; float32 on 8-float vectors. Over a
// vocabulary's row (cross-entropy), an `omp simd` loop of the scalar exp ran at the scalar
// speed, 1.3 ns per element.
template <class T>
static inline T sum_exp(const T* x, T shift, int64_t n) {
  T total = 0;
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
    float8 acc{};
    for (; j + 8 <= n; j += 8) {
      float8 v;
      std::memcpy(&v, x + j, sizeof v);
      acc += exp(v - shift);
    }
    for (int l = 0; l < 8; ++l) total += acc[l];
    for (; j < n; ++j) total += exp(x[j] - shift);
  } else {
    for (; j < n; ++j) total += std::exp(x[j] - shift);
  }
  return total;
}

// out[j] = scale * (e^(x[j] - shift) - floor), the same way.
template <class T>
static inline void scaled_exp(const T* x, T shift, T scale, T floor, T* out, int64_t n) {
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (; j + 8 <= n; j += 8) {
      float8 v;
      std::memcpy(&v, x + j, sizeof v);
      v = scale * (exp(v - shift) - floor);
      std::memcpy(out + j, &v, sizeof v);
    }
    for (; j < n; ++j) out[j] = scale * (exp(x[j] - shift) - floor);
  } else {
    for (; j < n; ++j) out[j] = scale * (std::exp(x[j] - shift) - floor);
  }
}
#pragma GCC diagnostic pop

// 1 / (1 + e^-x): exp of a large positive number overflows to inf and gives exactly 0.
inline float sigmoid(float x) { return 1.0f / (1.0f + fast::exp(-x)); }

// What kernels templated on the element type call: the fast versions above for float32,
// libm for float64.
template <class T>
T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) return fast::exp(x);
  else return std::exp(x);
}

template <class T>
T tanh_of(T x) {
  if constexpr (std::is_same_v<T, float>) return fast::tanh(x);
  else return std::tanh(x);
}

template <class T>
T sigmoid_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fast::sigmoid(x);
  } else {  // never exponentiates a large positive number
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
}

}  // namespace gg::fast
