#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace gg::nn {

// Runs its modules in order, each on the previous one's output; they are named "0", "1", ...
//   auto mlp = std::make_shared<nn::Sequential>();
//   mlp->push_back(std::make_shared<nn::Linear>(2, 8));
//   mlp->push_back(std::make_shared<nn::Tanh>());
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules) {
    for (auto& m : modules) push_back(std::move(m));
  }
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    modules_.push_back(module);
    return register_module(std::to_string(modules_.size() - 1), std::move(module));
  }
  std::string name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (auto& m : modules_) y = m->forward(y);
    return y;
  }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Holds submodules named "0", "1", ... without calling them: for stacks whose forward
// takes more than one tensor (Transformer layers). Their parameters are "layers.0.xxx".
template <class M>
class ModuleList : public Module {
 public:
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    modules_.push_back(module);
    return register_module(std::to_string(modules_.size() - 1), std::move(module));
  }
  std::string name() const override { return "ModuleList"; }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<M>& operator[](size_t i) const { return modules_.at(i); }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<M>> modules_;
};

}  // namespace gg::nn
