#include "autograd/node.h"

namespace gg {

namespace {
thread_local bool grad_enabled = true;
}  // namespace

bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }

Node::~Node() {
  // Destroying a long chain (a 10,000-step RNN unroll) recursively would overflow the
  // stack: unlink the inputs we are the last owner of and destroy them in a loop. Other
  // edges are dropped on the way, so a node that two edges lead to (x * x) is seen by the
  // second with a use count of 1, instead of being destroyed recursively with the vector.
  std::vector<std::shared_ptr<Node>> doomed;
  auto unlink = [&doomed](std::vector<Edge>& edges) {
    for (Edge& e : edges) {
      if (e.fn && e.fn.use_count() == 1) doomed.push_back(std::move(e.fn));
      else e.fn.reset();
    }
  };
  unlink(inputs);
  while (!doomed.empty()) {
    std::shared_ptr<Node> node = std::move(doomed.back());
    doomed.pop_back();
    unlink(node->inputs);
  }
}

void Node::release() {
  for (SavedTensor* s : saved_) s->reset();
  released_ = true;
}

SavedTensor& SavedTensor::operator=(const Tensor& t) {
  data_ = t.detach();
  version_ = t.defined() ? t.storage()->version() : 0;
  return *this;
}

const Tensor& SavedTensor::operator()() const {
  GG_CHECK(!owner_->released(),
           "backward: trying to go through {} a second time, but its saved tensors were freed after the first "
           "backward; hint: call backward(gradient, /*retain_graph=*/true) the first time",
           owner_->name());
  GG_CHECK(!data_.defined() || data_.storage()->version() == version_,
           "backward: a tensor of shape {} saved by {} was modified in place after it was saved (version {} -> {}); "
           "hint: use an out-of-place op (x = x + y instead of x.add_(y)), or clone() before modifying",
           data_.shape(), owner_->name(), version_, data_.storage()->version());
  return data_;
}

bool needs_grad(const Tensor& t) { return GradMode::is_enabled() && t.requires_grad(); }

bool needs_grad(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (needs_grad(t)) return true;
  return false;
}

void attach(Tensor& out, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs) {
  node->inputs.clear();
  for (const Tensor& in : inputs) {
    Edge e;
    e.shape = in.shape();
    e.dtype = in.dtype();
    if (in.requires_grad()) {
      if (in.autograd_meta->grad_fn) e.fn = in.autograd_meta->grad_fn;
      else e.leaf = in.autograd_meta;
    }
    node->inputs.push_back(std::move(e));
  }
  node->shape = out.shape();
  node->dtype = out.dtype();
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = node;
  out.autograd_meta = std::move(meta);
}

}  // namespace gg
