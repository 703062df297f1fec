#include "autograd/linalg.h"

#include "autograd/elementwise.h"
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
    if (needs_grad(1)) {
      const Tensor& av = a();
      if (inputs[1].shape.size() == 2 && av.dim() > 2) {
        // b [K, N] was shared by every batch: db = sum_i a_i^T dy_i is one GEMM over the
        // stacked rows, instead of a [batch, K, N] product summed afterwards.
        const int64_t K = av.size(-1), N = dy.size(-1);
        const Tensor a2 = kernel::view(kernel::contiguous(av), {-1, K});
        db = kernel::matmul(a2.transpose(0, 1), kernel::view(kernel::contiguous(dy), {-1, N}));
      } else {
        db = sum_to(kernel::matmul(av.transpose(-1, -2), dy), inputs[1].shape);
      }
    }
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

// forward: Y = X W^T + b      backward: dX = dY W,  dW = dY^T X,  db = sum of dY's rows
// X [..., in] is read as [N, in]; W [out, in]; b [out]. As PyTorch's addmm: the bias is written
// first and the GEMM adds to it. dW comes out in W's own [out, in] layout; matmul(X, W.t())
// would give a transposed gradient that every later copy reads column by column.
struct LinearBackward : Node {
  SavedTensor x{this}, w{this};  // x as [N, in], contiguous
  std::string name() const override { return "LinearBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const int64_t out = inputs[1].shape[0];
    const Tensor dy = kernel::view(kernel::contiguous(dy_in), {-1, out});  // [N, out]
    Tensor dx, dw, db;
    if (needs_grad(0)) dx = kernel::view(kernel::matmul(dy, w()), inputs[0].shape);
    // A leaf weight (and bias): the engine sums dy^T x over every use in one GEMM (node.h).
    if (inputs[1].leaf && (!needs_grad(2) || inputs[2].leaf)) {
      deferred.push_back({DeferredGrad::Kind::Linear, inputs[1].leaf, needs_grad(2) ? inputs[2].leaf : nullptr, dy, x(),
                          inputs[1].shape});
      return {dx, Tensor(), Tensor()};
    }
    if (needs_grad(1)) dw = kernel::matmul(dy.transpose(0, 1), x());
    if (needs_grad(2)) db = kernel::sum(dy, {0}, false);
    return {dx, dw, db};
  }
};

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool fused) {
  GG_CHECK(weight.defined() && weight.dim() == 2, "linear: weight must be 2-D [out, in], got shape {}",
           weight.defined() ? weight.shape() : Shape{});
  GG_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == weight.size(1),
           "linear: input of shape {} does not fit weight of shape {} (expected last dim {}); hint: the layer "
           "was built for {} input features",
           x.defined() ? x.shape() : Shape{}, weight.shape(), weight.size(1), weight.size(1));
  GG_CHECK(x.dtype() == weight.dtype() && x.is_floating_point(),
           "linear: the input is {} but the layer's weight is {}; hint: convert the module with "
           "module.to(gg::DType::{}) or the input with .to(...)",
           dtype_name(x.dtype()), dtype_name(weight.dtype()), x.dtype() == DType::Float64 ? "Float64" : "Float32");
  const int64_t in = weight.size(1), out = weight.size(0);
  GG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == out && bias.dtype() == weight.dtype()),
           "linear: bias must be {} [{}] for a weight of shape {}, got {} of shape {}", dtype_name(weight.dtype()), out,
           weight.shape(), bias.defined() ? dtype_name(bias.dtype()) : "undefined", bias.defined() ? bias.shape() : Shape{});
  if (!fused) {  // the composed twin
    const Tensor y = matmul(x, weight.transpose(0, 1));
    return bias.defined() ? add(y, bias) : y;
  }
  Shape out_shape = x.shape();
  out_shape.back() = out;
  int64_t rows = 1;  // N: the leading dims flattened
  for (int64_t d = 0; d + 1 < x.dim(); ++d) rows *= x.size(d);
  const Tensor x2 = kernel::view(kernel::contiguous(x), {rows, in});
  Tensor y = Tensor::empty({x2.size(0), out}, x.dtype());
  if (bias.defined()) kernel::matmul_bias_into(y, x2, weight.transpose(0, 1), bias);  // X W^T + b
  else kernel::matmul_into(y, x2, weight.transpose(0, 1), 0.0);
  y = kernel::view(y, out_shape);
  if (needs_grad(x, weight, bias)) {
    auto node = std::make_shared<LinearBackward>();
    if (needs_grad(weight)) node->x = x2;
    if (needs_grad(x)) node->w = weight;
    attach(y, node, {x, weight, bias});
  }
  return y;
}

}  // namespace gg
