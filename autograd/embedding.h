#pragma once
#include "core/tensor.h"

namespace gg {

// Rows of weight [V, E] picked by ids (int64, any shape) -> [..., E]. The row at
// padding_idx (if >= 0) gets no gradient, as in torch.nn.functional.embedding. An id
// outside [0, V) is an error that names the id and V.
Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx = -1);

}  // namespace gg
