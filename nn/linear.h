#pragma once
#include <cmath>

#include <fmt/format.h>

#include "nn/functional.h"
#include "nn/init.h"
#include "nn/module.h"

namespace gg::nn {

struct LinearOptions {
  bool bias = true;
  DType dtype = DType::Float32;
};

// y = x W^T + b: [..., in] -> [..., out].
// Initialization as PyTorch's nn.Linear: W ~ kaiming_uniform(a = sqrt(5)), which is
// U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {})
      : in_features(in_features), out_features(out_features) {
    GG_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got in={} out={}", in_features,
             out_features);
    weight = Tensor::empty({out_features, in_features}, options.dtype);
    init::kaiming_uniform_(weight, std::sqrt(5.0));
    register_parameter("weight", weight);
    if (options.bias) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
      bias = Tensor::empty({out_features}, options.dtype);
      init::uniform_(bias, -bound, bound);
      register_parameter("bias", bias);
    }
  }

  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override {
    return fmt::format("in={}, out={}, bias={}", in_features, out_features, bias.defined());
  }
  Tensor forward(const Tensor& x) override { return functional::linear(x, weight, bias); }

  int64_t in_features, out_features;
  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias
};

}  // namespace gg::nn
