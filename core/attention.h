#pragma once
// The loops of the fused attention ops (autograd/fused_attention.h), as plain functions on
// tensors: Bahdanau's additive score (core/attention.cpp), scaled dot-product attention over
// heads on padded batches (core/attention.cpp) and on packed tokens (core/packed_attention.cpp).
// The ops check their inputs; these take them as the comments say.
#include <vector>

#include "core/kernels.h"

namespace gg::kernel {

// ---- additive score: score[b, q, s] = v . tanh(qp[b, q, :] + kp[b, s, :]) ----------------------
// qp [B, Tq, A], kp [B, S, A], v [A], contiguous, one float dtype -> scores [B, Tq, S]. hidden,
// if given, receives the tanh units [B, Tq, S, A] that the backward reads.
Tensor additive_score(const Tensor& qp, const Tensor& kp, const Tensor& v, Tensor* hidden);
// From dscore [B, Tq, S], with dh = dscore v (1 - hidden^2):
//   dq [B, Tq, A] = sum_s dh,   dk [B, S, A] = sum_q dh,   dv [A] = sum dscore hidden.
struct AdditiveScoreGrads {
  Tensor dq, dk, dv;
};
AdditiveScoreGrads additive_score_backward(const Tensor& hidden, const Tensor& v, const Tensor& dscore);

// ---- scaled dot-product attention, one (batch row, head) pair at a time -------------------------
//   forward:   P = softmax(scale Q K^T) over the keys the mask leaves (masked: exactly 0),   O = P V
//   backward:  dV = P^T dO,   dP = dO V^T,   dS = P (dP - rowsum(P dP)) scale,   dQ = dS K,   dK = dS^T Q
// q [B, h, Tq, d], k [B, h, S, d], v [B, h, S, dv], each with a contiguous last dim (strided
// views such as split_heads' are read in place); mask: bool broadcast to [B, h, Tq, S], true =
// hidden, or undefined; drop: dropout factors [B, h, Tq, S] (contiguous) that P is multiplied
// by before the product with V, or undefined.
struct Attention {
  Tensor out;  // O [B, h, Tq, dv]: a permuted view of a contiguous [B, Tq, h, dv]
  Tensor p;    // P [B, h, Tq, S], without the dropout
};
Attention attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                    const Tensor& drop);
// From dO [B, h, Tq, dv] with a contiguous last dim. Each gradient has its input's layout
// (split_heads' views of [B, T, h, d] get [B, T, h, d] tensors back).
struct AttentionGrads {
  Tensor dq, dk, dv;
};
AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& p,
                                  const Tensor& drop, const Tensor& dout, double scale);

// ---- the same attention on packed token rows -----------------------------------------------------
// The queries are rows of q_src [Nq, *] and the keys and values rows of kv_src [Nk, *]: the
// tokens of [B, Tq] and [B, S] batches without their padding, in order. Head h of a query is
// columns [q_col + h d, + d) of its row; its key and value columns [k_col + h d, + d) and
// [v_col + h d, + d) (dv = d). Each query attends to the keys of its own sequence.
struct PackedLayout {
  int64_t B = 0, H = 0, d = 0, dv = 0, q_col = 0, k_col = 0, v_col = 0;
  std::vector<int64_t> q_start, k_start;  // B + 1 each: sequence b has rows [start[b], start[b + 1])
  std::vector<int64_t> q_pos, k_pos;      // each row's position t in its sequence
  std::vector<int64_t> p_start;           // B + 1: offset of sequence b's weights [H, nq, nk]
  int64_t max_q = 0, max_k = 0;
  int64_t Tq = 0, S = 0;  // the padded lengths, by which masks and dropout factors are laid out
  int64_t nq(int64_t b) const { return q_start[b + 1] - q_start[b]; }
  int64_t nk(int64_t b) const { return k_start[b + 1] - k_start[b]; }
  // The row of query i of sequence b, head h, in a [.., Tq, S] tensor laid out by position
  // (pair_stride apart per (b, h); 0: one [Tq, S] for all), over that sequence's keys: read in
  // place when they sit at positions 0 .. nk - 1, gathered into `buffer` otherwise.
  template <class E>
  const E* by_position(const E* base, int64_t pair_stride, int64_t b, int64_t h, int64_t i, E* buffer) const {
    const int64_t kr = k_start[b], n = nk(b);
    const E* row = base + (b * H + h) * pair_stride + q_pos[q_start[b] + i] * S;
    if (n == 0 || k_pos[kr + n - 1] == n - 1) return row;  // positions increase: these are 0 .. n - 1
    for (int64_t j = 0; j < n; ++j) buffer[j] = row[k_pos[kr + j]];
    return buffer;
  }
};
// The layout of query rows at flat positions q_index (int64 [Nq], b * Tq + t, increasing) and
// key rows at k_index ([Nk], b * S + t), for H heads of width d at the given columns. Checks
// that the indices are what nn::Packing makes; errors name attention_packed.
PackedLayout packed_layout(const Tensor& q_index, int64_t Nq, const Tensor& k_index, int64_t Nk, int64_t B,
                           int64_t Tq, int64_t S, int64_t H, int64_t d, int64_t q_col, int64_t k_col, int64_t v_col);
// mask: bool [Tq, S] or [B * H, Tq, S] by position, contiguous, or undefined; drop: factors
// [B, H, Tq, S] by position, or undefined. out: O [Nq, H d], the heads side by side; p: every
// sequence's P [H, nq, nk], one after another.
Attention packed_attention(const Tensor& q_src, const Tensor& kv_src, const PackedLayout& layout, const Tensor& mask,
                           double scale, const Tensor& drop);
// From dO [Nq, H d] (contiguous): the gradients of q, k and v written into their columns of gq
// (q_src's shape) and gkv (kv_src's; the same tensor as gq when q_src is kv_src). Columns they
// do not cover are left as they are.
void packed_attention_backward(const Tensor& q_src, const Tensor& kv_src, const Tensor& p, const Tensor& drop,
                               const Tensor& dout, double scale, const PackedLayout& layout, const Tensor& gq,
                               const Tensor& gkv);

// Rows read in place need a contiguous last dim: x itself, or a contiguous copy.
inline Tensor unit_last_stride(const Tensor& x) { return x.stride(-1) == 1 ? x : contiguous(x); }
// Dropout factors for scores of shape `full` ([B, h, Tq, S]): contiguous and of `dtype`
// (undefined stays undefined), or an error that names `op`.
Tensor dropout_factors(const Tensor& drop, const Shape& full, DType dtype, const char* op);

}  // namespace gg::kernel
