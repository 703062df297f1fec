// The fused layer norm and its backward node (see autograd/fused_layer_norm.h); the loops are
// core/layer_norm.cpp's.
#include "autograd/fused_layer_norm.h"

#include "autograd/node.h"
#include "core/kernels.h"

namespace gg {

struct LayerNormBackward : Node {
  SavedTensor x{this}, w{this}, mean{this}, rstd{this};  // x as [N, n]; mean, rstd [N]
  bool has_weight = false;
  std::string name() const override { return "LayerNormBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor xs = x();
    const Tensor dy = kernel::view(kernel::contiguous(dy_in), xs.shape());
    kernel::LayerNormGrads g = kernel::layer_norm_backward(xs, dy, has_weight ? w() : Tensor(), mean(), rstd(),
                                                           needs_grad(1) || needs_grad(2));
    auto shaped = [&](const Tensor& grad, size_t input) {
      return needs_grad(input) ? kernel::view(grad, inputs[input].shape) : Tensor();
    };
    return {shaped(g.dx, 0), shaped(g.dweight, 1), shaped(g.dbias, 2)};
  }
};

Tensor layer_norm_fused(const Tensor& x, int64_t n, const Tensor& weight, const Tensor& bias, double eps) {
  GG_CHECK(x.defined() && x.is_floating_point(), "layer_norm_fused: x must be a float tensor");
  GG_CHECK(n >= 1 && x.numel() % n == 0, "layer_norm_fused: {} elements per row do not divide x of shape {}", n, x.shape());
  for (const Tensor* t : {&weight, &bias})
    GG_CHECK(!t->defined() || (t->numel() == n && t->dtype() == x.dtype()),
             "layer_norm_fused: weight and bias must have {} {} elements, got {} of shape {}", n, dtype_name(x.dtype()),
             dtype_name(t->dtype()), t->shape());
  const int64_t N = x.numel() / n;
  const Tensor xs = kernel::view(kernel::contiguous(x), {N, n});
  const Tensor w = weight.defined() ? kernel::contiguous(weight) : Tensor(), b = bias.defined() ? kernel::contiguous(bias) : Tensor();
  kernel::LayerNormOut out = kernel::layer_norm(xs, w, b, eps);  // y [N, n], mean and rstd [N]
  Tensor y = kernel::view(out.y, x.shape());
  if (needs_grad(x, weight, bias)) {
    auto node = std::make_shared<LayerNormBackward>();
    node->x = xs;
    if (w.defined()) {
      node->w = w;
      node->has_weight = true;
    }
    node->mean = out.mean;
    node->rstd = out.rstd;
    attach(y, node, {x, weight, bias});
  }
  return y;
}

}  // namespace gg
