#pragma once
// The autograd graph. Every differentiable op that sees an input requiring grad records
// one Node: a named struct (MulBackward, MatmulBackward, ...) that holds what backward
// needs and maps the output's gradient to one gradient per input. Nodes point to the
// nodes of their inputs through Edges; leaves (parameters, user inputs) are reached
// through their AutogradMeta, where the engine accumulates their .grad().
//
// Writing an op (see autograd/elementwise.cpp for many):
//   // forward: y = tanh(x)      backward: dx = dy * (1 - y*y)
//   struct TanhBackward : Node {
//     SavedTensor y{this};
//     std::string name() const override { return "TanhBackward"; }
//     std::vector<Tensor> backward(const Tensor& dy) override { return {dy * (1 - y() * y())}; }
//   };
//   Tensor tanh(const Tensor& x) {
//     Tensor y = kernel::unary(kernel::Unary::Tanh, x);
//     if (needs_grad(x)) { auto node = std::make_shared<TanhBackward>(); node->y = y; attach(y, node, {x}); }
//     return y;
//   }
// backward() runs with grad mode off, so it may use the same gg:: ops as forward code.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/autocast.h"
#include "core/tensor.h"

namespace gg {

// Autograd state of one tensor. Leaves have no grad_fn and accumulate `grad`.
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  // A leaf's hook, run by backward once `grad` is final for the pass: no edge into the leaf
  // is left to process and its deferred products are summed. Data-parallel training starts
  // sending a gradient from here, while backward goes on (dist/data_parallel.h).
  std::function<void()> grad_ready;
};

// Where the gradient for one input of a node goes.
struct Edge {
  std::shared_ptr<Node> fn;            // the node that produced the input, or
  std::shared_ptr<AutogradMeta> leaf;  // the leaf that accumulates its gradient;
  Shape shape;                         // neither: the input needs no gradient
  DType dtype = DType::Float32;
  bool needed() const { return fn || leaf; }
};

class SavedTensor;

// A weight gradient left for the engine to compute, summed over every use of the weight in
// one backward pass. An RNN cell applies the same weight at every time step; each step's
// product has as few rows as the batch, a GEMM that thin runs far below the machine's peak,
// and an embedding's per-step gradient would be a dense [V, E] matrix mostly of zeros. The
// engine collects the uses of a leaf and, once the last one is in, stacks their rows and
// does the sum in one go (as cuDNN's RNNs do): see run_backward.
struct DeferredGrad {
  enum class Kind {
    Linear,  // dW += dy^T x (dy [N, out], x [N, in]); db += the sum of dy's rows
    Rows,    // dW[x[i], :] += dy[i, :] (x int64 ids [N], dy [N, E]): an embedding
  };
  Kind kind = Kind::Linear;
  std::shared_ptr<AutogradMeta> weight, bias;  // leaves; bias may be null
  Tensor dy, x;
  Shape weight_shape;
  Precision precision = matmul_precision();  // of the products that made dy: dW's product runs in it too
};

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node();

  virtual std::string name() const = 0;
  // One gradient per input, given the gradient of the output; an undefined tensor
  // where an input needs none (check needs_grad(i) to skip the work).
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;

  // Where the gradient backward() returns for input i lands: all of the input (dim < 0), or
  // only the slice [start, start + its size) along dim, the rest being zero. narrow and select
  // use it, so that the engine adds their gradient into that slice of the input's gradient
  // instead of receiving a zero-filled tensor as large as the input per use (one per time step
  // when a decoder reads step t of a precomputed [B, T, ...] tensor).
  struct Slice {
    int64_t dim = -1, start = 0;
  };
  virtual Slice grad_slice(size_t /*input*/) const { return {}; }

  bool needs_grad(size_t input) const { return inputs[input].needed(); }
  // Frees what was saved for backward; backward through this node again is an error.
  void release();
  bool released() const { return released_; }

  std::vector<Edge> inputs;
  // Filled by backward() instead of returning a leaf weight's gradient; the engine takes it.
  std::vector<DeferredGrad> deferred;
  Shape shape;  // of the output, for graph printing and error messages
  DType dtype = DType::Float32;
  // The precision of matrix products when the node was made (gg::autocast): backward's run in it.
  Precision precision = matmul_precision();

 private:
  friend class SavedTensor;
  std::vector<SavedTensor*> saved_;
  bool released_ = false;
};

// A tensor a node keeps for backward. It keeps the data, not the autograd history (so an
// op's output can be saved without a reference cycle), and the storage version at save
// time, so that an in-place write in between is reported instead of giving wrong numbers.
class SavedTensor {
 public:
  explicit SavedTensor(Node* owner) : owner_(owner) { owner->saved_.push_back(this); }
  SavedTensor(const SavedTensor&) = delete;
  SavedTensor& operator=(const SavedTensor&) = delete;
  SavedTensor& operator=(const Tensor& t);
  const Tensor& operator()() const;  // the saved value; throws if freed or overwritten
  void reset() { data_ = Tensor(); }

 private:
  Node* owner_;
  Tensor data_;
  uint64_t version_ = 0;
};

// True when grad mode is on and any argument requires grad: the op must record a node.
bool needs_grad(const Tensor& t);
template <class... Ts>
bool needs_grad(const Tensor& first, const Ts&... rest) {
  return needs_grad(first) || (needs_grad(rest) || ...);
}
bool needs_grad(const std::vector<Tensor>& ts);

// Makes `node` the grad_fn of `out`, with one edge per input.
void attach(Tensor& out, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs);

// The engine (autograd/engine.cpp): backpropagates `grad` from `root` into every leaf's .grad().
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace gg
