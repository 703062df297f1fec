// Indexing kernels: index_select / index_add (embedding lookup and its backward),
// gather / scatter_add, one_hot, cat.
#include <cstring>

#include "core/kernels.h"
#include "core/profiler.h"

namespace gg::kernel {
namespace {

// x viewed as [outer, size(dim), inner].
struct Split3 {
  int64_t outer = 1, n = 1, inner = 1;
};
Split3 split3(const Shape& shape, int64_t d) {
  Split3 s;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < d) s.outer *= shape[i];
    else if (i == d) s.n = shape[i];
    else s.inner *= shape[i];
  }
  return s;
}

void check_index(const Tensor& index, std::string_view op) {
  GG_CHECK(index.defined() && index.dtype() == DType::Int64,
           "{}: indices must be an int64 tensor, got {}; hint: convert with .to(gg::DType::Int64)", op,
           index.defined() ? dtype_name(index.dtype()) : "an undefined tensor");
}

void check_bound(int64_t i, int64_t size, int64_t dim, const Shape& shape, std::string_view op) {
  if (i < 0 || i >= size)
    fail("{}: index {} is out of range for dim {} of size {} (input shape {}); hint: with an embedding, "
         "a token id at or beyond the vocabulary size",
         op, i, dim, size, shape);
}

// index and src must match x's shape on every dim but `d` (src matches index on all dims).
void check_gather_shapes(const Tensor& x, int64_t d, const Tensor& index, std::string_view op) {
  bool ok = index.dim() == x.dim();
  for (int64_t i = 0; ok && i < x.dim(); ++i) ok = i == d || index.shape()[i] == x.shape()[i];
  GG_CHECK(ok, "{}: index of shape {} must match the input's shape {} on every dim but dim {}", op, index.shape(),
           x.shape(), d);
}

}  // namespace

Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& index_in) {
  GG_PROFILE("index_select");
  check_index(index_in, "index_select");
  GG_CHECK(index_in.dim() <= 1, "index_select: indices must be 1-D, got shape {}; hint: flatten() them first",
           index_in.shape());
  const int64_t d = wrap_dim(dim, x_in.dim(), "index_select");
  const Tensor x = contiguous(x_in), index = contiguous(index_in);
  const Split3 s = split3(x.shape(), d);
  const int64_t count = index.numel();
  const int64_t* ix = index.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) check_bound(ix[i], s.n, d, x.shape(), "index_select");
  Shape shape = x.shape();
  if (x.dim() > 0) shape[d] = count;
  Tensor out = Tensor::empty(shape, x.dtype());
  const size_t row_bytes = static_cast<size_t>(s.inner) * dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(po + (o * count + i) * row_bytes, px + (o * s.n + ix[i]) * row_bytes, row_bytes);
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = clone(x);
  index_add_(out, dim, index, src);
  return out;
}

void index_add_(const Tensor& out, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GG_PROFILE("index_add");
  const Tensor& x = out;
  GG_CHECK(out.is_contiguous(), "index_add_: the destination (shape {}) must be contiguous; hint: .contiguous()",
           out.shape());
  check_index(index_in, "index_add");
  const int64_t d = wrap_dim(dim, x.dim(), "index_add");
  const Tensor index = contiguous(index_in), src = contiguous(src_in);
  Shape expected = x.shape();
  if (x.dim() > 0) expected[d] = index.numel();
  GG_CHECK(index.dim() <= 1 && src.shape() == expected,
           "index_add: source of shape {} does not fit input {} with {} indices along dim {} (expected {})",
           src.shape(), x.shape(), index.numel(), d, expected);
  out.storage()->bump_version();
  const Split3 s = split3(x.shape(), d);
  const int64_t count = index.numel();
  const int64_t* ix = index.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) check_bound(ix[i], s.n, d, x.shape(), "index_add");
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* ps = src.data<T>();
      T* po = out.data<T>();
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < count; ++i) {
          T* dst = po + (o * s.n + ix[i]) * s.inner;
          const T* row = ps + (o * count + i) * s.inner;
          for (int64_t k = 0; k < s.inner; ++k) dst[k] += row[k];
        }
    }
  });
}

Tensor gather(const Tensor& x_in, int64_t dim, const Tensor& index_in) {
  GG_PROFILE("gather");
  check_index(index_in, "gather");
  const int64_t d = wrap_dim(dim, x_in.dim(), "gather");
  check_gather_shapes(x_in, d, index_in, "gather");
  const Tensor x = contiguous(x_in), index = contiguous(index_in);
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  const Split3 sx = split3(x.shape(), d), si = split3(index.shape(), d);
  const int64_t* ix = index.data<int64_t>();
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < si.outer; ++o)
      for (int64_t j = 0; j < si.n; ++j)
        for (int64_t k = 0; k < si.inner; ++k) {
          const int64_t at = (o * si.n + j) * si.inner + k;
          check_bound(ix[at], sx.n, d, x.shape(), "gather");
          po[at] = px[(o * sx.n + ix[at]) * sx.inner + k];
        }
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GG_PROFILE("scatter_add");
  check_index(index_in, "scatter_add");
  const int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  check_gather_shapes(x, d, index_in, "scatter_add");
  GG_CHECK(src_in.shape() == index_in.shape() && src_in.dtype() == x.dtype(),
           "scatter_add: source ({} {}) must have the index's shape {} and the input's dtype {}", src_in.shape(),
           dtype_name(src_in.dtype()), index_in.shape(), dtype_name(x.dtype()));
  const Tensor index = contiguous(index_in), src = contiguous(src_in);
  Tensor out = clone(x);
  const Split3 sx = split3(x.shape(), d), si = split3(index.shape(), d);
  const int64_t* ix = index.data<int64_t>();
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* ps = src.data<T>();
      T* po = out.data<T>();
      for (int64_t o = 0; o < si.outer; ++o)
        for (int64_t j = 0; j < si.n; ++j)
          for (int64_t k = 0; k < si.inner; ++k) {
            const int64_t at = (o * si.n + j) * si.inner + k;
            check_bound(ix[at], sx.n, d, x.shape(), "scatter_add");
            po[(o * sx.n + ix[at]) * sx.inner + k] += ps[at];
          }
    }
  });
  return out;
}

Tensor one_hot(const Tensor& index_in, int64_t num_classes) {
  GG_PROFILE("one_hot");
  check_index(index_in, "one_hot");
  GG_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got {}", num_classes);
  const Tensor index = contiguous(index_in);
  Shape shape = index.shape();
  shape.push_back(num_classes);
  Tensor out = zeros(shape, {.dtype = DType::Int64});
  const int64_t* ix = index.data<int64_t>();
  int64_t* po = out.data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i) {
    check_bound(ix[i], num_classes, index.dim(), shape, "one_hot");
    po[i * num_classes + ix[i]] = 1;
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  GG_PROFILE("cat");
  GG_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  GG_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated; hint: use stack()");
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    bool ok = t.dim() == first.dim();
    for (int64_t k = 0; ok && k < t.dim(); ++k) ok = k == d || t.shape()[k] == first.shape()[k];
    GG_CHECK(ok, "cat: tensor {} has shape {}, but tensor 0 has shape {}; all must match except on dim {}", i,
             t.shape(), first.shape(), d);
    GG_CHECK(t.dtype() == first.dtype(), "cat: tensor {} has dtype {}, but tensor 0 has {}", i,
             dtype_name(t.dtype()), dtype_name(first.dtype()));
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(shape, first.dtype());
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    copy(narrow(out, d, at, t.shape()[d]), t);
    at += t.shape()[d];
  }
  return out;
}

}  // namespace gg::kernel
