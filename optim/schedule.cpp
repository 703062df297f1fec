#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace gg::optim {

StepLR::StepLR(Optimizer& o, int64_t step_size, double gamma) : LRScheduler(o), step_size(step_size), gamma(gamma) {
  GG_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}
double StepLR::lr_at(int64_t epoch) const {
  return base_lr_ * std::pow(gamma, static_cast<double>(epoch / step_size));
}

double ExponentialLR::lr_at(int64_t epoch) const { return base_lr_ * std::pow(gamma, static_cast<double>(epoch)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min)
    : LRScheduler(o), t_max(t_max), eta_min(eta_min) {
  GG_CHECK(t_max > 0, "CosineAnnealingLR: t_max must be positive, got {}", t_max);
}
double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double progress = static_cast<double>(std::min(epoch, t_max)) / static_cast<double>(t_max);
  return eta_min + (base_lr_ - eta_min) * (1 + std::cos(std::numbers::pi * progress)) / 2;
}

WarmupInverseSqrtLR::WarmupInverseSqrtLR(Optimizer& o, int64_t warmup_steps)
    : LRScheduler(o), warmup_steps(warmup_steps) {
  GG_CHECK(warmup_steps > 0, "WarmupInverseSqrtLR: warmup_steps must be positive, got {}", warmup_steps);
  optimizer_.set_lr(lr_at(0));
}
double WarmupInverseSqrtLR::lr_at(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1)), w = static_cast<double>(warmup_steps);
  return base_lr_ * std::min(s / w, std::sqrt(w / s));
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
