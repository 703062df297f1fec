// The backward engine, and the autograd members of Tensor. run_backward reads as the README
// says it in three sentences:
//   count_consumers  walks the graph from the root iteratively (a recursive walk overflows the
//                    stack on a long RNN unroll), counting the edges into every node and leaf;
//   run_node         runs a node once all of its consumers have added to its gradient;
//   add_to_leaf,     sum each input's gradient in one place: into a leaf's .grad(), or into
//   add_to_pending   the pending gradient of the node that produced the input (a slice of it
//                    for ops like cat; in place when nothing else holds the sum).
// Leaves also collects the weight gradients that nodes defer (node.h, DeferredGrad), computing
// each weight's as one product once its last edge is done, and runs grad_ready hooks.
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/profiler.h"

namespace gg {
namespace {

void check_grad_shape(const Tensor& g, const Edge& e, const Node& node, size_t input, const Node::Slice& slice) {
  Shape expected = e.shape;
  if (slice.dim >= 0) {  // a slice along dim: its size there, inside the input
    const bool fits = slice.dim < g.dim() && slice.start >= 0 && slice.start + g.size(slice.dim) <= e.shape[slice.dim];
    GG_CHECK(fits, "backward: {} returned a gradient of shape {} for input {} of shape {}, which a slice at {} along dim "
             "{} does not fit", node.name(), g.shape(), input, e.shape, slice.start, slice.dim);
    expected[slice.dim] = g.size(slice.dim);
  }
  GG_CHECK(g.shape() == expected && g.dtype() == e.dtype,
           "backward: {} returned a gradient of shape {} ({}) for input {}, which has shape {} ({})", node.name(),
           g.shape(), dtype_name(g.dtype()), input, expected, dtype_name(e.dtype));
}

// ---- the ways a gradient is added --------------------------------------------------------------

void accumulate_leaf(AutogradMeta& leaf, const Tensor& g) {
  if (!leaf.grad.defined()) leaf.grad = kernel::clone(g);  // own the storage: g may be shared
  else kernel::axpy(leaf.grad, 1.0, g);
}

// The same for a gradient computed here, that nothing else holds: no copy needed.
void accumulate_leaf_fresh(AutogradMeta& leaf, Tensor g) {
  if (!leaf.grad.defined()) leaf.grad = std::move(g);
  else kernel::axpy(leaf.grad, 1.0, g);
}

// True when t is the only handle on its memory (no view, saved tensor or caller shares it),
// so that adding into it in place cannot change anything else.
bool sole_owner(const Tensor& t) { return t.storage().use_count() == 1 && t.is_contiguous(); }

// Adds g, the gradient of a slice of an input of `shape`, into `total`, that input's summed
// gradient so far (undefined: none yet); into a copy of it unless in_place.
void add_slice(Tensor& total, const Tensor& g, const Node::Slice& slice, const Shape& shape, bool in_place) {
  if (!total.defined()) total = zeros(shape, {.dtype = g.dtype()});
  else if (!in_place) total = kernel::clone(total);
  kernel::axpy(kernel::narrow(total, slice.dim, slice.start, g.size(slice.dim)), 1.0, g);
}

// g, the gradient of an input that is a leaf, added to its .grad() (in place: the leaf owns it).
void add_to_leaf(AutogradMeta& leaf, const Tensor& g, const Node::Slice& slice, const Shape& shape) {
  if (slice.dim < 0) accumulate_leaf(leaf, g);
  else add_slice(leaf.grad, g, slice, shape, /*in_place=*/true);
}

// g, the gradient of an input that another node produced, added to that node's pending output
// gradient `sum`: as the first contribution, in place when nothing else holds the sum, or as a
// new tensor (a node may have handed out the sum's storage, e.g. as a view of its input).
void add_to_pending(Tensor& sum, const Tensor& g, const Node::Slice& slice, const Shape& shape) {
  if (slice.dim >= 0) add_slice(sum, g, slice, shape, sole_owner(sum));
  else if (!sum.defined()) sum = g;
  else if (sole_owner(sum)) kernel::axpy(sum, 1.0, g);
  else sum = kernel::binary(kernel::Binary::Add, sum, g);
}

// Rows of several [N_i, C] matrices stacked into one [sum N_i, C] (one of them: itself).
Tensor stack_rows(const std::vector<const Tensor*>& parts) {
  if (parts.size() == 1) return *parts[0];
  std::vector<Tensor> ts;
  for (const Tensor* t : parts) ts.push_back(*t);
  return kernel::cat(ts, 0);
}

// Every deferred use of one weight (and bias), summed: see DeferredGrad in node.h.
void flush_deferred(const std::vector<DeferredGrad>& uses) {
  autocast precision(uses[0].precision);
  std::vector<const Tensor*> dys, xs;
  for (const DeferredGrad& u : uses) {
    dys.push_back(&u.dy);
    xs.push_back(&u.x);
  }
  const Tensor dy = stack_rows(dys), x = stack_rows(xs);
  AutogradMeta& w = *uses[0].weight;
  if (uses[0].kind == DeferredGrad::Kind::Rows) {  // dW[ids[i]] += dy[i], straight into .grad()
    if (!w.grad.defined()) w.grad = zeros(uses[0].weight_shape, {.dtype = dy.dtype()});
    else if (!w.grad.is_contiguous()) w.grad = kernel::clone(w.grad);
    kernel::index_add_(w.grad, 0, x, dy);
    return;
  }
  if (w.grad.defined() && w.grad.is_contiguous()) kernel::matmul_into(w.grad, kernel::permute(dy, {1, 0}), x, 1.0);
  else accumulate_leaf_fresh(w, kernel::matmul(kernel::permute(dy, {1, 0}), x));
  if (uses[0].bias) accumulate_leaf_fresh(*uses[0].bias, kernel::sum(dy, {0}, false));
}

// The leaves of one backward pass: how many edges into each are left, and the deferred weight
// gradients (grouped by weight, bias, kind and precision). A group is computed as soon as the
// last edge into its weight has been processed, so that a weight used once (an output layer)
// frees its dy as early as if nothing had been deferred. A leaf's gradient is then final, and
// its grad_ready hook runs: once no edge into it is left and no deferred group still owes it a
// bias gradient.
class Leaves {
 public:
  void count_use(AutogradMeta* leaf) { ++uses_left_[leaf]; }
  void add(DeferredGrad&& d) {
    auto& group = groups_[{d.weight.get(), d.bias.get(), d.kind, d.precision}];
    group.push_back(std::move(d));
  }
  void edge_done(AutogradMeta* leaf) {
    if (--uses_left_[leaf] > 0) return;
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (std::get<0>(it->first) != leaf) {
        ++it;
        continue;
      }
      AutogradMeta* bias = std::get<1>(it->first);
      flush_deferred(it->second);
      it = groups_.erase(it);
      if (bias && uses_left_[bias] == 0) finished(bias);
    }
    finished(leaf);
  }
  void flush_all() {
    for (auto& [key, group] : groups_) flush_deferred(group);
    groups_.clear();
    for (auto& [leaf, left] : uses_left_) finished(leaf);
  }

 private:
  void finished(AutogradMeta* leaf) {
    for (const auto& [key, group] : groups_)
      if (std::get<1>(key) == leaf) return;  // a bias whose weight's group is still to come
    if (leaf->grad_ready && done_.insert(leaf).second) leaf->grad_ready();
  }

  std::unordered_map<AutogradMeta*, int> uses_left_;
  std::unordered_set<AutogradMeta*> done_;  // whose hook ran
  // (weight, bias, kind, precision): a tied embedding is both an embedding and an output layer,
  // and uses inside and outside gg::autocast are summed in their own precisions.
  using Key = std::tuple<AutogradMeta*, AutogradMeta*, DeferredGrad::Kind, Precision>;
  std::map<Key, std::vector<DeferredGrad>> groups_;
};

// For every node reachable from root, how many edges from other nodes lead to it; leaves count
// the edges that lead to each leaf.
std::unordered_map<Node*, int> count_consumers(Node* root, Leaves& leaves) {
  std::unordered_map<Node*, int> consumers{{root, 0}};
  std::vector<Node*> stack{root};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& e : node->inputs) {
      if (e.leaf) leaves.count_use(e.leaf.get());
      if (!e.fn) continue;
      auto [it, first_visit] = consumers.try_emplace(e.fn.get(), 0);
      ++it->second;
      if (first_visit) stack.push_back(e.fn.get());
    }
  }
  return consumers;
}

// One node's backward on g, the sum of its output's gradients: a gradient per input (undefined
// for an input that needs none), its deferred weight gradients handed to `leaves`.
std::vector<Tensor> run_node(Node& node, const Tensor& g, Leaves& leaves) {
  GG_CHECK(!node.released(),
           "backward: trying to go through {} a second time, but the graph was freed after the first backward; "
           "hint: call backward(gradient, /*retain_graph=*/true) the first time",
           node.name());
  std::vector<Tensor> grads;
  {
    autocast precision(node.precision);  // products in backward run as forward's did
    grads = node.backward(g);
  }
  GG_CHECK(grads.size() == node.inputs.size(), "backward: {} returned {} gradients for {} inputs", node.name(),
           grads.size(), node.inputs.size());
  for (DeferredGrad& d : node.deferred) leaves.add(std::move(d));
  node.deferred.clear();
  return grads;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  NoGradGuard no_grad;  // backward formulas record nothing
  ProfileSection section("backward");
  const std::shared_ptr<Node>& root_fn = root.autograd_meta->grad_fn;
  if (!root_fn) {  // backward on a leaf: its gradient is `grad`
    accumulate_leaf(*root.autograd_meta, grad);
    if (root.autograd_meta->grad_ready) root.autograd_meta->grad_ready();
    return;
  }
  Leaves leaves;
  std::unordered_map<Node*, int> consumers = count_consumers(root_fn.get(), leaves);
  // Run each node once all of its consumers have added their gradients to its pending one.
  std::unordered_map<Node*, Tensor> pending{{root_fn.get(), grad}};
  std::vector<Node*> ready{root_fn.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor g;
    if (auto it = pending.find(node); it != pending.end()) {
      g = std::move(it->second);
      pending.erase(it);
    }
    // No gradient reached this node: none reaches its inputs either.
    const std::vector<Tensor> grads = g.defined() ? run_node(*node, g, leaves) : std::vector<Tensor>();
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Edge& e = node->inputs[i];
      const Tensor gi = i < grads.size() ? grads[i] : Tensor();
      if (gi.defined() && e.needed()) {
        const Node::Slice slice = node->grad_slice(i);
        check_grad_shape(gi, e, *node, i, slice);
        if (e.leaf) add_to_leaf(*e.leaf, gi, slice, e.shape);
        if (e.fn) add_to_pending(pending[e.fn.get()], gi, slice, e.shape);
      }
      if (e.leaf) leaves.edge_done(e.leaf.get());
      if (e.fn && --consumers[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
    if (!retain_graph) node->release();
  }
  leaves.flush_all();  // no group is left when every node ran; kept so that no gradient can be lost
}

// ---- Tensor's autograd members ----------------------------------------------------------------

bool Tensor::requires_grad() const { return autograd_meta && autograd_meta->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  GG_CHECK(defined(), "requires_grad_: the tensor is undefined");
  GG_CHECK(is_leaf(),
           "requires_grad_: only leaf tensors can change requires_grad; this one was produced by {}; hint: use "
           "detach() to make a leaf",
           autograd_meta->grad_fn->name());
  GG_CHECK(!on || is_floating_point(),
           "requires_grad_: only float tensors can require gradients, got {} of shape {}", dtype_name(dtype_), shape_);
  if (!autograd_meta) autograd_meta = std::make_shared<AutogradMeta>();
  autograd_meta->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !autograd_meta || !autograd_meta->grad_fn; }

Tensor Tensor::grad() const { return autograd_meta ? autograd_meta->grad : Tensor(); }

void Tensor::zero_grad() {
  if (autograd_meta) autograd_meta->grad = Tensor();
}

void Tensor::set_grad_ready_hook(std::function<void()> hook) {
  GG_CHECK(requires_grad() && is_leaf(), "set_grad_ready_hook: only a leaf that requires grad has a gradient to wait "
           "for; this tensor of shape {} is {}", shape_, requires_grad() ? "not a leaf" : "not requiring grad");
  autograd_meta->grad_ready = std::move(hook);
}

std::shared_ptr<Node> Tensor::grad_fn() const { return autograd_meta ? autograd_meta->grad_fn : nullptr; }

void Tensor::backward() const { backward(Tensor()); }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  GG_CHECK(defined(), "backward: the tensor is undefined");
  GG_CHECK(requires_grad(),
           "backward: this tensor of shape {} does not require grad and has no grad_fn; hint: did an input call "
           "requires_grad_(), and was grad mode on (no NoGradGuard) when it was computed?",
           shape_);
  Tensor g = gradient;
  if (!g.defined()) {
    GG_CHECK(numel() == 1,
             "backward: a gradient can be created implicitly only for a scalar output, got shape {}; hint: reduce "
             "with sum() or mean() first, or pass a gradient of shape {}",
             shape_, shape_);
    g = ones(shape_, {.dtype = dtype_});
  }
  GG_CHECK(g.shape() == shape_ && g.dtype() == dtype_,
           "backward: gradient of shape {} ({}) does not match the output's shape {} ({})", g.shape(),
           dtype_name(g.dtype()), shape_, dtype_name(dtype_));
  run_backward(*this, g, retain_graph);
}

Tensor Tensor::detach() const { return Tensor(storage_, shape_, strides_, offset_, dtype_); }

// ---- in-place writes ----------------------------------------------------------------------------

namespace {
void check_inplace(const Tensor& t, const char* op) {
  GG_CHECK(t.defined(), "{}: the tensor is undefined", op);
  GG_CHECK(!needs_grad(t),
           "{}: a tensor that requires grad (shape {}) cannot be modified in place while grad mode is on, because "
           "autograd does not record in-place ops; hint: wrap the update in gg::NoGradGuard, as optimizers do",
           op, t.shape());
}
}  // namespace

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  kernel::fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  kernel::copy(*this, src);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  kernel::axpy(*this, alpha, other);
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  kernel::scale(*this, value);
  return *this;
}

}  // namespace gg
