#pragma once
// Optimizers update parameters from their .grad(), under NoGradGuard, in place (so the
// module's members and the optimizer keep pointing at the same tensors).
//
// State (momentum buffers, Adam moments, step counts) is kept per parameter by name and is
// all tensors, so state_dict() can be saved next to the model and loaded back to resume
// training exactly.
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace gg::optim {

using nn::StateDict;

// Parameters that share a learning rate (and the optimizer's other options).
struct ParamGroup {
  std::vector<Tensor> params;
  double lr = 1e-3;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;

  // One update from the current gradients; parameters without a gradient are skipped.
  virtual void step() = 0;
  virtual std::string name() const = 0;
  void zero_grad();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  double lr() const { return groups_.at(0).lr; }
  void set_lr(double lr);  // every group

  // "group.{g}.lr", "step", and "state.{g}.{i}.{buffer}" for every buffer of parameter i of group g
  // (its update count "state.{g}.{i}.step" among them).
  StateDict state_dict() const;
  // Restores what state_dict() gave, checking every buffer against its parameter's shape.
  void load_state_dict(const StateDict& state);
  int64_t steps() const { return steps_; }

 protected:
  // The buffer `name` of parameter i of group g, zero-filled like the parameter on first use.
  Tensor& buffer(size_t g, size_t i, const std::string& name);
  bool has_buffer(size_t g, size_t i, const std::string& name) const;
  // Counts one more update of parameter i of group g and returns the count, 1 on its first
  // update. Per parameter, as torch.optim: one that first gets a gradient late still starts
  // Adam's bias correction and Adagrad's lr decay at t = 1.
  int64_t count_update(size_t g, size_t i);
  // True for optimizers that call count_update (Adam, Adagrad): their saved state must then
  // hold each parameter's count beside its buffers, or the bias correction would restart.
  virtual bool counts_updates() const { return false; }
  int64_t steps_ = 0;  // completed step() calls

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, Tensor> state_;
};

}  // namespace gg::optim
