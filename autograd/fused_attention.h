#pragma once
// Bahdanau's additive score as one op and one backward node:
//   score[b, q, s] = sum_a v[a] * tanh(query_proj[b, q, a] + keys_proj[b, s, a])
// Composed, it is a broadcast add to [B, Tq, S, A], a tanh and a matmul with v, and backward
// sums the [B, Tq, S, A] gradient back down twice. The fused op computes each hidden unit once
// (keeping it for backward, as the composed tanh does) and produces all three gradients in one
// pass. Its composed twin is nn::functional::additive_scores(..., fused = false); the tests in
// tests/autograd/test_fused_attention.cpp check that they agree and gradcheck the op in float64.
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
// plain tensor: no gradient flows back through it. dropout, if defined, holds the factors
// [B, h, Tq, S] attention dropout multiplies P by (keep / (1 - p): nn::functional::
// dropout_scale): O = (P * dropout) V, as dropout(P) followed by the product; weights stay P.
Tensor attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor* weights = nullptr, const Tensor& dropout = {});

// The rows of a packed [N, ...] tensor: the tokens of a [B, T] batch without its padding, in
// order; index[i] = b * T + t for row i (nn::Packing::index).
struct PackedRows {
  Tensor index;  // int64 [N], increasing
  int64_t B = 0, T = 0;
};

// The same attention read from and written to packed rows, as the Transformer's training
// runs it (nn::MultiHeadAttention::forward_packed): head h of query row i is columns
// [q_col + h * head_dim, + head_dim) of q_src [Nq, *]; the keys and values of the same
// sequence are columns at k_col and v_col of kv_src [Nk, *], which may be q_src itself (one
// [N, 3E] projection in self-attention). Each query attends to the keys of its own sequence:
// padding is never stored, so it needs no mask and costs nothing. attn_mask: bool [Tq, S] or
// [B * heads, Tq, S] by position (true = hidden), or undefined; dropout, the factors
// [B, heads, Tq, S] by position, as attention_fused takes them. Returns O [Nq, heads * head_dim],
// the heads side by side, and its backward writes the gradient of q, k and v straight into
// their columns of one gradient per source. Its composed twin is the padded path: unpack,
// attention_fused (or the composed ops), pack.
Tensor attention_packed(const Tensor& q_src, int64_t q_col, const Tensor& kv_src, int64_t k_col, int64_t v_col,
                        int64_t heads, int64_t head_dim, const PackedRows& q_rows, const PackedRows& k_rows,
                        const Tensor& attn_mask, double scale, const Tensor& dropout = {});

}  // namespace gg
