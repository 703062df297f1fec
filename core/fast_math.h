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

// e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 polynomial (Cephes expf), 2^n by
// writing n into the float's exponent bits.
inline float exp(float x) {
  const float hi = 88.7228391f, lo = -87.3365448f;  // e^hi is the largest float, e^lo the smallest normal
  const float xc = clamp(x, lo, hi);
  const float n = static_cast<float>(static_cast<int32_t>(xc * 1.44269504088896341f + (xc >= 0 ? 0.5f : -0.5f)));
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;  // ln 2 split in two for an exact product
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
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
