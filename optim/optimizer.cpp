#include "optim/optimizer.h"

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "autograd/shape.h"

namespace gg::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  GG_CHECK(!groups_.empty(), "optimizer: no parameter groups given");
  for (size_t g = 0; g < groups_.size(); ++g) {
    GG_CHECK(groups_[g].lr >= 0, "optimizer: group {} has a negative learning rate {}", g, groups_[g].lr);
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      GG_CHECK(p.defined() && p.is_leaf() && p.requires_grad(),
               "optimizer: parameter {} of group {} must be a leaf tensor that requires grad", i, g);
    }
  }
}

void Optimizer::zero_grad() {
  for (auto& group : groups_)
    for (auto& p : group.params) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (auto& group : groups_) group.lr = lr;
}

Tensor& Optimizer::buffer(size_t g, size_t i, const std::string& name) {
  Tensor& t = state_[fmt::format("state.{}.{}.{}", g, i, name)];
  if (!t.defined()) t = zeros_like(groups_[g].params[i]);
  return t;
}

bool Optimizer::has_buffer(size_t g, size_t i, const std::string& name) const {
  return state_.count(fmt::format("state.{}.{}.{}", g, i, name)) > 0;
}

int64_t Optimizer::count_update(size_t g, size_t i) {
  Tensor& t = state_[fmt::format("state.{}.{}.step", g, i)];
  const int64_t n = (t.defined() ? t.item<int64_t>() : 0) + 1;
  t = scalar_tensor(static_cast<double>(n), {.dtype = DType::Int64});
  return n;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  for (size_t g = 0; g < groups_.size(); ++g)
    out.emplace_back(fmt::format("group.{}.lr", g), scalar_tensor(groups_[g].lr, {.dtype = DType::Float64}));
  out.emplace_back("step", scalar_tensor(static_cast<double>(steps_), {.dtype = DType::Int64}));
  for (const auto& [name, t] : state_) out.emplace_back(name, t.clone());
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  std::map<std::string, Tensor> buffers;
  std::vector<double> lrs(groups_.size(), -1);
  int64_t steps = -1;
  for (const auto& [key, t] : state) {
    size_t g = 0, i = 0;
    char rest[64];
    if (key == "step") {
      steps = t.item<int64_t>();
    } else if (std::sscanf(key.c_str(), "group.%zu.lr", &g) == 1 && key == fmt::format("group.{}.lr", g)) {
      GG_CHECK(g < groups_.size(), "{}.load_state_dict: '{}' names group {}, but there are {} groups", name(), key, g,
               groups_.size());
      lrs[g] = t.item<double>();
    } else if (std::sscanf(key.c_str(), "state.%zu.%zu.%63s", &g, &i, rest) == 3) {
      GG_CHECK(g < groups_.size() && i < groups_[g].params.size(),
               "{}.load_state_dict: '{}' names a parameter the optimizer does not have", name(), key);
      if (std::string(rest) == "step") {  // an update count, not a buffer shaped like the parameter
        GG_CHECK(t.numel() == 1, "{}.load_state_dict: '{}' must hold one count, got shape {}", name(), key, t.shape());
        buffers[key] = scalar_tensor(static_cast<double>(t.item<int64_t>()), {.dtype = DType::Int64});
      } else {
        GG_CHECK(t.shape() == groups_[g].params[i].shape(),
                 "{}.load_state_dict: '{}' has shape {}, but parameter {} of group {} has shape {}", name(), key,
                 t.shape(), i, g, groups_[g].params[i].shape());
        buffers[key] = t.to(groups_[g].params[i].dtype()).clone();
      }
    } else {
      fail("{}.load_state_dict: unexpected key '{}'", name(), key);
    }
  }
  GG_CHECK(steps >= 0, "{}.load_state_dict: the state has no 'step' entry", name());
  for (size_t g = 0; g < lrs.size(); ++g)
    GG_CHECK(lrs[g] >= 0, "{}.load_state_dict: the state has no 'group.{}.lr' entry", name(), g);
  if (counts_updates())
    for (const auto& [key, t] : buffers) {
      const std::string count = key.substr(0, key.rfind('.')) + ".step";
      GG_CHECK(buffers.count(count) > 0,
               "{}.load_state_dict: '{}' comes without its update count '{}' (the bias correction would start "
               "again at step 1)",
               name(), key, count);
    }
  for (size_t g = 0; g < lrs.size(); ++g) groups_[g].lr = lrs[g];
  steps_ = steps;
  state_ = std::move(buffers);
}

}  // namespace gg::optim
