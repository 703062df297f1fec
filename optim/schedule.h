#pragma once
// Learning-rate schedules. Call step() once per epoch (or per update, for the Transformer
// schedule); it sets the optimizer's lr for what comes next. Formulas as torch.optim.lr_scheduler.
#include <cstdint>
#include <limits>

#include "optim/optimizer.h"

namespace gg::optim {

// Each parameter group keeps its own base lr (its lr when the scheduler was made) and
// follows the same schedule from it.
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  void step();  // to the next epoch
  double lr() const { return optimizer_.lr(); }  // of group 0
  int64_t epoch() const { return epoch_; }
  // The lr of a group whose base lr is `base` at `epoch`.
  virtual double lr_at(double base, int64_t epoch) const = 0;
  // "epoch" and "base_lr.{g}": saved beside the optimizer so a resumed run continues the schedule.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  void apply();  // sets every group's lr for the current epoch
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t epoch_ = 0;
};

// lr = base * gamma^floor(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& o, int64_t step_size, double gamma = 0.1);
  double lr_at(double base, int64_t epoch) const override;
  int64_t step_size;
  double gamma;
};

// lr = base * gamma^epoch
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& o, double gamma) : LRScheduler(o), gamma(gamma) {}
  double lr_at(double base, int64_t epoch) const override;
  double gamma;
};

// lr = eta_min + (base - eta_min) (1 + cos(pi * epoch / T_max)) / 2 (past T_max it rises again, as torch's closed form)
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min = 0.0);
  double lr_at(double base, int64_t epoch) const override;
  int64_t t_max;
  double eta_min;
};

// The Transformer schedule (Vaswani et al., 2017): linear warmup, then 1/sqrt(step).
// lr = base * min(step / warmup, sqrt(warmup / step)), which peaks at base when step = warmup.
class WarmupInverseSqrtLR : public LRScheduler {
 public:
  WarmupInverseSqrtLR(Optimizer& o, int64_t warmup_steps);
  double lr_at(double base, int64_t step) const override;
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
