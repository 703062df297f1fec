#pragma once
#include <fmt/format.h>

#include "nn/functional.h"
#include "nn/module.h"

namespace gg::nn {

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
  DType dtype = DType::Float32;
};

// Normalizes over the last dims (normalized_shape), then scales and shifts.
// Initialization as PyTorch's nn.LayerNorm: weight = 1, bias = 0.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {})
      : normalized_shape(std::move(normalized_shape)), eps(options.eps) {
    if (options.elementwise_affine) {
      weight = ones(this->normalized_shape, {.dtype = options.dtype});
      bias = zeros(this->normalized_shape, {.dtype = options.dtype});
      register_parameter("weight", weight);
      register_parameter("bias", bias);
    }
  }

  std::string name() const override { return "LayerNorm"; }
  std::string extra_repr() const override { return fmt::format("{}, eps={}", normalized_shape, eps); }
  Tensor forward(const Tensor& x) override {
    return functional::layer_norm(x, normalized_shape, weight, bias, eps, fused);
  }

  Shape normalized_shape;
  double eps;
  bool fused = true;  // the fused op; false: the composed ops (tested to agree)
  Tensor weight, bias;  // normalized_shape each; undefined without elementwise_affine
};

}  // namespace gg::nn
