#pragma once
// nn::Module: the base of every layer. A module owns named parameters, buffers and
// submodules; named_parameters() walks them with dotted names
// ("decoder.attention.W_q.weight") that are also the checkpoint keys.
//
// A layer is a class you can read top to bottom:
//   class Linear : public Module {
//    public:
//     Linear(int64_t in, int64_t out) {
//       weight = init::kaiming_uniform(...);
//       register_parameter("weight", weight);
//     }
//     Tensor forward(const Tensor& x) override { return functional::linear(x, weight, bias); }
//     Tensor weight, bias;
//   };
// Registration records where the member lives, so to(DType) and load_state_dict() update
// the member itself.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace gg::nn {

// Parameters and buffers by dotted name, in registration order.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // The type name shown in the module tree ("Linear"), and its sizes ("in=3, out=2").
  virtual std::string name() const = 0;
  virtual std::string extra_repr() const { return ""; }
  // One tensor in, one out: what Sequential calls. Modules with other signatures leave it.
  virtual Tensor forward(const Tensor& x);

  StateDict named_parameters(bool recurse = true) const;
  // Where each parameter lives (recursively, dotted names): assigning through a slot
  // replaces the module's member, as gradcheck_module does to check a whole module.
  std::vector<std::pair<std::string, Tensor*>> parameter_slots() const { return slots(false); }
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::shared_ptr<Module>> children() const;
  int64_t num_parameters() const;  // elements, over all parameters

  void train(bool on = true);  // recursively; Dropout is active only in training
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  // Converts every floating parameter and buffer (recursively); parameters stay leaves
  // that require grad. to(DType::Float64) lets gradcheck check a whole module.
  void to(DType dtype);

  // Parameters then buffers, dotted names. load_state_dict copies values into the existing
  // tensors (so optimizers keep pointing at them) and reports every wrongly shaped key, every
  // dtype that is not the module's, every non-finite value and, when strict, every missing or
  // unexpected key before changing anything.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state, bool strict = true);

  // The module tree, as PyTorch prints it:
  //   Sequential(
  //     (0): Linear(in=2, out=8, bias=true)
  //     (1): Tanh()
  //   )
  std::string str() const;

 protected:
  // `param` is a member of the derived class; an undefined tensor (say, no bias) is skipped.
  void register_parameter(const std::string& name, Tensor& param, bool requires_grad = true);
  void register_buffer(const std::string& name, Tensor& buffer);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_name(name);
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void check_name(const std::string& name) const;
  void collect(const std::string& prefix, bool buffers, bool recurse, StateDict& out) const;
  std::vector<std::pair<std::string, Tensor*>> slots(bool buffers) const;  // recursive, dotted

  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace gg::nn
