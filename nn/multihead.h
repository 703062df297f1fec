#pragma once
// Multi-head attention (Vaswani et al., 2017) with PyTorch's parameters and conventions,
// and efficient (linear-complexity) attention (Shen et al., WACV 2021).
//
// Shapes: B batch, Tq queries, S keys, D model width (embed_dim), h heads, d = D / h.
#include <memory>

#include "nn/attention.h"
#include "nn/linear.h"

namespace gg::nn {

struct MultiHeadAttentionOptions {
  double dropout = 0.0;       // on the attention weights, while training
  bool bias = true;
  int64_t kdim = -1;          // key width; -1 = D
  int64_t vdim = -1;          // value width; -1 = D
  bool batch_first = false;   // [B, T, D] instead of PyTorch's default [T, B, D]
  DType dtype = DType::Float32;
  // The heads' attention as one op (attention_fused, or attention_packed on packed tokens:
  // autograd/fused_attention.h, dropout included) unless weights with a gradient are asked
  // for; false: the composed ops (scores, masked softmax, dropout, weighted sum), the fused
  // op's reference.
  bool fused = true;
};

struct MultiHeadAttentionOutput {
  Tensor output;   // [Tq, B, D] (or [B, Tq, D] if batch_first)
  Tensor weights;  // [B, Tq, S] averaged over heads, or [B, h, Tq, S] per head; undefined if not asked
};

// Self-attention is this module with query = key = value.
// Parameters, named and initialized as torch.nn.MultiheadAttention:
//   in_proj_weight [3D, D] (xavier_uniform) when kdim = vdim = D, else q_proj_weight [D, D],
//   k_proj_weight [D, kdim], v_proj_weight [D, vdim]; in_proj_bias [3D] (zeros);
//   out_proj: Linear(D, D) with its bias zeroed.
class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads, MultiHeadAttentionOptions options = {});
  std::string name() const override { return "MultiHeadAttention"; }
  std::string extra_repr() const override;

  // key_padding_mask: bool [B, S], true = padding (ignored). attn_mask: bool [Tq, S] or
  // [B * h, Tq, S], true = not allowed (e.g. causal_mask). Both may be undefined.
  MultiHeadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = {}, const Tensor& attn_mask = {},
                                   bool need_weights = true, bool average_attn_weights = true);

  // The same attention on packed tokens (Packing, nn/attention.h): query [Nq, D], key
  // [Nk, kdim], value [Nk, vdim], the tokens of padded batches whose positions query_rows and
  // key_rows give. The projections run on the tokens only, and so does the attention when it
  // is fused (gg::attention_packed, when key is value; otherwise it runs on the padded layout
  // with key_rows.padding as the key padding mask); returns the output at the query tokens,
  // [Nq, D]. At every token it equals forward() on the padded batches with that mask (in
  // training, with attention dropout, given the same random state). The weights are not
  // returned.
  Tensor forward_packed(const Tensor& query, const Tensor& key, const Tensor& value, const Packing& query_rows,
                        const Packing& key_rows, const Tensor& attn_mask = {});

  // ---- incremental decoding: attention over keys and values projected earlier ----
  // Projected keys and values, batch-first [B, S, E] each: the projection of a fixed source
  // (the encoder's memory), or a key/value cache that grows by one position per step.
  struct KeyValues {
    Tensor k, v;
    // Keeps the rows `index` (int64 [B']) of both, in that order: how beam search reorders them.
    void select(const Tensor& index);
  };
  // key [S, M, kdim] and value [S, M, vdim] (or batch-first) -> their projections, once.
  KeyValues project_keys_values(const Tensor& key, const Tensor& value);
  // forward(query, key, value, key_padding_mask) with key and value given as
  // project_keys_values(key, value): the same numbers without projecting them again. The
  // query's batch B may be a multiple of the keys' M: each run of B / M consecutive query rows
  // then reads one row of keys and values (and of key_padding_mask [M, S]), as a beam's
  // hypotheses of one sentence read its source.
  MultiHeadAttentionOutput forward_projected(const Tensor& query, const KeyValues& kv,
                                             const Tensor& key_padding_mask = {}, bool need_weights = false);
  // Causal self-attention one position at a time. x [1, B, D] (or [B, 1, D]) is the newest
  // position: its key and value are appended to `cache` (empty before the first), and it
  // attends to every position so far. Position t's output equals that of
  // forward(x, x, x, {}, causal_mask(T)) over the whole sequence, up to rounding.
  Tensor forward_step(const Tensor& x, KeyValues& cache);

  int64_t embed_dim, num_heads, head_dim;
  MultiHeadAttentionOptions options;
  Tensor in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;

 private:
  struct Projections {
    Tensor q, k, v;  // [..., E]
  };
  // The projections before they are split: q, k and v are columns [col, col + E) of their
  // source, and the sources may be one tensor (all three, [..., 3E], in self-attention with
  // same_rows; k and v, [..., 2E], when key is value).
  struct Sources {
    Tensor q, k, v;
    int64_t q_col = 0, k_col = 0, v_col = 0;
  };
  // query, key, value [B, T, width], or packed [N, width] (then same_rows: they share one
  // Packing). The *_in arguments are the caller's tensors, compared to find self-attention
  // (all three the same) and key = value.
  Sources project_sources(const Tensor& query_in, const Tensor& key_in, const Tensor& value_in, const Tensor& query,
                          const Tensor& key, const Tensor& value, bool same_rows);
  // The key and value part of project_sources (s.q undefined).
  Sources project_key_value_sources(const Tensor& key_in, const Tensor& value_in, const Tensor& key,
                                    const Tensor& value);
  // Rows [first * E, (first + count) * E) of in_proj_weight / in_proj_bias, or the separate
  // weight (no bias) when the projections are separate.
  Tensor in_weight(int64_t first, int64_t count, const Tensor& separate) const;
  Tensor in_bias(int64_t first, int64_t count) const;
  // Batch-first [B, T, D] from the caller's layout, and back.
  Tensor batch_first(const Tensor& x) const { return options.batch_first ? x : x.transpose(0, 1); }
  // Attention of q over k, v [B, T, E] through out_proj, in the caller's layout.
  MultiHeadAttentionOutput attend_and_project(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const Tensor& key_padding_mask, const Tensor& attn_mask,
                                              bool need_weights, bool average_attn_weights);
  // The sources as q, k, v [B, T, E]: packed ones unpacked (with their Packing given).
  Projections split(const Sources& s, const Packing* query_rows, const Packing* key_rows);
  // q [B, Tq, E], k and v [B, S, E] -> the heads' contexts merged, [B, Tq, E]; `weights`, if
  // given, receives the per-head weights [B, h, Tq, S].
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding_mask,
                const Tensor& attn_mask, Tensor* weights);
};

namespace functional {

// Efficient attention for one head: q [B, Tq, d], k [B, S, d], v [B, S, dv] ->
//   q' = softmax over each query's channels, k' = softmax over key positions per channel
//   (padded keys excluded), context = q' (k'^T v)  [B, Tq, dv]
// in O((Tq + S) d dv) time and memory instead of O(Tq S). key_padding_mask: bool [B, S],
// true = padding. If `weights` is given it receives q' k'^T [B, Tq, S] (rows sum to 1),
// which costs the quadratic memory again: for plotting small examples only.
Tensor efficient_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding_mask = {},
                           Tensor* weights = nullptr);

}  // namespace functional

struct EfficientAttentionOptions {
  bool bias = true;
  DType dtype = DType::Float32;
};

// Multi-head efficient attention with the same projections as MultiHeadAttention
// (W_q, W_k, W_v, out_proj as Linear layers), batch-first: [B, T, D].
class EfficientAttention : public Module {
 public:
  EfficientAttention(int64_t embed_dim, int64_t num_heads, EfficientAttentionOptions options = {});
  std::string name() const override { return "EfficientAttention"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& key_padding_mask = {});

  int64_t embed_dim, num_heads, head_dim;
  std::shared_ptr<Linear> W_q, W_k, W_v, out_proj;
};

}  // namespace gg::nn
