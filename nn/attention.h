#pragma once
// Attention, as a family a student can compare side by side. Every mechanism scores a
// query s against keys h_j, turns the scores into weights alpha = softmax(e) over the
// keys that are not masked, and returns the context sum_j alpha_j v_j together with the
// weights (shaped [B, Tq, S] for plotting).
//
//   dot          e_j = s^T h_j                       (Luong et al., 2015)
//   scaled dot   e_j = s^T h_j / sqrt(d)             (Vaswani et al., 2017)
//   general      e_j = s^T W h_j                     (Luong et al., 2015)
//   additive     e_j = v^T tanh(W h_j + U s)         (Bahdanau et al., 2015)
//   concat       e_j = v^T tanh(W [s; h_j])          (Luong et al., 2015)
//
// Shapes: B batch, Tq queries per batch row, S keys, Dq/Dk/Dv query, key, value widths,
// A the attention width of additive and concat. A query may also be [B, Dq] (one per row);
// the outputs then drop the Tq dim.
//
// Masks: bool, TRUE MEANS MASKED (that key cannot be attended), as PyTorch's
// key_padding_mask; broadcastable to the scores [B, Tq, S]. Masked keys get exactly zero
// weight; a query whose keys are all masked gets zero weights and a zero context, with
// finite gradients.
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace gg::nn {

struct AttentionOutput {
  Tensor context;  // [B, Tq, Dv] (or [B, Dv])
  Tensor weights;  // [B, Tq, S]  (or [B, S]); rows sum to 1 over unmasked keys
};

// The tokens of a padded batch [B, T, ...]: which of its B * T positions are not padding.
// Position-wise layers (projections, feed-forward, layer norm) can then run on the N tokens,
// [N, ...], and skip the padding; attention, which mixes positions within a sequence, runs on
// them too (gg::attention_packed, which finds each sequence's tokens through `index`), or on
// the padded layout between an unpack and a pack. The Transformer's training loss works this
// way (models/transformer_seq2seq.cpp): with lengths spread over [L/2, L] a quarter of [B, T]
// is padding.
struct Packing {
  Tensor index;    // int64 [N]: the flat positions b * T + t of the tokens, in increasing order
  Tensor padding;  // bool [B, T], true at padding: the key padding mask of attention over these tokens
  // padding: bool [B, T], true at padding (a key padding mask).
  static Packing from_padding(const Tensor& padding);
  int64_t tokens() const { return index.numel(); }
  int64_t B() const { return padding.size(0); }
  int64_t T() const { return padding.size(1); }
  Tensor pack(const Tensor& x) const;    // [B, T, ...] -> [N, ...]
  Tensor unpack(const Tensor& x) const;  // [N, ...] -> [B, T, ...], zeros at the padding
};

namespace functional {

// [B, 1, S], true at positions j >= lengths[b]: broadcasts against scores [B, Tq, S].
Tensor padding_mask(const Tensor& lengths, int64_t S);
// [T, S], true where key j comes after query i (j > i + S - T): no peeking ahead.
Tensor causal_mask(int64_t T, int64_t S = -1);

// softmax over the last dim with masked entries at exactly zero, and all-zero rows where
// everything is masked. mask: bool, broadcastable to scores, or undefined for none.
// fused: one op (gg::masked_softmax); false: masked_fill, softmax, masked_fill, op by op.
Tensor masked_softmax(const Tensor& scores, const Tensor& mask, bool fused = true);
// weights = masked_softmax(scores, mask); context = weights @ values.
AttentionOutput attend(const Tensor& scores, const Tensor& values, const Tensor& mask);

// Scores [B, Tq, S] from queries [B, Tq, Dq] and keys [B, S, Dk].
Tensor dot_scores(const Tensor& query, const Tensor& keys);
Tensor scaled_dot_scores(const Tensor& query, const Tensor& keys);
Tensor general_scores(const Tensor& query, const Tensor& keys, const Tensor& W);  // W [Dq, Dk]
// keys_proj = W h_j [B, S, A] (computed once per source sentence), U [A, Dq], v [A].
// fused: one op (autograd/fused_attention.h); false: broadcast add, tanh and matmul, op by op.
Tensor additive_scores(const Tensor& query, const Tensor& keys_proj, const Tensor& U, const Tensor& v,
                       bool fused = true);
// W [A, Dq + Dk], v [A]: builds [s; h_j] for every pair, literally.
Tensor concat_scores(const Tensor& query, const Tensor& keys, const Tensor& W, const Tensor& v);

AttentionOutput scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values,
                                             const Tensor& mask = {});

}  // namespace functional

// The base of the five mechanisms: subclasses compute scores; masking, softmax and the
// context are shared here, so the only difference a student sees is the scoring line.
class Attention : public Module {
 public:
  // query [B, Tq, Dq] or [B, Dq]; keys [B, S, Dk]; values [B, S, Dv]; mask broadcastable to [B, Tq, S].
  AttentionOutput forward(const Tensor& query, const Tensor& keys, const Tensor& values, const Tensor& mask = {});
  // Scores [B, Tq, S] for a 3-D query.
  virtual Tensor score(const Tensor& query, const Tensor& keys) = 0;
};

class DotAttention : public Attention {
 public:
  std::string name() const override { return "DotAttention"; }
  Tensor score(const Tensor& query, const Tensor& keys) override { return functional::dot_scores(query, keys); }
};

class ScaledDotAttention : public Attention {
 public:
  std::string name() const override { return "ScaledDotAttention"; }
  Tensor score(const Tensor& query, const Tensor& keys) override {
    return functional::scaled_dot_scores(query, keys);
  }
};

// The options of the attention modules with parameters (and of LuongAttentionalState).
struct AttentionOptions {
  DType dtype = DType::Float32;
  // AdditiveAttention: score with the fused op (autograd/fused_attention.h); false: the
  // composed ops (broadcast add, tanh, matmul), the reference the two are tested against.
  // The other modules have no fused form and are composed either way.
  bool fused = true;
};

// W [Dq, Dk] ~ xavier_uniform.
class GeneralAttention : public Attention {
 public:
  GeneralAttention(int64_t query_dim, int64_t key_dim, AttentionOptions options = {});
  std::string name() const override { return "GeneralAttention"; }
  std::string extra_repr() const override;
  Tensor score(const Tensor& query, const Tensor& keys) override {
    return functional::general_scores(query, keys, W);
  }
  Tensor W;
};

// Bahdanau attention. W (key side) and U (query side) are Linear layers without bias, as
// PyTorch would initialize them; v ~ U(-1/sqrt(A), 1/sqrt(A)). In a decoder loop, call
// project_keys(keys) once per source sentence and pass the result to score_projected.
class AdditiveAttention : public Attention {
 public:
  AdditiveAttention(int64_t query_dim, int64_t key_dim, int64_t attention_dim, AttentionOptions options = {});
  std::string name() const override { return "AdditiveAttention"; }
  std::string extra_repr() const override;
  Tensor project_keys(const Tensor& keys) { return W->forward(keys); }  // [B, S, A]
  Tensor score(const Tensor& query, const Tensor& keys) override { return score_projected(query, project_keys(keys)); }
  Tensor score_projected(const Tensor& query, const Tensor& keys_proj) {
    return functional::additive_scores(query, keys_proj, U->weight, v, fused);
  }
  // forward() with keys already projected by project_keys.
  AttentionOutput forward_projected(const Tensor& query, const Tensor& keys_proj, const Tensor& values,
                                    const Tensor& mask = {});
  std::shared_ptr<Linear> W, U;
  Tensor v;
  bool fused = true;  // AttentionOptions::fused; may be changed at any time
};

// Luong's concat attention: W [A, Dq + Dk] ~ Linear's init (no bias), v as in additive.
class ConcatAttention : public Attention {
 public:
  ConcatAttention(int64_t query_dim, int64_t key_dim, int64_t attention_dim, AttentionOptions options = {});
  std::string name() const override { return "ConcatAttention"; }
  std::string extra_repr() const override;
  Tensor score(const Tensor& query, const Tensor& keys) override {
    return functional::concat_scores(query, keys, W->weight, v);
  }
  std::shared_ptr<Linear> W;
  Tensor v;
};

// Luong's attentional hidden state h~ = tanh(W_c [context; s]): the layer that brings the
// doubled width back to the decoder's. W_c has no bias, as in the paper.
class LuongAttentionalState : public Module {
 public:
  LuongAttentionalState(int64_t context_dim, int64_t query_dim, int64_t out_dim, AttentionOptions options = {});
  std::string name() const override { return "LuongAttentionalState"; }
  Tensor forward(const Tensor& context, const Tensor& query);
  std::shared_ptr<Linear> W_c;
};

}  // namespace gg::nn
