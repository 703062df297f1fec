#pragma once
// Differentiable shape ops. Views share storage with their input (no copy); cat, stack
// and to() copy. Most are also Tensor members: x.reshape({B, -1}), x.transpose(0, 1).
#include <vector>

#include "core/tensor.h"

namespace gg {

Tensor reshape(const Tensor& x, const Shape& shape);  // one size may be -1
Tensor view(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor squeeze(const Tensor& x, int64_t dim);  // dim must have size 1
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);  // differentiable between float types

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// Pieces of `size` along dim (the last may be smaller): views of x.
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim);
// `chunks` pieces of equal size along dim (the last may be smaller), as torch.chunk.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);

}  // namespace gg
