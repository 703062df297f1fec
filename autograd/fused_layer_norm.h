#pragma once
// Layer normalization as one op and one backward node. Composed, it is a mean, a subtraction,
// a variance, an add, a sqrt, a division, a multiply and an add, each a pass over the input
// with its own node and buffer; the fused op reads each row twice and writes it once.
//   forward:  mu = mean(x), rstd = 1 / sqrt(var(x) + eps)   (over the last n elements of each row,
//             biased variance as torch's layer_norm), xhat = (x - mu) rstd, y = xhat w + b
//   backward: g = dy w;  dx = rstd (g - mean(g) - xhat mean(g xhat));  dw = sum dy xhat;  db = sum dy
// The composed twin is nn::functional::layer_norm(..., fused = false);
// tests/autograd/test_fused_layer_norm.cpp checks that they agree and gradchecks the op in float64.
#include "core/tensor.h"

namespace gg {

// Normalizes x over its last `n` elements (the flattened normalized shape); weight and bias
// (n elements each, any shape) may be undefined.
Tensor layer_norm_fused(const Tensor& x, int64_t n, const Tensor& weight, const Tensor& bias, double eps);

}  // namespace gg
