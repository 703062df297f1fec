#include "autograd/linalg.h"

#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/kernels.h"

namespace gg {

// forward: Y = A @ B      backward: dA = sum_to(dY @ B^T), dB = sum_to(A^T @ dY)
// The transposes are views: BLAS reads them with its transpose flag, no copy.
struct MatmulBackward : Node {
  SavedTensor a{this}, b{this};
  std::string name() const override { return "MatmulBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor da, db;
    if (needs_grad(0)) da = sum_to(kernel::matmul(dy, b().transpose(-1, -2)), inputs[0].shape);
    if (needs_grad(1)) db = sum_to(kernel::matmul(a().transpose(-1, -2), dy), inputs[1].shape);
    return {da, db};
  }
};

Tensor matmul(const Tensor& a, const Tensor& b) {
  GG_CHECK(a.defined() && b.defined(), "matmul: an input tensor is undefined");
  GG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got shapes {} and {}",
           a.shape(), b.shape());
  const int64_t k_b = b.dim() == 1 ? b.size(0) : b.size(-2);
  GG_CHECK(a.size(-1) == k_b, "matmul: shapes {} and {} cannot be multiplied ({} != {})", a.shape(), b.shape(),
           a.size(-1), k_b);
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).squeeze(-1).squeeze(-1);  // 0-d
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  Tensor y = kernel::matmul(a, b);
  if (needs_grad(a, b)) {
    auto node = std::make_shared<MatmulBackward>();
    if (needs_grad(b)) node->a = a;
    if (needs_grad(a)) node->b = b;
    attach(y, node, {a, b});
  }
  return y;
}

}  // namespace gg
