// softmax, log_softmax and masked_softmax: fused kernels (core/softmax.cpp) with closed-form
// backward, each one pass over the rows. The composed forms they must agree with, which
// fused = false selects (tested in tests/autograd/test_softmax.cpp and tests/nn/test_attention.cpp):
//   softmax(x)              = exp(x - max) / sum(exp(x - max))
//   log_softmax(x)          = (x - max) - log(sum(exp(x - max)))
//   masked_softmax(x, mask) = masked_fill(softmax(masked_fill(x, mask, -1e9)), mask, 0)
#include "autograd/softmax.h"

#include "autograd/elementwise.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/kernels.h"

namespace gg {

// forward: y = softmax(x)      backward: dx = y * (dy - sum(dy * y, dim))
struct SoftmaxBackward : Node {
  SavedTensor y{this};
  int64_t dim = 0;
  std::string name() const override { return "SoftmaxBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::softmax_backward(y(), dy, dim)};  // y * (dy - sum(dy * y, dim))
  }
};
Tensor softmax(const Tensor& x, int64_t dim, bool fused) {
  if (!fused) {  // the composed twin
    const Tensor e = exp(x - max(x, dim, true).values);
    return e / sum(e, {dim}, true);
  }
  Tensor y = kernel::softmax(x, dim);
  if (needs_grad(x)) {
    auto node = std::make_shared<SoftmaxBackward>();
    node->y = y;
    node->dim = wrap_dim(dim, x.dim(), "softmax");
    attach(y, node, {x});
  }
  return y;
}

// Masked keys have y = 0, so SoftmaxBackward gives them no gradient: the mask is not needed.
Tensor masked_softmax(const Tensor& x, const Tensor& mask) {
  if (!mask.defined()) return softmax(x, -1);
  Tensor y = kernel::masked_softmax(x, mask);
  if (needs_grad(x)) {
    auto node = std::make_shared<SoftmaxBackward>();
    node->y = y;
    node->dim = x.dim() - 1;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = log_softmax(x)      backward: dx = dy - exp(y) * sum(dy, dim)
struct LogSoftmaxBackward : Node {
  SavedTensor y{this};
  int64_t dim = 0;
  std::string name() const override { return "LogSoftmaxBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::log_softmax_backward(y(), dy, dim)};  // dy - exp(y) * sum(dy, dim)
  }
};
Tensor log_softmax(const Tensor& x, int64_t dim, bool fused) {
  if (!fused) {  // the composed twin
    const Tensor shifted = x - max(x, dim, true).values;
    return shifted - log(sum(exp(shifted), {dim}, true));
  }
  Tensor y = kernel::log_softmax(x, dim);
  if (needs_grad(x)) {
    auto node = std::make_shared<LogSoftmaxBackward>();
    node->y = y;
    node->dim = wrap_dim(dim, x.dim(), "log_softmax");
    attach(y, node, {x});
  }
  return y;
}

}  // namespace gg
