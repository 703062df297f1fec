#pragma once
// Differentiable elementwise ops. Binary ops broadcast as NumPy does; a double operand
// becomes a 0-d tensor of the other operand's dtype.
#include "core/tensor.h"

namespace gg {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& base, const Tensor& exponent);  // base must be positive where exponent needs a gradient
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);     // gradient sign(x); 0 at 0
Tensor erf(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);    // gradient 1 where x > 0, else 0
Tensor clamp(const Tensor& x, double low, double high);  // gradient 1 inside [low, high]
Tensor maximum(const Tensor& a, const Tensor& b);        // ties split the gradient, as PyTorch does
Tensor minimum(const Tensor& a, const Tensor& b);
// cond ? a : b, all three broadcast; the gradient flows to the branch that was taken.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask is true; mask (bool) broadcasts to x.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// Comparisons and logic give bool tensors and no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// A 0-d tensor holding `value` in x's dtype: how doubles enter binary ops.
Tensor scalar_like(const Tensor& x, double value);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
inline Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
inline Tensor operator+(double a, const Tensor& b) { return add(scalar_like(b, a), b); }
inline Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(b, a), b); }
inline Tensor operator/(double a, const Tensor& b) { return div(scalar_like(b, a), b); }

}  // namespace gg
