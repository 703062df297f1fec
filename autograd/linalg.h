#pragma once
#include "core/tensor.h"

namespace gg {

// Matrix product with torch.matmul's rules: [..., M, K] @ [..., K, N] -> [..., M, N] with
// broadcast batch dims; a 1-D operand is a vector (a row on the left, a column on the right).
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace gg
