// Reductions and their backward nodes.
#include "autograd/reduce.h"

#include <algorithm>

#include "autograd/elementwise.h"
#include "autograd/node.h"
#include "autograd/shape.h"
#include "core/kernels.h"

namespace gg {
namespace {

// The shape the gradient has with keepdim=true, so it broadcasts against the input. A 0-d
// input accepts dim 0 (wrap_dim allows it, as PyTorch does) but has no size to set.
Shape keepdim_shape(const Shape& in, std::vector<int64_t> dims) {
  const auto nd = static_cast<int64_t>(in.size());
  Shape out = in;
  if (nd == 0) return out;
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  for (int64_t d : dims) out[wrap_dim(d, nd, "sum")] = 1;
  return out;
}

int64_t reduced_count(const Shape& in, const std::vector<int64_t>& dims) {
  if (dims.empty() || in.empty()) return in.numel();
  int64_t n = 1;
  for (int64_t d : dims) n *= in[wrap_dim(d, static_cast<int64_t>(in.size()), "mean")];
  return n;
}

}  // namespace

// forward: y = sum_{dims} x      backward: dx = expand(dy, x.shape)
struct SumBackward : Node {
  std::vector<int64_t> dims;
  double scale = 1.0;  // 1/N for mean
  bool is_mean = false;  // not scale != 1: a mean over one element has scale 1 too
  std::string name() const override { return is_mean ? "MeanBackward" : "SumBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Shape& in = inputs[0].shape;
    Tensor g = dy.reshape(keepdim_shape(in, dims)).expand(in);
    return {scale == 1.0 ? g : g * scale};  // an expanded view: no copy
  }
};
static Tensor sum_or_mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_mean) {
  Tensor y = is_mean ? kernel::mean(x, dims, keepdim) : kernel::sum(x, dims, keepdim);
  if (needs_grad(x)) {
    auto node = std::make_shared<SumBackward>();
    node->dims = dims;
    if (is_mean) node->scale = 1.0 / static_cast<double>(reduced_count(x.shape(), dims));
    node->is_mean = is_mean;
    attach(y, node, {x});
  }
  return y;
}
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, false);
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, true);
}

// forward: y = sum (x - mean)^2 / (N - c)      backward: dx = dy * 2 (x - mean) / (N - c)
struct VarBackward : Node {
  SavedTensor x{this};
  std::vector<int64_t> dims;
  int64_t correction = 1;
  std::string name() const override { return "VarBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Shape& in = inputs[0].shape;
    const double n = static_cast<double>(reduced_count(in, dims));
    Tensor centered = x() - mean(x(), dims, true);
    return {dy.reshape(keepdim_shape(in, dims)) * centered * (2.0 / (n - static_cast<double>(correction)))};
  }
};
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  Tensor y = kernel::var(x, dims, correction, keepdim);
  if (needs_grad(x)) {
    auto node = std::make_shared<VarBackward>();
    node->x = x;
    node->dims = dims;
    node->correction = correction;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = x[..., argmax, ...] along dim      backward: dx = zeros with dy scattered at the indices
struct MaxBackward : Node {
  SavedTensor indices{this};  // keepdim shape
  int64_t dim = 0;
  bool is_max = true;
  std::string name() const override { return is_max ? "MaxBackward" : "MinBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Shape& in = inputs[0].shape;
    Tensor g = dy.reshape(indices().shape());
    return {kernel::scatter_add(zeros(in, {.dtype = dy.dtype()}), dim, indices(), g)};
  }
};
static ValuesIndices extremum(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  auto [values, indices] = is_max ? kernel::max(x, dim, keepdim) : kernel::min(x, dim, keepdim);
  if (needs_grad(x)) {
    auto node = std::make_shared<MaxBackward>();
    const int64_t d = wrap_dim(dim, x.dim(), is_max ? "max" : "min");
    node->indices = x.dim() == 0 ? indices : indices.reshape(keepdim_shape(x.shape(), {d}));
    node->dim = d;
    node->is_max = is_max;
    attach(values, node, {x});
  }
  return {values, indices};
}
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return extremum(x, dim, keepdim, true); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extremum(x, dim, keepdim, false); }
Tensor max(const Tensor& x) { return max(x.reshape({-1}), 0).values; }
Tensor min(const Tensor& x) { return min(x.reshape({-1}), 0).values; }
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return kernel::max(x, dim, keepdim).second; }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return kernel::min(x, dim, keepdim).second; }

// forward: y = sum_to(x, shape)      backward: dx = expand(dy, x.shape)
struct SumToBackward : Node {
  std::string name() const override { return "SumToBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.expand(inputs[0].shape)}; }
};
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor y = kernel::sum_to(x, shape);
  if (needs_grad(x)) attach(y, std::make_shared<SumToBackward>(), {x});
  return y;
}

}  // namespace gg
