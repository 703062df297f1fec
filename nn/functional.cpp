#include "nn/functional.h"

#include <cmath>
#include <numbers>

#include "autograd/elementwise.h"
#include "autograd/embedding.h"
#include "autograd/fused_layer_norm.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"

namespace gg::nn::functional {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool fused) {
  return gg::linear(x, weight, bias, fused);
}

Tensor embedding(const Tensor& ids, const Tensor& weight, int64_t padding_idx) {
  return gg::embedding(weight, ids, padding_idx);
}

Tensor dropout(const Tensor& x, double p, bool training) {
  GG_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0.0) return x;
  return x * dropout_scale(x.shape(), p, x.dtype());
}

Tensor dropout_scale(const Shape& shape, double p, DType dtype) {
  GG_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got {}", p);
  const Tensor keep = gt(uniform(shape, 0.0, 1.0, {.dtype = dtype}), p).to(dtype);
  return keep * (1.0 / (1.0 - p));
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps, bool fused) {
  const auto k = static_cast<int64_t>(normalized_shape.size());
  bool fits = k >= 1 && x.dim() >= k;
  for (int64_t i = 0; fits && i < k; ++i) fits = x.size(x.dim() - k + i) == normalized_shape[i];
  GG_CHECK(fits, "layer_norm: input of shape {} does not end with the normalized shape {}", x.shape(),
           normalized_shape);
  if (fused) return layer_norm_fused(x, normalized_shape.numel(), weight, bias, eps);
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < k; ++i) dims.push_back(x.dim() - k + i);
  Tensor centered = x - mean(x, dims, true);
  Tensor y = centered / sqrt(var(x, dims, 0, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

Tensor gelu(const Tensor& x) { return x * 0.5 * (1.0 + erf(x * (1.0 / std::numbers::sqrt2))); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  return gg::cross_entropy(logits, target, options);
}

namespace {
Tensor reduce(const Tensor& losses, const Tensor& counted, Reduction reduction) {
  if (reduction == Reduction::None) return losses;
  Tensor total = sum(losses);
  if (reduction == Reduction::Sum) return total;
  return total / maximum(sum(counted), ones({}, {.dtype = total.dtype()}));  // 0 when nothing is counted
}
}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& options) {
  GG_CHECK(target.dtype() == DType::Int64, "nll_loss: targets must be int64 class ids, got {}",
           dtype_name(target.dtype()));
  Shape lead(log_probs.shape().begin(), log_probs.shape().end() - 1);
  GG_CHECK(target.shape() == lead, "nll_loss: log_probs of shape {} need targets of shape {}, got {}",
           log_probs.shape(), lead, target.shape());
  Tensor keep = ne(target, options.ignore_index);
  Tensor safe_target = where(keep, target, zeros_like(target));
  Tensor losses = masked_fill(-gather(log_probs, -1, safe_target.unsqueeze(-1)).squeeze(-1), logical_not(keep), 0.0);
  return reduce(losses, keep.to(log_probs.dtype()), options.reduction);
}

Tensor mse_loss(const Tensor& x, const Tensor& y, Reduction reduction) {
  GG_CHECK(x.shape() == y.shape(), "mse_loss: input of shape {} and target of shape {} differ", x.shape(), y.shape());
  Tensor d = x - y;
  Tensor sq = d * d;
  if (reduction == Reduction::None) return sq;
  return reduction == Reduction::Sum ? sum(sq) : mean(sq);
}

}  // namespace gg::nn::functional
