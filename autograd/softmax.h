#pragma once
#include "core/tensor.h"

namespace gg {

// softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x) along dim: stable for any input.
// fused: one op (core/softmax.cpp, closed-form backward); false: the composed twin, op by op.
Tensor softmax(const Tensor& x, int64_t dim, bool fused = true);
// log_softmax(x)_i = x_i - max x - log sum_j exp(x_j - max x): use it, not log(softmax(x)).
Tensor log_softmax(const Tensor& x, int64_t dim, bool fused = true);
// softmax over the last dim leaving out the keys where mask (bool, broadcast to x) is true:
// they get exactly 0, and a row with every key masked is all zeros (with zero gradient).
// Undefined mask: plain softmax.
Tensor masked_softmax(const Tensor& x, const Tensor& mask);

}  // namespace gg
