#include "nn/attention.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/fused_attention.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nn/init.h"

namespace gg::nn {

Packing Packing::from_padding(const Tensor& padding) {
  GG_CHECK(padding.defined() && padding.dtype() == DType::Bool && padding.dim() == 2,
           "Packing: padding must be bool [B, T] (true at padding), got {} of shape {}",
           padding.defined() ? dtype_name(padding.dtype()) : "undefined", padding.defined() ? padding.shape() : Shape{});
  Packing p;
  p.padding = padding;
  const std::vector<int64_t> pad = padding.to(DType::Int64).reshape({-1}).to_vector<int64_t>();
  std::vector<int64_t> index;
  for (size_t i = 0; i < pad.size(); ++i)
    if (pad[i] == 0) index.push_back(static_cast<int64_t>(i));
  p.index = from_vector(index);
  return p;
}

Tensor Packing::pack(const Tensor& x) const {
  GG_CHECK(x.defined() && x.dim() >= 2 && x.size(0) == B() && x.size(1) == T(),
           "Packing.pack: expected [B, T, ...] = [{}, {}, ...], got {}", B(), T(), x.defined() ? x.shape() : Shape{});
  Shape flat = x.shape();
  flat.erase(flat.begin());
  flat[0] = B() * T();
  return index_select(x.reshape(flat), 0, index);
}

Tensor Packing::unpack(const Tensor& x) const {
  GG_CHECK(x.defined() && x.dim() >= 1 && x.size(0) == tokens(),
           "Packing.unpack: expected [N, ...] with N = {} tokens, got {}", tokens(), x.defined() ? x.shape() : Shape{});
  Shape padded = x.shape();
  padded[0] = T();
  padded.insert(padded.begin(), B());
  return index_add_to_zeros(B() * T(), index, x).reshape(padded);
}

namespace functional {

// What a masked score becomes before the softmax: low enough that exp() of it (minus the
// row max) is exactly 0, yet finite, so a fully masked row still has finite gradients.
constexpr double kMaskedScore = -1e9;

Tensor padding_mask(const Tensor& lengths, int64_t S) {
  GG_CHECK(lengths.defined() && lengths.dtype() == DType::Int64 && lengths.dim() == 1,
           "padding_mask: lengths must be int64 [B], got {} of shape {}",
           lengths.defined() ? dtype_name(lengths.dtype()) : "undefined", lengths.shape());
  Tensor positions = arange(S).unsqueeze(0);                // [1, S]
  return ge(positions, lengths.unsqueeze(1)).unsqueeze(1);  // [B, 1, S]
}

Tensor causal_mask(int64_t T, int64_t S) {
  if (S < 0) S = T;
  GG_CHECK(T >= 0 && S >= T, "causal_mask: need 0 <= T <= S, got T={} S={}", T, S);
  Tensor rows = arange(T).unsqueeze(1);           // [T, 1]
  Tensor cols = arange(S).unsqueeze(0);           // [1, S]
  return gt(cols, rows + static_cast<double>(S - T));  // [T, S]
}

Tensor masked_softmax(const Tensor& scores, const Tensor& mask, bool fused) {
  if (!mask.defined()) return softmax(scores, -1);
  GG_CHECK(mask.dtype() == DType::Bool,
           "attention: the mask must be bool (true = masked), got {} of shape {}; hint: build it with "
           "padding_mask/causal_mask, or compare, e.g. gg::eq(tokens, 0)",
           dtype_name(mask.dtype()), mask.shape());
  bool fits = mask.dim() <= scores.dim();
  for (int64_t i = 1; fits && i <= mask.dim(); ++i)
    fits = mask.size(-i) == 1 || mask.size(-i) == scores.size(-i);
  GG_CHECK(fits,
           "attention: mask of shape {} does not broadcast to the scores of shape {} ([B, Tq, S]); hint: a key "
           "padding mask [B, S] needs unsqueeze(1) to become [B, 1, S]",
           mask.shape(), scores.shape());
  if (fused) return gg::masked_softmax(scores, mask);  // one op; the lines below are what it computes
  Tensor weights = softmax(masked_fill(scores, mask, kMaskedScore), -1);
  return masked_fill(weights, mask, 0.0);  // exact zeros, and zero rows where all keys are masked
}

AttentionOutput attend(const Tensor& scores, const Tensor& values, const Tensor& mask) {
  Tensor weights = functional::masked_softmax(scores, mask);  // [B, Tq, S]
  return {matmul(weights, values), weights};      // [B, Tq, Dv]
}

Tensor dot_scores(const Tensor& query, const Tensor& keys) { return matmul(query, keys.transpose(-1, -2)); }

Tensor scaled_dot_scores(const Tensor& query, const Tensor& keys) {
  return dot_scores(query, keys) * (1.0 / std::sqrt(static_cast<double>(keys.size(-1))));
}

Tensor general_scores(const Tensor& query, const Tensor& keys, const Tensor& W) {
  GG_CHECK(W.dim() == 2 && W.size(0) == query.size(-1) && W.size(1) == keys.size(-1),
           "general attention: W of shape {} does not fit queries {} and keys {} (expected [{}, {}])", W.shape(),
           query.shape(), keys.shape(), query.size(-1), keys.size(-1));
  return matmul(matmul(query, W), keys.transpose(-1, -2));  // (s^T W) h_j
}

Tensor additive_scores(const Tensor& query, const Tensor& keys_proj, const Tensor& U, const Tensor& v, bool fused) {
  GG_CHECK(U.dim() == 2 && U.size(1) == query.size(-1) && U.size(0) == keys_proj.size(-1),
           "additive attention: U of shape {} does not fit queries {} and projected keys {}", U.shape(),
           query.shape(), keys_proj.shape());
  Tensor query_proj = gg::linear(query, U);                                     // [B, Tq, A] = query U^T
  if (fused) return additive_score_fused(query_proj, keys_proj, v);            // the same, in one op
  Tensor hidden = tanh(query_proj.unsqueeze(2) + keys_proj.unsqueeze(1));      // [B, Tq, S, A]
  return matmul(hidden, v);                                                    // [B, Tq, S]
}

Tensor concat_scores(const Tensor& query, const Tensor& keys, const Tensor& W, const Tensor& v) {
  const int64_t B = query.size(0), Tq = query.size(1), S = keys.size(1);
  GG_CHECK(W.dim() == 2 && W.size(1) == query.size(-1) + keys.size(-1),
           "concat attention: W of shape {} does not fit queries {} and keys {} (expected [A, {}])", W.shape(),
           query.shape(), keys.shape(), query.size(-1) + keys.size(-1));
  Tensor s = query.unsqueeze(2).expand({B, Tq, S, query.size(-1)});  // [B, Tq, S, Dq]
  Tensor h = keys.unsqueeze(1).expand({B, Tq, S, keys.size(-1)});    // [B, Tq, S, Dk]
  Tensor hidden = tanh(gg::linear(cat({s, h}, -1), W));                 // [B, Tq, S, A]
  return matmul(hidden, v);                                          // [B, Tq, S]
}

AttentionOutput scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values,
                                             const Tensor& mask) {
  return attend(scaled_dot_scores(query, keys), values, mask);
}

}  // namespace functional

namespace {

// Checks the shapes every mechanism shares; returns the query as [B, Tq, Dq].
Tensor check_attention_inputs(const std::string& who, const Tensor& query, const Tensor& keys, const Tensor& values) {
  GG_CHECK(query.defined() && keys.defined() && values.defined(), "{}: an input tensor is undefined", who);
  GG_CHECK(query.dim() == 2 || query.dim() == 3,
           "{}: query must be [B, Tq, Dq] or [B, Dq], got shape {}", who, query.shape());
  GG_CHECK(keys.dim() == 3 && values.dim() == 3 && keys.size(0) == values.size(0) && keys.size(1) == values.size(1),
           "{}: keys [B, S, Dk] and values [B, S, Dv] must agree on B and S, got shapes {} and {}", who,
           keys.shape(), values.shape());
  GG_CHECK(query.size(0) == keys.size(0), "{}: query of shape {} and keys of shape {} have different batch sizes",
           who, query.shape(), keys.shape());
  return query.dim() == 2 ? query.unsqueeze(1) : query;
}

AttentionOutput finish(AttentionOutput out, bool single_query) {
  if (single_query) {
    out.context = out.context.squeeze(1);
    out.weights = out.weights.squeeze(1);
  }
  return out;
}

Tensor init_v(int64_t A, DType dtype) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(A));
  Tensor v = Tensor::empty({A}, dtype);
  init::uniform_(v, -bound, bound);
  return v;
}

}  // namespace

AttentionOutput Attention::forward(const Tensor& query, const Tensor& keys, const Tensor& values, const Tensor& mask) {
  Tensor q = check_attention_inputs(name(), query, keys, values);
  return finish(functional::attend(score(q, keys), values, mask), query.dim() == 2);
}

GeneralAttention::GeneralAttention(int64_t query_dim, int64_t key_dim, AttentionOptions options) {
  W = Tensor::empty({query_dim, key_dim}, options.dtype);
  init::xavier_uniform_(W);
  register_parameter("W", W);
}
std::string GeneralAttention::extra_repr() const { return fmt::format("query={}, key={}", W.size(0), W.size(1)); }

AdditiveAttention::AdditiveAttention(int64_t query_dim, int64_t key_dim, int64_t attention_dim, AttentionOptions options)
    : fused(options.fused) {
  const DType dtype = options.dtype;
  W = register_module("W", std::make_shared<Linear>(key_dim, attention_dim, LinearOptions{.bias = false, .dtype = dtype}));
  U = register_module("U", std::make_shared<Linear>(query_dim, attention_dim, LinearOptions{.bias = false, .dtype = dtype}));
  v = init_v(attention_dim, dtype);
  register_parameter("v", v);
}
std::string AdditiveAttention::extra_repr() const {
  return fmt::format("query={}, key={}, attention={}", U->in_features, W->in_features, v.size(0));
}
AttentionOutput AdditiveAttention::forward_projected(const Tensor& query, const Tensor& keys_proj,
                                                     const Tensor& values, const Tensor& mask) {
  Tensor q = check_attention_inputs(name(), query, keys_proj, values);
  return finish(functional::attend(score_projected(q, keys_proj), values, mask), query.dim() == 2);
}

ConcatAttention::ConcatAttention(int64_t query_dim, int64_t key_dim, int64_t attention_dim, AttentionOptions options) {
  const DType dtype = options.dtype;
  W = register_module("W", std::make_shared<Linear>(query_dim + key_dim, attention_dim,
                                                    LinearOptions{.bias = false, .dtype = dtype}));
  v = init_v(attention_dim, dtype);
  register_parameter("v", v);
}
std::string ConcatAttention::extra_repr() const {
  return fmt::format("query+key={}, attention={}", W->in_features, v.size(0));
}

LuongAttentionalState::LuongAttentionalState(int64_t context_dim, int64_t query_dim, int64_t out_dim,
                                             AttentionOptions options) {
  W_c = register_module("W_c", std::make_shared<Linear>(context_dim + query_dim, out_dim,
                                                        LinearOptions{.bias = false, .dtype = options.dtype}));
}

Tensor LuongAttentionalState::forward(const Tensor& context, const Tensor& query) {
  GG_CHECK(context.dim() == query.dim() && context.size(0) == query.size(0),
           "LuongAttentionalState: context of shape {} and query of shape {} must have the same leading dims",
           context.shape(), query.shape());
  return tanh(W_c->forward(cat({context, query}, -1)));
}

}  // namespace gg::nn
