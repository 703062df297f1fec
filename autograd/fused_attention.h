#pragma once
// Bahdanau's additive score as one op and one backward node:
//   score[b, q, s] = sum_a v[a] * tanh(query_proj[b, q, a] + keys_proj[b, s, a])
// Composed, it is a broadcast add to [B, Tq, S, A], a tanh and a matmul with v, and backward
// sums the [B, Tq, S, A] gradient back down twice. The fused op computes each hidden unit once
// (keeping it for backward, as the composed tanh does) and produces all three gradients in one
// pass. Its composed twin is nn::functional::additive_scores(..., fused = false); the tests in
// tests/nn/test_fused_attention.cpp check that they agree and gradcheck the op in float64.
#include "core/tensor.h"

namespace gg {

// query_proj [B, Tq, A], keys_proj [B, S, A], v [A] -> scores [B, Tq, S].
Tensor additive_score_fused(const Tensor& query_proj, const Tensor& keys_proj, const Tensor& v);

}  // namespace gg
