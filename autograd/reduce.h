#pragma once
// Differentiable reductions. `dims` may be negative; an empty list reduces over all dims.
#include <vector>

#include "core/tensor.h"

namespace gg {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Variance; correction = 1 divides by N - 1 (torch.var's default), 0 by N.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);

struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
// Largest (smallest) element along dim, and its index; the gradient flows to that element.
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements, 0-d
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);

// Sums x down to `shape`, undoing a broadcast from `shape` to x.shape(). Every backward
// formula of a broadcasting op ends with it.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace gg
