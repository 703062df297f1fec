#include "autograd/index.h"

#include "autograd/node.h"
#include "core/kernels.h"

namespace gg {

// forward: y = x[index] along dim      backward: dx = zeros, dy rows added at index (repeats add up)
struct IndexSelectBackward : Node {
  SavedTensor index{this};
  int64_t dim = 0;
  std::string name() const override { return "IndexSelectBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = zeros(inputs[0].shape, {.dtype = dy.dtype()});
    kernel::index_add_(dx, dim, index(), dy);  // in place: kernel::index_add would copy the zeros first
    return {dx, Tensor()};
  }
};
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = kernel::index_select(x, dim, index);
  if (needs_grad(x)) {
    auto node = std::make_shared<IndexSelectBackward>();
    node->index = index;
    node->dim = wrap_dim(dim, x.dim(), "index_select");
    attach(y, node, {x, index});
  }
  return y;
}

// forward: y = x; y[index] += src along dim      backward: dx = dy, dsrc = index_select(dy, dim, index)
struct IndexAddBackward : Node {
  SavedTensor index{this};
  int64_t dim = 0;
  std::string name() const override { return "IndexAddBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_grad(0) ? dy : Tensor(), Tensor(), needs_grad(2) ? kernel::index_select(dy, dim, index()) : Tensor()};
  }
};
// Records y = x + src at index along dim (x may be undefined: zeros).
static void record_index_add(Tensor& y, const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  if (!needs_grad(x, src)) return;
  auto node = std::make_shared<IndexAddBackward>();
  node->index = index;
  node->dim = dim;
  attach(y, node, {x, index, src});
}
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  GG_CHECK(x.defined() && src.defined() && x.dtype() == src.dtype(),
           "index_add: x and src must have one dtype, got {} {} and {} {}",
           x.defined() ? dtype_name(x.dtype()) : "undefined", x.defined() ? x.shape() : Shape{},
           src.defined() ? dtype_name(src.dtype()) : "undefined", src.defined() ? src.shape() : Shape{});
  Tensor y = kernel::index_add(x, dim, index, src);
  record_index_add(y, x, wrap_dim(dim, x.dim(), "index_add"), index, src);
  return y;
}

Tensor index_add_to_zeros(int64_t rows, const Tensor& index, const Tensor& src) {
  GG_CHECK(src.defined() && src.dim() >= 1 && rows >= 0,
           "index_add_to_zeros: expected src [N, ...] and rows >= 0, got {} and {}", src.defined() ? src.shape() : Shape{},
           rows);
  Shape shape = src.shape();
  shape[0] = rows;
  Tensor y = zeros(shape, {.dtype = src.dtype()});
  kernel::index_add_(y, 0, index, src);
  record_index_add(y, Tensor(), 0, index, src);  // index_add's node, with no x
  return y;
}

// forward: y = gather(x, dim, index)      backward: dx = scatter_add(zeros, dim, index, dy)
struct GatherBackward : Node {
  SavedTensor index{this};
  int64_t dim = 0;
  std::string name() const override { return "GatherBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::scatter_add(zeros(inputs[0].shape, {.dtype = dy.dtype()}), dim, index(), dy), Tensor()};
  }
};
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = kernel::gather(x, dim, index);
  if (needs_grad(x)) {
    auto node = std::make_shared<GatherBackward>();
    node->index = index;
    node->dim = wrap_dim(dim, x.dim(), "gather");
    attach(y, node, {x, index});
  }
  return y;
}

// forward: y = x; y[index] += src along dim      backward: dx = dy, dsrc = gather(dy, dim, index)
struct ScatterAddBackward : Node {
  SavedTensor index{this};
  int64_t dim = 0;
  std::string name() const override { return "ScatterAddBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_grad(0) ? dy : Tensor(), Tensor(), needs_grad(2) ? kernel::gather(dy, dim, index()) : Tensor()};
  }
};
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor y = kernel::scatter_add(x, dim, index, src);
  if (needs_grad(x, src)) {
    auto node = std::make_shared<ScatterAddBackward>();
    node->index = index;
    node->dim = wrap_dim(dim, x.dim(), "scatter_add");
    attach(y, node, {x, index, src});
  }
  return y;
}

Tensor one_hot(const Tensor& index, int64_t num_classes) { return kernel::one_hot(index, num_classes); }

}  // namespace gg
