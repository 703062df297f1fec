#pragma once
// Bahdanau's additive score as one op and one backward node:
//   score[b, q, s] = sum_a v[a] * tanh(query_proj[b, q, a] + keys_proj[b, s, a])
// Composed, it is a broadcast add to [B, Tq, S, A], a tanh and a matmul with v, and backward
// sums the [B, Tq, S, A] gradient back down twice. The fused op computes each hidden unit once
// (keeping it for backward, as the composed tanh does) and produces all three gradients in one
// pass. Its composed twin is nn::functional::additive_scores(..., fused = false); the tests in
// tests/nn/test_fused_attention.cpp check that they agree and gradcheck the op in float64.
//
// Scaled dot-product attention over heads as one op and one backward node: for every batch row
// b and head h,
//   P = softmax(scale * Q K^T) over the keys, masked keys getting exactly 0;   O = P V.
// Composed (nn::MultiHeadAttention::attend with fused = false), it is a batched matmul, a scale,
// a masked softmax and a second batched matmul forward, and five more ops backward: each one
// parallel region and one pass over a [B, h, Tq, S] tensor, and each matmul a loop of
// B * h BLAS calls on 16 x 16 matrices. The fused op does one (b, h) pair at a time while its
// Q, K and V rows are in L1, every product a small_gemm in registers (core/small_gemm.h), and
// writes O straight in the [B, Tq, h, dv] layout that merge_heads reads as a view. Its
// composed twin is MultiHeadAttentionOptions::fused = false; the same test file checks that
// they agree and gradchecks the op.
#include "core/tensor.h"

namespace gg {

// query_proj [B, Tq, A], keys_proj [B, S, A], v [A] -> scores [B, Tq, S].
Tensor additive_score_fused(const Tensor& query_proj, const Tensor& keys_proj, const Tensor& v);

// q [B, h, Tq, d], k [B, h, S, d], v [B, h, S, dv] (views such as split_heads' are read in
// place); mask: bool, broadcastable to [B, h, Tq, S], true = the key is hidden (undefined: none).
// Returns O [B, h, Tq, dv], a permuted view of a contiguous [B, Tq, h, dv] tensor. A query whose
// keys are all masked gets P = 0 and O = 0. weights, if given, receives P [B, h, Tq, S] as a
// plain tensor: no gradient flows back through it.
Tensor attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor* weights = nullptr);

}  // namespace gg
