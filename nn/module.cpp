#include "nn/module.h"

#include <fmt/format.h>

#include <map>
#include <ostream>

#include "autograd/grad_mode.h"
#include "autograd/shape.h"

namespace gg::nn {

Tensor Module::forward(const Tensor&) {
  fail("{}: this module does not take a single tensor; call its own forward(...) overload", name());
}

void Module::check_name(const std::string& name) const {
  GG_CHECK(!name.empty() && name.find('.') == std::string::npos,
           "{}: invalid name '{}' (must be non-empty and contain no '.')", this->name(), name);
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  GG_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), "{}: the name '{}' is already registered",
           this->name(), name);
}

void Module::register_parameter(const std::string& name, Tensor& param, bool requires_grad) {
  check_name(name);
  if (!param.defined()) return;
  GG_CHECK(param.is_floating_point(), "{}: parameter '{}' must be a float tensor, got {}", this->name(), name,
           dtype_name(param.dtype()));
  param = param.detach();  // a parameter is a leaf, whatever computed its initial value
  param.requires_grad_(requires_grad);
  params_.emplace_back(name, &param);
}

void Module::register_buffer(const std::string& name, Tensor& buffer) {
  check_name(name);
  if (buffer.defined()) buffers_.emplace_back(name, &buffer);
}

void Module::collect(const std::string& prefix, bool buffers, bool recurse, StateDict& out) const {
  for (const auto& [n, slot] : buffers ? buffers_ : params_) out.emplace_back(prefix + n, *slot);
  if (!recurse) return;
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", buffers, true, out);
}

std::vector<std::pair<std::string, Tensor*>> Module::slots(bool buffers) const {
  std::vector<std::pair<std::string, Tensor*>> out(buffers ? buffers_ : params_);
  for (const auto& [n, child] : children_)
    for (auto& [cn, slot] : child->slots(buffers)) out.emplace_back(n + "." + cn, slot);
  return out;
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", true, recurse, out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [_, c] : children_) out.push_back(c);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [_, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [_, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [_, slot] : slots(false)) slot->zero_grad();
}

void Module::to(DType dtype) {
  GG_CHECK(is_floating(dtype), "{}.to: modules convert between float types only, got {}", name(), dtype_name(dtype));
  NoGradGuard no_grad;
  for (bool buffers : {false, true})
    for (auto& [_, slot] : slots(buffers)) {
      if (!slot->is_floating_point() || slot->dtype() == dtype) continue;
      const bool trainable = slot->requires_grad();
      *slot = slot->to(dtype);
      if (trainable) slot->requires_grad_(true);
    }
}

StateDict Module::state_dict() const {
  StateDict out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(entry);
  return out;
}

namespace {
// Weights that are NaN or infinite load without complaint otherwise, and poison every output.
int64_t count_non_finite(const Tensor& t) {
  if (!t.is_floating_point()) return 0;
  const Tensor c = t.to(DType::Float64).contiguous();
  const double* p = c.data<double>();
  int64_t bad = 0;
  for (int64_t i = 0; i < c.numel(); ++i) bad += !std::isfinite(p[i]);
  return bad;
}

}  // namespace

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) given[n] = &t;
  std::vector<std::pair<std::string, Tensor*>> targets = slots(false);
  for (auto& entry : slots(true)) targets.push_back(entry);

  std::vector<std::string> problems;
  std::map<std::string, bool> known;
  for (const auto& [n, slot] : targets) {
    known[n] = true;
    auto it = given.find(n);
    if (it == given.end()) {
      if (strict) problems.push_back(fmt::format("missing key '{}' (expected shape {})", n, slot->shape()));
    } else if (it->second->shape() != slot->shape()) {
      problems.push_back(fmt::format("key '{}' has shape {}, but the module expects {}", n, it->second->shape(),
                                     slot->shape()));
    } else if (it->second->dtype() != slot->dtype()) {
      problems.push_back(fmt::format("key '{}' is {}, but the module expects {} (convert it with .to() first)", n,
                                     dtype_name(it->second->dtype()), dtype_name(slot->dtype())));
    } else if (const int64_t bad = count_non_finite(*it->second); bad > 0) {
      problems.push_back(fmt::format("key '{}' holds {} non-finite value{} (NaN or infinity) of {}", n, bad,
                                     bad == 1 ? "" : "s", it->second->numel()));
    }
  }
  if (strict)
    for (const auto& [n, t] : state)
      if (!known.count(n)) problems.push_back(fmt::format("unexpected key '{}' (shape {})", n, t.shape()));
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    fail("{}.load_state_dict: the state does not fit this module (nothing was loaded):{}", name(), all);
  }
  NoGradGuard no_grad;
  for (const auto& [n, slot] : targets)
    if (auto it = given.find(n); it != given.end()) slot->copy_(*it->second);
}

namespace {
void print_tree(const Module& m, const std::string& indent, std::string& out) {
  out += m.name() + "(" + m.extra_repr();
  auto children = m.named_children();
  if (children.empty()) {
    out += ")";
    return;
  }
  if (!m.extra_repr().empty()) out += ",";
  out += "\n";
  for (const auto& [n, c] : children) {
    out += indent + "  (" + n + "): ";
    print_tree(*c, indent + "  ", out);
    out += "\n";
  }
  out += indent + ")";
}
}  // namespace

std::string Module::str() const {
  std::string out;
  print_tree(*this, "", out);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace gg::nn
