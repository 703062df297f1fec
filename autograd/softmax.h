#pragma once
#include "core/tensor.h"

namespace gg {

// softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x) along dim: stable for any input.
Tensor softmax(const Tensor& x, int64_t dim);
// log_softmax(x)_i = x_i - max x - log sum_j exp(x_j - max x): use it, not log(softmax(x)).
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace gg
