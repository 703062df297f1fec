#pragma once
// gg::nn::functional: the math of every layer without the module around it. A module's
// forward() is one call to one of these.
#include "autograd/loss.h"
#include "core/tensor.h"

namespace gg::nn::functional {

// y = x W^T + b.  x [..., in], weight [out, in], bias [out] (may be undefined) -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, bool fused = true);
// weight [V, E], ids int64 [...] -> [..., E]; the padding_idx row gets no gradient.
Tensor embedding(const Tensor& ids, const Tensor& weight, int64_t padding_idx = -1);
// Zeroes each element with probability p and scales the rest by 1 / (1 - p) (inverted
// dropout); the identity when not training or p = 0.
Tensor dropout(const Tensor& x, double p, bool training);
// What dropout multiplies by: keep / (1 - p) with keep ~ Bernoulli(1 - p), a tensor of the
// given shape and dtype (drawn from the global generator exactly as dropout draws it).
Tensor dropout_scale(const Shape& shape, double p, DType dtype);
// y = (x - mean) / sqrt(var + eps) * weight + bias over the last normalized_shape.size()
// dims (biased variance, as torch's layer_norm); weight and bias may be undefined.
// fused: one op (autograd/fused_layer_norm.h); false: the composed ops, the twin it is tested against.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5, bool fused = true);
// gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form (PyTorch's default).
Tensor gelu(const Tensor& x);

using gg::Reduction;
using gg::CrossEntropyOptions;
// logits [..., C], target int64 [...] (autograd/loss.h): the fused op, or with options.fused =
// false its composed twin (log_softmax, gather and masks).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});

struct NllLossOptions {
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
// log_probs [..., C], target int64 [...]: -log_probs[target], averaged over targets not ignored.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& options = {});
// (x - y)^2, reduced.
Tensor mse_loss(const Tensor& x, const Tensor& y, Reduction reduction = Reduction::Mean);

}  // namespace gg::nn::functional
