// Shape ops and their backward nodes, and the Tensor members that forward to them.
#include "autograd/shape.h"

#include <numeric>

#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/kernels.h"

namespace gg {

// forward: y = x viewed as another shape (reshape, view, squeeze, unsqueeze)
// backward: dx = dy reshaped back to x's shape
struct ReshapeBackward : Node {
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.reshape(inputs[0].shape)}; }
};
static Tensor reshaped(const Tensor& x, const Tensor& y, const char* label) {
  Tensor out = y;
  if (needs_grad(x)) {
    auto node = std::make_shared<ReshapeBackward>();
    node->label = label;
    attach(out, node, {x});
  }
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = kernel::infer_shape(shape, x.numel(), "reshape", x.shape());
  Tensor y = kernel::can_view(x, target) ? kernel::view(x, target) : kernel::view(kernel::clone(x), target);
  return reshaped(x, y, "ReshapeBackward");
}

Tensor view(const Tensor& x, const Shape& shape) { return reshaped(x, kernel::view(x, shape), "ViewBackward"); }

Tensor squeeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  GG_CHECK(x.dim() == 0 || x.shape()[d] == 1, "squeeze: dim {} has size {}, not 1 (shape {})", d, x.shape()[d],
           x.shape());
  if (x.dim() == 0) return x;
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return reshaped(x, kernel::as_strided(x, shape, strides, x.offset()), "SqueezeBackward");
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  Strides strides = x.strides();
  int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return reshaped(x, kernel::as_strided(x, shape, strides, x.offset()), "UnsqueezeBackward");
}

// forward: y = x with dims reordered      backward: dx = dy with the inverse order
struct PermuteBackward : Node {
  std::vector<int64_t> inverse;
  std::string name() const override { return "PermuteBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.permute(inverse)}; }
};
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor y = kernel::permute(x, dims);
  if (needs_grad(x)) {
    auto node = std::make_shared<PermuteBackward>();
    node->inverse.resize(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) node->inverse[wrap_dim(dims[i], x.dim(), "permute")] = static_cast<int64_t>(i);
    attach(y, node, {x});
  }
  return y;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t d0 = wrap_dim(dim0, x.dim(), "transpose"), d1 = wrap_dim(dim1, x.dim(), "transpose");
  if (x.dim() == 0) return x;  // dims 0 and -1 of a 0-d tensor: nothing to swap
  std::vector<int64_t> order(x.dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[d0], order[d1]);
  return permute(x, order);
}

// forward: y = x[start : start + length] along dim      backward: dx = zeros with dy placed at that range
// (the engine places it: grad_slice tells it where, see autograd/node.h)
struct NarrowBackward : Node {
  int64_t dim = 0, start = 0;
  std::string name() const override { return "NarrowBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy}; }
  Slice grad_slice(size_t) const override { return {dim, start}; }
};
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  Tensor y = kernel::narrow(x, dim, start, length);
  if (needs_grad(x)) {
    auto node = std::make_shared<NarrowBackward>();
    node->dim = wrap_dim(dim, x.dim(), "narrow");
    node->start = start < 0 ? start + x.shape()[node->dim] : start;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = x broadcast to a larger shape      backward: dx = sum_to(dy, x.shape)
struct ExpandBackward : Node {
  std::string name() const override { return "ExpandBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {sum_to(dy, inputs[0].shape)}; }
};
Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor y = kernel::expand(x, shape);
  if (needs_grad(x)) attach(y, std::make_shared<ExpandBackward>(), {x});
  return y;
}

// forward: y = a copy of x      backward: dx = dy
struct CopyBackward : Node {
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy}; }
};
static Tensor copied(const Tensor& x, Tensor y, const char* label) {
  if (needs_grad(x)) {
    auto node = std::make_shared<CopyBackward>();
    node->label = label;
    attach(y, node, {x});
  }
  return y;
}
Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : copied(x, kernel::clone(x), "ContiguousBackward"); }
Tensor clone(const Tensor& x) { return copied(x, kernel::clone(x), "CloneBackward"); }

// forward: y = x converted to another dtype      backward: dx = dy converted back
struct ToBackward : Node {
  std::string name() const override { return "ToBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {kernel::cast(dy, inputs[0].dtype)}; }
};
Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor y = kernel::cast(x, dtype);
  if (needs_grad(x) && is_floating(dtype)) attach(y, std::make_shared<ToBackward>(), {x});
  return y;
}

// forward: y = [x0; x1; ...] along dim      backward: dx_i = dy[offset_i : offset_i + size_i]
struct CatBackward : Node {
  int64_t dim = 0;
  std::string name() const override { return "CatBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> grads;
    int64_t at = 0;
    for (const Edge& e : inputs) {
      grads.push_back(e.needed() ? dy.narrow(dim, at, e.shape[dim]) : Tensor());
      at += e.shape[dim];
    }
    return grads;
  }
};
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = kernel::cat(tensors, dim);
  if (needs_grad(tensors)) {
    auto node = std::make_shared<CatBackward>();
    node->dim = wrap_dim(dim, y.dim(), "cat");
    attach(y, node, tensors);
  }
  return y;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  GG_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  for (size_t i = 1; i < tensors.size(); ++i)
    GG_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor {} has shape {}, but tensor 0 has shape {}", i,
             tensors[i].shape(), tensors[0].shape());
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, d));
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) {
  GG_CHECK(size > 0, "split: size must be positive, got {}", size);
  GG_CHECK(x.dim() > 0, "split: a 0-d tensor has no dim to split");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  std::vector<Tensor> pieces;
  for (int64_t at = 0; at < x.shape()[d]; at += size) pieces.push_back(narrow(x, d, at, std::min(size, x.shape()[d] - at)));
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  GG_CHECK(chunks > 0, "chunk: the number of chunks must be positive, got {}", chunks);
  GG_CHECK(x.dim() > 0, "chunk: a 0-d tensor has no dim to chunk");
  const int64_t n = x.shape()[wrap_dim(dim, x.dim(), "chunk")];
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

// ---- Tensor members -----------------------------------------------------------------------------

Tensor Tensor::reshape(const Shape& shape) const { return gg::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return gg::view(*this, shape); }
Tensor Tensor::flatten() const { return gg::reshape(*this, {-1}); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return gg::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const {
  GG_CHECK(dim() == 2, "t: expected a 2-D tensor, got shape {}; hint: use transpose(dim0, dim1)", shape_);
  return gg::transpose(*this, 0, 1);
}
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return gg::permute(*this, dims); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return gg::narrow(*this, dim, start, length);
}
Tensor Tensor::select(int64_t dim, int64_t index) const {
  GG_CHECK(this->dim() > 0, "select: a 0-d tensor has no dim to select from");
  const int64_t d = wrap_dim(dim, this->dim(), "select");
  GG_CHECK(index >= -shape_[d] && index < shape_[d], "select: index {} is out of range for dim {} of size {} (shape {})",
           index, d, shape_[d], shape_);
  return gg::squeeze(gg::narrow(*this, d, index < 0 ? index + shape_[d] : index, 1), d);
}
Tensor Tensor::squeeze(int64_t dim) const { return gg::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int64_t dim) const { return gg::unsqueeze(*this, dim); }
Tensor Tensor::expand(const Shape& shape) const { return gg::expand(*this, shape); }
Tensor Tensor::contiguous() const { return gg::contiguous(*this); }
Tensor Tensor::clone() const { return gg::clone(*this); }
Tensor Tensor::to(DType dtype) const { return gg::to(*this, dtype); }

}  // namespace gg
