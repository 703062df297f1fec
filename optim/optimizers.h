#pragma once
// SGD, Adam, AdamW, RMSprop, Adagrad: each update rule as PyTorch 1.13 writes it, so a
// trajectory matches torch.optim step for step (tests/parity).
#include "optim/optimizer.h"

namespace gg::optim {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// g = grad + wd p;  b = momentum b + (1 - dampening) g  (b = g on the first step);
// g = nesterov ? g + momentum b : b;  p -= lr g
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions options = {});
  void step() override;
  std::string name() const override { return "SGD"; }
  SGDOptions options;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: added to the gradient (L2); AdamW: decoupled, p *= 1 - lr wd
  // true: one pass over each parameter, its gradient and both moments (like torch's
  // fused=True); false: the update op by op, as written below. They agree to rounding
  // (tests/optim/test_optimizers.cpp). Non-contiguous or mixed-dtype tensors take the op-by-op path.
  bool fused = true;
};

// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {}, bool decoupled_weight_decay = false);
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {}, bool decoupled_weight_decay = false);
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  bool counts_updates() const override { return true; }
  AdamOptions options;

 private:
  bool decoupled_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter, 2019); PyTorch's default wd is 1e-2.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options = {.weight_decay = 1e-2}) : Adam(std::move(params), options, true) {}
};

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
};

// v = alpha v + (1 - alpha) g^2;  u = g / (sqrt(v) + eps);
// with momentum: b = momentum b + u, p -= lr b; else p -= lr u
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  void step() override;
  std::string name() const override { return "RMSprop"; }
  RMSpropOptions options;
};

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double eps = 1e-10;
};

// s += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  void step() override;
  std::string name() const override { return "Adagrad"; }
  bool counts_updates() const override { return true; }
  AdagradOptions options;
};

}  // namespace gg::optim
