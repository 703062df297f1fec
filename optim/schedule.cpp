#include "optim/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <numbers>

namespace gg::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (const auto& group : optimizer.param_groups()) base_lrs_.push_back(group.lr);
}

void LRScheduler::step() {
  ++epoch_;
  apply();
}

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].lr = lr_at(base_lrs_.at(g), epoch_);
}

StateDict LRScheduler::state_dict() const {
  StateDict out{{"epoch", scalar_tensor(static_cast<double>(epoch_), {.dtype = DType::Int64})}};
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    out.emplace_back(fmt::format("base_lr.{}", g), scalar_tensor(base_lrs_[g], {.dtype = DType::Float64}));
  return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  std::vector<double> bases(base_lrs_.size(), -1);
  int64_t epoch = -1;
  for (const auto& [key, t] : state) {
    size_t g = 0;
    if (key == "epoch") epoch = t.item<int64_t>();
    else if (std::sscanf(key.c_str(), "base_lr.%zu", &g) == 1 && g < bases.size()) bases[g] = t.item<double>();
    else fail("LRScheduler.load_state_dict: unexpected key '{}'", key);
  }
  GG_CHECK(epoch >= 0, "LRScheduler.load_state_dict: the state has no 'epoch'");
  for (size_t g = 0; g < bases.size(); ++g)
    GG_CHECK(bases[g] >= 0, "LRScheduler.load_state_dict: the state has no 'base_lr.{}'", g);
  base_lrs_ = bases;
  epoch_ = epoch;
  apply();
}

StepLR::StepLR(Optimizer& o, int64_t step_size, double gamma) : LRScheduler(o), step_size(step_size), gamma(gamma) {
  GG_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}
double StepLR::lr_at(double base, int64_t epoch) const {
  return base * std::pow(gamma, static_cast<double>(epoch / step_size));
}

double ExponentialLR::lr_at(double base, int64_t epoch) const { return base * std::pow(gamma, static_cast<double>(epoch)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min)
    : LRScheduler(o), t_max(t_max), eta_min(eta_min) {
  GG_CHECK(t_max > 0, "CosineAnnealingLR: t_max must be positive, got {}", t_max);
}
double CosineAnnealingLR::lr_at(double base, int64_t epoch) const {
  const double progress = static_cast<double>(epoch) / static_cast<double>(t_max);
  return eta_min + (base - eta_min) * (1 + std::cos(std::numbers::pi * progress)) / 2;
}

WarmupInverseSqrtLR::WarmupInverseSqrtLR(Optimizer& o, int64_t warmup_steps)
    : LRScheduler(o), warmup_steps(warmup_steps) {
  GG_CHECK(warmup_steps > 0, "WarmupInverseSqrtLR: warmup_steps must be positive, got {}", warmup_steps);
  apply();  // step 0 of the warmup
}
double WarmupInverseSqrtLR::lr_at(double base, int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1)), w = static_cast<double>(warmup_steps);
  return base * std::min(s / w, std::sqrt(w / s));
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, Options options) : options(options), optimizer_(optimizer) {
  GG_CHECK(options.factor > 0 && options.factor < 1, "ReduceLROnPlateau: factor must be in (0, 1), got {}",
           options.factor);
}

bool ReduceLROnPlateau::step(double metric) {
  if (metric < best_ * (1 - options.threshold)) {  // torch's default mode: min, relative threshold
    best_ = metric;
    bad_epochs_ = 0;
    return false;
  }
  if (++bad_epochs_ <= options.patience) return false;
  bad_epochs_ = 0;
  const double lr = std::max(optimizer_.lr() * options.factor, options.min_lr);
  const bool lowered = lr < optimizer_.lr();
  optimizer_.set_lr(lr);
  return lowered;
}

}  // namespace gg::optim
