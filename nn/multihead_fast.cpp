// The paths beside MultiHeadAttention's textbook forward (nn/multihead.cpp), and when each runs:
//   - shared projections, in every forward: self-attention (query, key and value the same
//     tensor) projects all three with one GEMM against in_proj_weight, and cross-attention with
//     key the same as value projects those two with one, as torch does: the same numbers as
//     separate products, in fewer and larger GEMMs;
//   - packed tokens (forward_packed), in the Transformer's training (TransformerSeq2Seq::loss):
//     projections and the attention itself on the tokens only, never on the padding;
//   - incremental decoding (project_keys_values, forward_projected, forward_step), in the
//     Transformer's inference: keys and values projected once and kept.
#include <cmath>

#include "autograd/fused_attention.h"
#include "autograd/index.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "nn/functional.h"
#include "nn/multihead.h"

namespace gg::nn {
namespace {

// The same tensor, not merely equal values: one handle's view of one storage, with one
// autograd history (a gradient must reach it through every use).
bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype() && a.autograd_meta == b.autograd_meta;
}

}  // namespace

// ---- incremental decoding ----------------------------------------------------------------------

void MultiHeadAttention::KeyValues::select(const Tensor& index) {
  k = index_select(k, 0, index);
  v = index_select(v, 0, index);
}

MultiHeadAttention::KeyValues MultiHeadAttention::project_keys_values(const Tensor& key_in, const Tensor& value_in) {
  const Tensor key = batch_first(key_in), value = batch_first(value_in);
  GG_CHECK(key.dim() == 3 && value.dim() == 3 && key.size(2) == options.kdim && value.size(2) == options.vdim &&
               key.size(0) == value.size(0) && key.size(1) == value.size(1),
           "{}.project_keys_values: key {} and value {} must be {} with the same B and S, widths kdim {} and vdim {}",
           name(), key_in.shape(), value_in.shape(), options.batch_first ? "[B, S, width]" : "[S, B, width]",
           options.kdim, options.vdim);
  const Projections p = split(project_key_value_sources(key_in, value_in, key, value), nullptr, nullptr);
  return {p.k, p.v};
}

MultiHeadAttentionOutput MultiHeadAttention::forward_projected(const Tensor& query_in, const KeyValues& kv,
                                                               const Tensor& key_padding_mask, bool need_weights) {
  const Tensor query = batch_first(query_in);
  GG_CHECK(query.dim() == 3 && query.size(2) == embed_dim && kv.k.dim() == 3 && kv.k.size(0) > 0 &&
               query.size(0) % kv.k.size(0) == 0,
           "{}.forward_projected: query {} must be 3-D with width {} and a batch that is a multiple of the keys' {}",
           name(), query_in.shape(), embed_dim, kv.k.shape());
  // G = B / M consecutive query rows read one row of keys and values (a beam's hypotheses of one
  // sentence). They attend as G Tq positions of that row: the same numbers, per query, without
  // copying the keys and values G times.
  const int64_t B = query.size(0), M = kv.k.size(0), Tq = query.size(1), S = kv.k.size(1);
  const Tensor q = functional::linear(query, in_weight(0, 1, q_proj_weight), in_bias(0, 1));  // [B, Tq, E]
  Tensor weights;
  const Tensor context = attend(q.reshape({M, B / M * Tq, embed_dim}), kv.k, kv.v, key_padding_mask, Tensor(),
                                need_weights ? &weights : nullptr);  // [M, G Tq, E]
  MultiHeadAttentionOutput result;
  result.output = batch_first(out_proj->forward(context.reshape({B, Tq, embed_dim})));
  if (need_weights) result.weights = mean(weights, {1}).reshape({B, Tq, S});  // averaged over the heads
  return result;
}

Tensor MultiHeadAttention::forward_step(const Tensor& x_in, KeyValues& cache) {
  const Tensor x = batch_first(x_in);
  GG_CHECK(x.dim() == 3 && x.size(1) == 1 && x.size(2) == embed_dim && options.kdim == embed_dim &&
               options.vdim == embed_dim && (!cache.k.defined() || cache.k.size(0) == x.size(0)),
           "{}.forward_step: expected one position of self-attention, {} with D = {} (kdim = vdim = D) and the "
           "cache's batch {}, got {}",
           name(), options.batch_first ? "[B, 1, D]" : "[1, B, D]", embed_dim,
           cache.k.defined() ? cache.k.size(0) : x.size(0), x_in.shape());
  const Projections p = split(project_sources(x_in, x_in, x_in, x, x, x, true), nullptr, nullptr);  // [B, 1, E] each
  cache.k = cache.k.defined() ? cat({cache.k, p.k}, 1) : p.k;  // [B, t, E]
  cache.v = cache.v.defined() ? cat({cache.v, p.v}, 1) : p.v;
  // The newest position may look at every earlier one: no mask.
  return attend_and_project(p.q, cache.k, cache.v, Tensor(), Tensor(), false, true).output;
}

Tensor MultiHeadAttention::forward_packed(const Tensor& query, const Tensor& key, const Tensor& value,
                                          const Packing& query_rows, const Packing& key_rows,
                                          const Tensor& attn_mask) {
  const std::string who = name() + ".forward_packed";
  GG_CHECK(query.dim() == 2 && key.dim() == 2 && value.dim() == 2 && query.size(0) == query_rows.tokens() &&
               key.size(0) == key_rows.tokens() && value.size(0) == key_rows.tokens() && query.size(1) == embed_dim &&
               key.size(1) == options.kdim && value.size(1) == options.vdim && query_rows.B() == key_rows.B(),
           "{}: expected query [{}, {}], key [{}, {}] and value [{}, {}] (the tokens of batches of {} and {} rows), "
           "got {}, {} and {}",
           who, query_rows.tokens(), embed_dim, key_rows.tokens(), options.kdim, key_rows.tokens(), options.vdim,
           query_rows.B(), key_rows.B(), query.shape(), key.shape(), value.shape());
  // Projected on the tokens only.
  const Sources s = project_sources(query, key, value, query, key, value, &query_rows == &key_rows);
  if (options.fused && same_tensor(s.k, s.v)) {
    // Attention on the tokens too: one op from the packed projections to the packed context,
    // the padding never unpacked (autograd/fused_attention.h). Dropout's factors are drawn for
    // the padded [B, h, Tq, S], as the padded path draws them.
    const int64_t B = query_rows.B(), Tq = query_rows.T(), S = key_rows.T();
    const Tensor drop = options.dropout > 0 && is_training()
                            ? functional::dropout_scale({B, num_heads, Tq, S}, options.dropout, s.q.dtype())
                            : Tensor();
    const Tensor context =
        attention_packed(s.q, s.q_col, s.k, s.k_col, s.v_col, num_heads, head_dim,
                         {query_rows.index, B, Tq}, {key_rows.index, B, S}, attn_mask,
                         1.0 / std::sqrt(static_cast<double>(head_dim)), drop);  // [Nq, E]
    return out_proj->forward(context);
  }
  // Otherwise unpacked to [B, T, E] for the attention.
  const Projections p = split(s, &query_rows, &key_rows);
  const Tensor context = attend(p.q, p.k, p.v, key_rows.padding, attn_mask, nullptr);  // [B, Tq, E]
  return out_proj->forward(query_rows.pack(context));  // [Nq, D]
}

Tensor MultiHeadAttention::in_weight(int64_t first, int64_t count, const Tensor& separate) const {
  return in_proj_weight.defined() ? in_proj_weight.narrow(0, first * embed_dim, count * embed_dim) : separate;
}

Tensor MultiHeadAttention::in_bias(int64_t first, int64_t count) const {
  return in_proj_bias.defined() ? in_proj_bias.narrow(0, first * embed_dim, count * embed_dim) : Tensor();
}

MultiHeadAttention::Sources MultiHeadAttention::project_sources(const Tensor& query_in, const Tensor& key_in,
                                                                const Tensor& value_in, const Tensor& query,
                                                                const Tensor& key, const Tensor& value,
                                                                bool same_rows) {
  // Self-attention (query, key and value the same tensor) projects all three with one GEMM
  // against the packed weight, and encoder-decoder attention (key the same as value) projects
  // key and value with one, as torch does: the same numbers as three separate products.
  if (in_proj_weight.defined() && same_tensor(query_in, key_in) && same_tensor(key_in, value_in) && same_rows) {
    Sources s;
    s.q = s.k = s.v = functional::linear(query, in_proj_weight, in_proj_bias);  // [..., 3E]
    s.k_col = embed_dim, s.v_col = 2 * embed_dim;
    return s;
  }
  Sources s = project_key_value_sources(key_in, value_in, key, value);
  s.q = functional::linear(query, in_weight(0, 1, q_proj_weight), in_bias(0, 1));
  return s;
}

MultiHeadAttention::Sources MultiHeadAttention::project_key_value_sources(const Tensor& key_in,
                                                                          const Tensor& value_in, const Tensor& key,
                                                                          const Tensor& value) {
  Sources s;
  if (in_proj_weight.defined() && same_tensor(key_in, value_in)) {
    s.k = s.v = functional::linear(key, in_weight(1, 2, Tensor()), in_bias(1, 2));  // [..., 2E]
    s.v_col = embed_dim;
  } else {
    s.k = functional::linear(key, in_weight(1, 1, k_proj_weight), in_bias(1, 1));
    s.v = functional::linear(value, in_weight(2, 1, v_proj_weight), in_bias(2, 1));
  }
  return s;
}

MultiHeadAttention::Projections MultiHeadAttention::split(const Sources& s, const Packing* query_rows,
                                                          const Packing* key_rows) {
  // Each source unpacked once (to [B, T, width]), then its columns of q, k or v as views.
  const Tensor q = query_rows ? query_rows->unpack(s.q) : s.q;
  const Tensor k = same_tensor(s.k, s.q) ? q : key_rows ? key_rows->unpack(s.k) : s.k;
  const Tensor v = same_tensor(s.v, s.k) ? k : key_rows ? key_rows->unpack(s.v) : s.v;
  auto columns = [&](const Tensor& x, int64_t first) {
    return !x.defined() || x.size(-1) == embed_dim ? x : x.narrow(x.dim() - 1, first, embed_dim);
  };
  return {columns(q, s.q_col), columns(k, s.k_col), columns(v, s.v_col)};
}

}  // namespace gg::nn
