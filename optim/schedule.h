#pragma once
// Learning-rate schedules. Call step() once per epoch (or per update, for the Transformer
// schedule); it sets the optimizer's lr for what comes next. Formulas as torch.optim.lr_scheduler.
#include <cstdint>
#include <limits>

#include "optim/optimizer.h"

namespace gg::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}
  virtual ~LRScheduler() = default;
  void step() { optimizer_.set_lr(lr_at(++epoch_)); }
  double lr() const { return optimizer_.lr(); }
  int64_t epoch() const { return epoch_; }
  virtual double lr_at(int64_t epoch) const = 0;

 protected:
  Optimizer& optimizer_;
  double base_lr_;
  int64_t epoch_ = 0;
};

// lr = base * gamma^floor(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& o, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;
  int64_t step_size;
  double gamma;
};

// lr = base * gamma^epoch
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& o, double gamma) : LRScheduler(o), gamma(gamma) {}
  double lr_at(int64_t epoch) const override;
  double gamma;
};

// lr = eta_min + (base - eta_min) (1 + cos(pi * epoch / T_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t epoch) const override;
  int64_t t_max;
  double eta_min;
};

// The Transformer schedule (Vaswani et al., 2017): linear warmup, then 1/sqrt(step).
// lr = base * min(step / warmup, sqrt(warmup / step)), which peaks at base when step = warmup.
class WarmupInverseSqrtLR : public LRScheduler {
 public:
  WarmupInverseSqrtLR(Optimizer& o, int64_t warmup_steps);
  double lr_at(int64_t step) const override;
  int64_t warmup_steps;
};

// Multiplies the lr by `factor` when a watched metric (say, validation loss) has not
// improved by more than `threshold` (relative) for `patience` epochs; never below min_lr.
class ReduceLROnPlateau {
 public:
  struct Options {
    double factor = 0.1;
    int64_t patience = 10;
    double threshold = 1e-4;
    double min_lr = 0.0;
  };
  ReduceLROnPlateau(Optimizer& optimizer, Options options);
  explicit ReduceLROnPlateau(Optimizer& optimizer) : ReduceLROnPlateau(optimizer, Options{}) {}
  // Returns true when this call lowered the learning rate.
  bool step(double metric);
  double best() const { return best_; }
  Options options;

 private:
  Optimizer& optimizer_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t bad_epochs_ = 0;
};

}  // namespace gg::optim
