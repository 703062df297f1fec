#include "nn/multihead.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/fused_attention.h"
#include "autograd/grad_mode.h"
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
  // 1. Project: q = query W_q^T + b_q, k = key W_k^T + b_k, v = value W_v^T + b_v, each [B, T, E]
  //    (with one GEMM for two or three of them when they read the same tensor: nn/multihead_fast.cpp).
  const Projections p = split(project_sources(query_in, key_in, value_in, query, key, value, true), nullptr, nullptr);
  // 2-5. Split into heads, attend in each, merge the heads, output projection.
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
