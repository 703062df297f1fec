#pragma once
// Int8 rows: a float32 matrix W [R, C] kept as q [R, C] int8 with one scale per row,
// w[r][c] ~= scale[r] * q[r][c] (symmetric, scale[r] = max_c |w[r][c]| / 127).
//
// A quarter of float32's bytes, for products whose cost is reading the weights: greedy
// decoding at batch 1 reads the whole output layer every step. Each approximate product
// comes with a bound on its error, so the caller knows which rows it must recompute from
// the float32 weights to be exact (models/decode.h, Int8Screen).
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace gg::kernel {

struct Int8Rows {
  int64_t rows = 0, cols = 0;      // R, C
  std::vector<int8_t> q;           // [R, C]
  std::vector<double> scale;       // [R]
  std::vector<double> error_norm;  // [R]: || w[r] - scale[r] q[r] ||_2, the quantization error
  std::vector<int64_t> q_abs_sum;  // [R]: sum_c |q[r][c]|
};

// w: float32 [R, C], any strides.
Int8Rows quantize_rows(const Tensor& w);

// For every row r: y[r] ~= w[r] . x, with |y[r] - w[r] . x| <= bound[r] for the float32
// weights w the rows were made from and x float32 [C] (contiguous). x is rounded to int16
// with one scale, so the products are exact integer sums; the bound covers both roundings:
//   w.x - y = (w - s q).x + s q.(x - sx xq)
//   |...|  <= min(||w - s q||_2 ||x||_2, s/2 ||x||_1) + s sum|q| sx/2
// y and bound: [R] each.
void int8_matvec(const Int8Rows& w, const float* x, double* y, double* bound);

// The same products without rounding anything, row by row in double: what int8_matvec
// approximates, and what a caller uses for the rows it must have exactly.
double dot_exact(const float* w, const float* x, int64_t n);

}  // namespace gg::kernel
