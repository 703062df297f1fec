#include "nn/multihead.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/fused_attention.h"
#include "autograd/grad_mode.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nn/init.h"

namespace gg::nn {
namespace {

// [B, T, D] -> [B, h, T, d]
Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2) / heads;
  return x.reshape({B, T, heads, d}).permute({0, 2, 1, 3});
}

// [B, h, T, d] -> [B, T, D]
Tensor merge_heads(const Tensor& x) {
  const int64_t B = x.size(0), h = x.size(1), T = x.size(2), d = x.size(3);
  return x.permute({0, 2, 1, 3}).reshape({B, T, h * d});
}

// The same tensor, not merely equal values: one handle's view of one storage, with one
// autograd history (a gradient must reach it through every use).
bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype() && a.autograd_meta == b.autograd_meta;
}

void check_key_padding_mask(const std::string& who, const Tensor& mask, int64_t B, int64_t S) {
  GG_CHECK(mask.dtype() == DType::Bool,
           "{}: key_padding_mask must be bool (true = padding), got {} of shape {}; hint: gg::eq(tokens, pad_id)",
           who, dtype_name(mask.dtype()), mask.shape());
  GG_CHECK(mask.shape() == Shape({B, S}), "{}: key_padding_mask has shape {}, expected [B, S] = [{}, {}]", who,
           mask.shape(), B, S);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t embed_dim, int64_t num_heads, MultiHeadAttentionOptions options)
    : embed_dim(embed_dim), num_heads(num_heads), options(options) {
  GG_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0,
           "MultiHeadAttention: embed_dim {} must be a positive multiple of num_heads {}", embed_dim, num_heads);
  head_dim = embed_dim / num_heads;
  const int64_t kdim = options.kdim < 0 ? embed_dim : options.kdim;
  const int64_t vdim = options.vdim < 0 ? embed_dim : options.vdim;
  this->options.kdim = kdim;
  this->options.vdim = vdim;
  const DType dt = options.dtype;
  if (kdim == embed_dim && vdim == embed_dim) {
    in_proj_weight = Tensor::empty({3 * embed_dim, embed_dim}, dt);
    init::xavier_uniform_(in_proj_weight);
    register_parameter("in_proj_weight", in_proj_weight);
  } else {
    q_proj_weight = Tensor::empty({embed_dim, embed_dim}, dt);
    k_proj_weight = Tensor::empty({embed_dim, kdim}, dt);
    v_proj_weight = Tensor::empty({embed_dim, vdim}, dt);
    for (Tensor* w : {&q_proj_weight, &k_proj_weight, &v_proj_weight}) init::xavier_uniform_(*w);
    register_parameter("q_proj_weight", q_proj_weight);
    register_parameter("k_proj_weight", k_proj_weight);
    register_parameter("v_proj_weight", v_proj_weight);
  }
  if (options.bias) {
    in_proj_bias = zeros({3 * embed_dim}, {.dtype = dt});
    register_parameter("in_proj_bias", in_proj_bias);
  }
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim,
                                                                  LinearOptions{.bias = options.bias, .dtype = dt}));
  if (options.bias) out_proj->bias.detach().zero_();
}

std::string MultiHeadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}", embed_dim, num_heads, options.dropout);
}

MultiHeadAttentionOutput MultiHeadAttention::forward(const Tensor& query_in, const Tensor& key_in,
                                                     const Tensor& value_in, const Tensor& key_padding_mask,
                                                     const Tensor& attn_mask, bool need_weights,
                                                     bool average_attn_weights) {
  const std::string who = name();
  GG_CHECK(query_in.dim() == 3 && key_in.dim() == 3 && value_in.dim() == 3,
           "{}: query, key and value must be 3-D ({}), got shapes {}, {}, {}", who,
           options.batch_first ? "[B, T, D]" : "[T, B, D]", query_in.shape(), key_in.shape(), value_in.shape());
  // Work batch-first: [B, T, D].
  const Tensor query = batch_first(query_in), key = batch_first(key_in), value = batch_first(value_in);
  const int64_t B = query.size(0), S = key.size(1), E = embed_dim;
  GG_CHECK(query.size(2) == E && key.size(2) == options.kdim && value.size(2) == options.vdim &&
               key.size(0) == B && value.size(0) == B && value.size(1) == S,
           "{}: shapes query {}, key {}, value {} do not fit embed_dim {}, kdim {}, vdim {}", who, query_in.shape(),
           key_in.shape(), value_in.shape(), E, options.kdim, options.vdim);
  const Projections p = split(project_sources(query_in, key_in, value_in, query, key, value, true), nullptr, nullptr);
  return attend_and_project(p.q, p.k, p.v, key_padding_mask, attn_mask, need_weights, average_attn_weights);
}

MultiHeadAttentionOutput MultiHeadAttention::attend_and_project(const Tensor& q, const Tensor& k, const Tensor& v,
                                                                const Tensor& key_padding_mask,
                                                                const Tensor& attn_mask, bool need_weights,
                                                                bool average_attn_weights) {
  Tensor weights;
  const Tensor out = out_proj->forward(attend(q, k, v, key_padding_mask, attn_mask,
                                              need_weights ? &weights : nullptr));  // [B, Tq, D]
  MultiHeadAttentionOutput result;
  result.output = batch_first(out);
  if (need_weights) result.weights = average_attn_weights ? mean(weights, {1}) : weights;
  return result;
}

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
  GG_CHECK(query.dim() == 3 && query.size(2) == embed_dim && kv.k.dim() == 3 && kv.k.size(0) == query.size(0),
           "{}.forward_projected: query {} must be 3-D with width {} and the batch of the keys {}", name(),
           query_in.shape(), embed_dim, kv.k.shape());
  const Tensor q = functional::linear(query, in_weight(0, 1, q_proj_weight), in_bias(0, 1));  // [B, Tq, E]
  return attend_and_project(q, kv.k, kv.v, key_padding_mask, Tensor(), need_weights, true);
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

Tensor MultiHeadAttention::attend(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                  const Tensor& key_padding_mask, const Tensor& attn_mask, Tensor* weights) {
  const std::string who = name();
  const int64_t B = q_in.size(0), Tq = q_in.size(1), S = k_in.size(1), h = num_heads;
  const Tensor q = split_heads(q_in, h);  // [B, h, Tq, d]
  const Tensor k = split_heads(k_in, h);  // [B, h, S, d]
  const Tensor v = split_heads(v_in, h);  // [B, h, S, d]

  Tensor mask;  // broadcastable to [B, h, Tq, S]
  if (key_padding_mask.defined()) {
    check_key_padding_mask(who, key_padding_mask, B, S);
    mask = key_padding_mask.reshape({B, 1, 1, S});
  }
  if (attn_mask.defined()) {
    GG_CHECK(attn_mask.dtype() == DType::Bool,
             "{}: attn_mask must be bool (true = not allowed), got {}; hint: additive float masks are not "
             "supported, use causal_mask()",
             who, dtype_name(attn_mask.dtype()));
    Tensor m;
    if (attn_mask.shape() == Shape({Tq, S})) m = attn_mask.reshape({1, 1, Tq, S});
    else if (attn_mask.shape() == Shape({B * h, Tq, S})) m = attn_mask.reshape({B, h, Tq, S});
    else fail("{}: attn_mask has shape {}, expected [Tq, S] = [{}, {}] or [B * heads, Tq, S] = [{}, {}, {}]", who,
              attn_mask.shape(), Tq, S, B * h, Tq, S);
    mask = mask.defined() ? logical_or(mask, m) : m;
  }
  const bool dropping = options.dropout > 0 && is_training();
  if (options.fused && (!weights || !GradMode::is_enabled())) {  // the same, as one op
    // Dropout's factors drawn as functional::dropout draws them for the weights below.
    const Tensor drop = dropping ? functional::dropout_scale({B, h, Tq, S}, options.dropout, q.dtype()) : Tensor();
    return merge_heads(
        attention_fused(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(head_dim)), weights, drop));
  }
  const Tensor w = functional::masked_softmax(functional::scaled_dot_scores(q, k), mask);  // [B, h, Tq, S]
  if (weights) *weights = w;
  return merge_heads(matmul(functional::dropout(w, options.dropout, is_training()), v));  // [B, Tq, E]
}

namespace functional {

Tensor efficient_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding_mask,
                           Tensor* weights) {
  GG_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.size(0) == k.size(0) && k.size(0) == v.size(0) &&
               q.size(2) == k.size(2) && k.size(1) == v.size(1),
           "efficient_attention: expected q [B, Tq, d], k [B, S, d], v [B, S, dv], got {}, {}, {}", q.shape(),
           k.shape(), v.shape());
  Tensor q_soft = softmax(q, -1);  // each query: a distribution over channels
  Tensor k_soft;                   // each channel: a distribution over key positions
  if (key_padding_mask.defined()) {
    check_key_padding_mask("efficient_attention", key_padding_mask, k.size(0), k.size(1));
    Tensor m = key_padding_mask.unsqueeze(-1);  // [B, S, 1]
    k_soft = masked_fill(softmax(masked_fill(k, m, -1e9), 1), m, 0.0);
  } else {
    k_soft = softmax(k, 1);
  }
  Tensor global_context = matmul(k_soft.transpose(1, 2), v);  // [B, d, dv]: S is summed out here
  if (weights) *weights = matmul(q_soft, k_soft.transpose(1, 2));
  return matmul(q_soft, global_context);  // [B, Tq, dv]
}

}  // namespace functional

EfficientAttention::EfficientAttention(int64_t embed_dim, int64_t num_heads, EfficientAttentionOptions options)
    : embed_dim(embed_dim), num_heads(num_heads) {
  GG_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0,
           "EfficientAttention: embed_dim {} must be a positive multiple of num_heads {}", embed_dim, num_heads);
  head_dim = embed_dim / num_heads;
  LinearOptions lo{.bias = options.bias, .dtype = options.dtype};
  W_q = register_module("W_q", std::make_shared<Linear>(embed_dim, embed_dim, lo));
  W_k = register_module("W_k", std::make_shared<Linear>(embed_dim, embed_dim, lo));
  W_v = register_module("W_v", std::make_shared<Linear>(embed_dim, embed_dim, lo));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, lo));
}

std::string EfficientAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}", embed_dim, num_heads);
}

Tensor EfficientAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask) {
  GG_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3,
           "EfficientAttention: query, key and value must be [B, T, D], got {}, {}, {}", query.shape(), key.shape(),
           value.shape());
  const int64_t B = query.size(0), h = num_heads;
  // Heads folded into the batch: [B, T, D] -> [B * h, T, d].
  auto heads = [&](const Tensor& x) {
    Tensor s = split_heads(x, h);
    return s.reshape({B * h, s.size(2), head_dim});
  };
  Tensor mask;
  if (key_padding_mask.defined()) {
    check_key_padding_mask(name(), key_padding_mask, B, key.size(1));
    mask = key_padding_mask.unsqueeze(1).expand({B, h, key.size(1)}).reshape({B * h, key.size(1)});
  }
  Tensor context = functional::efficient_attention(heads(W_q->forward(query)), heads(W_k->forward(key)),
                                                   heads(W_v->forward(value)), mask);  // [B * h, Tq, d]
  return out_proj->forward(merge_heads(context.reshape({B, h, query.size(1), head_dim})));
}

}  // namespace gg::nn
