#pragma once
#include "core/tensor.h"

namespace gg {

// Matrix product with torch.matmul's rules: [..., M, K] @ [..., K, N] -> [..., M, N] with
// broadcast batch dims; a 1-D operand is a vector (a row on the left, a column on the right).
Tensor matmul(const Tensor& a, const Tensor& b);

// y = x W^T + b: x [..., in], weight [out, in], bias [out] or undefined -> [..., out]. One GEMM
// over all leading dims, into a buffer that already holds the bias; one backward node, which
// defers the weight's gradient to one product over all its uses (node.h, DeferredGrad).
// fused = false: the composed twin, matmul(x, W^T) + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, bool fused = true);

}  // namespace gg
