#pragma once
// Differentiable indexing. Indices are int64 tensors and get no gradient.
#include "core/tensor.h"

namespace gg {

// Slices of x at `index` (1-D) along dim; an embedding lookup is index_select(weight, 0, ids).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[i][j] = x[i][index[i][j]] for dim 1 (and likewise for any dim), as torch.gather.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// x with the slices of src added at index (1-D) along dim, as torch.index_add: the reverse of
// index_select; repeated indices add up.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// index_add(zeros, 0, index, src) with zeros of `rows` rows, written once instead of being
// made and then copied: the rows of src scattered into a larger tensor (nn::Packing::unpack).
Tensor index_add_to_zeros(int64_t rows, const Tensor& index, const Tensor& src);
// x with src added at index along dim, as torch.scatter_add.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// int64 [...] -> int64 [..., num_classes]; no gradient.
Tensor one_hot(const Tensor& index, int64_t num_classes);

}  // namespace gg
