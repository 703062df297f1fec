#pragma once
// Activations and Dropout as modules, so they can sit in a Sequential.
#include <fmt/format.h>

#include "autograd/elementwise.h"
#include "nn/functional.h"
#include "nn/module.h"

namespace gg::nn {

class Tanh : public Module {
 public:
  std::string name() const override { return "Tanh"; }
  Tensor forward(const Tensor& x) override { return gg::tanh(x); }
};

class Sigmoid : public Module {
 public:
  std::string name() const override { return "Sigmoid"; }
  Tensor forward(const Tensor& x) override { return gg::sigmoid(x); }
};

class ReLU : public Module {
 public:
  std::string name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override { return gg::relu(x); }
};

class GELU : public Module {
 public:
  std::string name() const override { return "GELU"; }
  Tensor forward(const Tensor& x) override { return functional::gelu(x); }
};

// Inverted dropout while training (module.train()), the identity in eval().
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : p(p) {
    GG_CHECK(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got {}", p);
  }
  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override { return fmt::format("p={}", p); }
  Tensor forward(const Tensor& x) override { return functional::dropout(x, p, is_training()); }

  double p;
};

}  // namespace gg::nn
