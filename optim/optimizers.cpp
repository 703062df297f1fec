#include "optim/optimizers.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "core/storage.h"

namespace gg::optim {
namespace {

std::vector<ParamGroup> one_group(std::vector<Tensor> params, double lr) { return {ParamGroup{std::move(params), lr}}; }

// Calls f(group, g, i, p, grad) for every parameter that has a gradient, without recording a graph.
template <class F>
void for_each_param(std::vector<ParamGroup>& groups, F&& f) {
  NoGradGuard no_grad;
  ProfileSection section("optimizer");
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size(); ++i) {
      Tensor& p = groups[g].params[i];
      if (p.grad().defined()) f(groups[g], g, i, p, p.grad());
    }
}

// Adam's update for one parameter in one pass: the arithmetic of the op-by-op version in
// Adam::step, element by element, with every tensor read and written once.
struct AdamCoefficients {
  double beta1, beta2, eps;
  double step_size;    // lr / (1 - beta1^t)
  double inv_bias2;    // 1 / sqrt(1 - beta2^t)
  double l2;           // weight decay added to the gradient (Adam), else 0
  double decay;        // 1 - lr wd (AdamW), else 1
};

void adam_fused(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const AdamCoefficients& c) {
  ProfileScope scope("adam (fused)");
  visit_floating(p.dtype(), "Adam", [&]<class T>() {
    T* pp = p.data<T>();
    const T* pg = g.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), one_b1 = static_cast<T>(1 - c.beta1),
            one_b2 = static_cast<T>(1 - c.beta2), eps = static_cast<T>(c.eps), step = static_cast<T>(c.step_size),
            inv_bias2 = static_cast<T>(c.inv_bias2), l2 = static_cast<T>(c.l2), decay = static_cast<T>(c.decay);
    parallel_for(p.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const T w = pp[i] * decay;
        const T grad = pg[i] + l2 * w;
        const T mi = b1 * pm[i] + one_b1 * grad;
        const T vi = b2 * pv[i] + one_b2 * grad * grad;
        pm[i] = mi;
        pv[i] = vi;
        pp[i] = w - step * (mi / (std::sqrt(vi) * inv_bias2 + eps));
      }
    });
  });
}

bool fusable(const Tensor& p, const Tensor& g) {
  return p.is_contiguous() && g.is_contiguous() && g.dtype() == p.dtype() && g.shape() == p.shape() &&
         p.is_floating_point();
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : SGD(one_group(std::move(params), options.lr), options) {}
SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options) : Optimizer(std::move(groups)), options(options) {
  GG_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
           "SGD: nesterov momentum needs momentum > 0 and dampening 0");
}

void SGD::step() {
  const SGDOptions& o = options;
  for_each_param(param_groups(), [&](ParamGroup& group, size_t g, size_t i, Tensor& p, Tensor grad) {
    if (o.weight_decay != 0) grad = grad + p * o.weight_decay;
    if (o.momentum != 0) {
      const bool first = !has_buffer(g, i, "momentum_buffer");
      Tensor& b = buffer(g, i, "momentum_buffer");
      if (first) b.copy_(grad);
      else b.mul_(o.momentum).add_(grad, 1 - o.dampening);
      grad = o.nesterov ? grad + b * o.momentum : b;
    }
    p.add_(grad, -group.lr);
  });
  ++steps_;
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled)
    : Adam(one_group(std::move(params), options.lr), options, decoupled) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled)
    : Optimizer(std::move(groups)), options(options), decoupled_(decoupled) {}

void Adam::step() {
  const AdamOptions& o = options;
  for_each_param(param_groups(), [&](ParamGroup& group, size_t g, size_t i, Tensor& p, Tensor grad) {
    const double t = static_cast<double>(count_update(g, i));
    const double bias1 = 1 - std::pow(o.beta1, t), bias2 = 1 - std::pow(o.beta2, t);
    if (o.fused && fusable(p, grad)) {
      const bool l2 = o.weight_decay != 0 && !decoupled_, decay = o.weight_decay != 0 && decoupled_;
      adam_fused(p, grad, buffer(g, i, "exp_avg"), buffer(g, i, "exp_avg_sq"),
                 {.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .step_size = group.lr / bias1,
                  .inv_bias2 = 1 / std::sqrt(bias2), .l2 = l2 ? o.weight_decay : 0.0,
                  .decay = decay ? 1 - group.lr * o.weight_decay : 1.0});
      p.storage()->bump_version();
      return;
    }
    if (o.weight_decay != 0) {
      if (decoupled_) p.mul_(1 - group.lr * o.weight_decay);
      else grad = grad + p * o.weight_decay;
    }
    Tensor& m = buffer(g, i, "exp_avg");
    Tensor& v = buffer(g, i, "exp_avg_sq");
    m.mul_(o.beta1).add_(grad, 1 - o.beta1);
    v.mul_(o.beta2).add_(grad * grad, 1 - o.beta2);
    p.add_(m / (sqrt(v) / std::sqrt(bias2) + o.eps), -group.lr / bias1);
  });
  ++steps_;
}

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : Optimizer(one_group(std::move(params), options.lr)), options(options) {}

void RMSprop::step() {
  const RMSpropOptions& o = options;
  for_each_param(param_groups(), [&](ParamGroup& group, size_t g, size_t i, Tensor& p, Tensor grad) {
    if (o.weight_decay != 0) grad = grad + p * o.weight_decay;
    Tensor& v = buffer(g, i, "square_avg");
    v.mul_(o.alpha).add_(grad * grad, 1 - o.alpha);
    Tensor update = grad / (sqrt(v) + o.eps);
    if (o.momentum > 0) {
      Tensor& b = buffer(g, i, "momentum_buffer");
      b.mul_(o.momentum).add_(update);
      update = b;
    }
    p.add_(update, -group.lr);
  });
  ++steps_;
}

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Optimizer(one_group(std::move(params), options.lr)), options(options) {}

void Adagrad::step() {
  const AdagradOptions& o = options;
  for_each_param(param_groups(), [&](ParamGroup& group, size_t g, size_t i, Tensor& p, Tensor grad) {
    const double t = static_cast<double>(count_update(g, i));
    if (o.weight_decay != 0) grad = grad + p * o.weight_decay;
    Tensor& s = buffer(g, i, "sum");
    s.add_(grad * grad);
    p.add_(grad / (sqrt(s) + o.eps), -group.lr / (1 + (t - 1) * o.lr_decay));
  });
  ++steps_;
}

}  // namespace gg::optim
