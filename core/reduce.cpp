// Reductions: sum, mean, var, max/min with indices, sum_to.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/kernels.h"
#include "core/profiler.h"
#include "core/parallel.h"

namespace gg::kernel {
namespace {

// Accumulate float32 sums in double: a long float sum loses digits otherwise.
template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Sorted, unique, wrapped dims; empty `dims` means all of them.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, std::string_view op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    out.resize(ndim);
    std::iota(out.begin(), out.end(), 0);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  if (ndim == 0) return {};  // a 0-d tensor accepts dim 0 or -1, and has no dim to index
  std::sort(out.begin(), out.end());
  GG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: dim {} appears more than once in [{}]", op,
           *std::adjacent_find(out.begin(), out.end()), fmt::join(dims, ", "));
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Sums x over `dims` into a contiguous tensor of `out_dtype`, [kept dims in order].
template <class T, class TO>
void sum_kernel(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const int64_t nd = x.dim();
  int64_t inner = 1;  // product of reduced sizes
  for (int64_t d : dims) inner *= x.shape()[d];
  const int64_t outer = x.numel() / std::max<int64_t>(inner, 1);
  TO* o = out.data<TO>();
  if (inner == 0 || x.numel() == 0) {
    std::fill(o, o + out.numel(), TO(0));
    return;
  }
  bool suffix = true, prefix = true;  // are the reduced dims the last ones, or the first ones?
  for (size_t i = 0; i < dims.size(); ++i) {
    suffix = suffix && dims[i] == nd - static_cast<int64_t>(dims.size()) + static_cast<int64_t>(i);
    prefix = prefix && dims[i] == static_cast<int64_t>(i);
  }
  if (prefix && !suffix && x.is_contiguous()) {
    // Column sums: [inner, outer] -> [outer] (a bias gradient), each thread summing a band of
    // columns row by row, reading memory in order; every column is summed in the same order
    // whatever the thread count.
    const T* p = x.data<T>();
    parallel_for(outer, std::max<int64_t>(64, kParallelGrain / inner), [&](int64_t c0, int64_t c1) {
      std::vector<Acc<T>> acc(static_cast<size_t>(c1 - c0), Acc<T>(0));
      Acc<T>* a = acc.data();
      for (int64_t r = 0; r < inner; ++r) {
        const T* row = p + r * outer + c0;
#pragma omp simd
        for (int64_t c = 0; c < c1 - c0; ++c) a[c] += static_cast<Acc<T>>(row[c]);
      }
      for (int64_t c = c0; c < c1; ++c) o[c] = static_cast<TO>(a[c - c0]);
    });
    return;
  }
  Tensor rows = x;
  if (!suffix || !x.is_contiguous()) {  // bring the reduced dims to the end and copy
    std::vector<int64_t> order;
    for (int64_t d = 0; d < nd; ++d)
      if (!std::binary_search(dims.begin(), dims.end(), d)) order.push_back(d);
    order.insert(order.end(), dims.begin(), dims.end());
    rows = contiguous(permute(x, order));
  }
  const T* p = rows.data<T>();
  parallel_for(outer, std::max<int64_t>(1, kParallelGrain / inner), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      Acc<T> acc = 0;
      const T* row = p + r * inner;
      for (int64_t j = 0; j < inner; ++j) acc += static_cast<Acc<T>>(row[j]);
      o[r] = static_cast<TO>(acc);
    }
  });
}

template <bool kMax>
std::pair<Tensor, Tensor> arg_reduce(const Tensor& x, int64_t dim, bool keepdim, std::string_view op) {
  GG_PROFILE(op);
  GG_CHECK(x.dtype() != DType::Bool, "{}: not defined for bool tensors", op);
  int64_t d = wrap_dim(dim, x.dim(), op);
  int64_t n = x.dim() == 0 ? 1 : x.shape()[d];
  GG_CHECK(n > 0, "{}: cannot reduce over dim {} of size 0 (shape {})", op, d, x.shape());
  std::vector<int64_t> dims = x.dim() == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{d};
  Shape out_shape = reduced_shape(x.shape(), dims, keepdim);
  Tensor values = Tensor::empty(out_shape, x.dtype());
  Tensor indices = Tensor::empty(out_shape, DType::Int64);
  std::vector<int64_t> order;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != d) order.push_back(i);
  if (x.dim() > 0) order.push_back(d);
  Tensor rows = contiguous(permute(x, order));
  const int64_t outer = x.numel() / n;
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* p = rows.data<T>();
    T* v = values.data<T>();
    int64_t* ix = indices.data<int64_t>();
    for (int64_t r = 0; r < outer; ++r) {
      const T* row = p + r * n;
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j) {
        bool better = kMax ? row[j] > row[best] : row[j] < row[best];
        if (better || (row[j] != row[j] && row[best] == row[best])) best = j;  // NaN wins, as in PyTorch
      }
      v[r] = row[best];
      ix[r] = best;
    }
  });
  return {values, indices};
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  GG_PROFILE("sum");
  GG_CHECK(x.defined(), "sum: the input tensor is undefined");
  std::vector<int64_t> d = normalize_dims(dims, x.dim(), "sum");
  DType out_dtype = x.dtype() == DType::Bool ? DType::Int64 : x.dtype();  // summing a mask counts it
  Tensor out = Tensor::empty(reduced_shape(x.shape(), d, keepdim), out_dtype);
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) sum_kernel<T, int64_t>(x, d, out);
    else sum_kernel<T, T>(x, d, out);
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  GG_PROFILE("mean");
  GG_CHECK(x.defined() && x.is_floating_point(), "mean: expected a float tensor, got {}; hint: convert with .to(...)",
           x.defined() ? dtype_name(x.dtype()) : "an undefined tensor");
  std::vector<int64_t> d = normalize_dims(dims, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t i : d) n *= x.shape()[i];
  Tensor out = sum(x, d, keepdim);
  scale(out, 1.0 / static_cast<double>(n));
  return out;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  GG_PROFILE("var");
  GG_CHECK(x.defined() && x.is_floating_point(), "var: expected a float tensor, got {}",
           x.defined() ? dtype_name(x.dtype()) : "an undefined tensor");
  std::vector<int64_t> d = normalize_dims(dims, x.dim(), "var");
  int64_t n = 1;
  for (int64_t i : d) n *= x.shape()[i];
  GG_CHECK(n - correction > 0, "var: {} elements with correction {} leave no degrees of freedom (shape {})", n,
           correction, x.shape());
  Tensor centered = binary(Binary::Sub, x, mean(x, d, true));  // two passes: no cancellation
  Tensor out = sum(unary(Unary::Square, centered), d, keepdim);
  scale(out, 1.0 / static_cast<double>(n - correction));
  return out;
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce<true>(x, dim, keepdim, "max");
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce<false>(x, dim, keepdim, "min");
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  GG_PROFILE("sum_to");
  if (x.shape() == shape) return x;
  GG_CHECK(x.dim() >= static_cast<int64_t>(shape.size()), "sum_to: cannot sum shape {} down to {} (more dims)",
           x.shape(), shape);
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
      continue;
    }
    int64_t target = shape[d - lead];
    GG_CHECK(target == x.shape()[d] || target == 1, "sum_to: shape {} is not a broadcast of {} (dim {}: {} vs {})",
             x.shape(), shape, d, x.shape()[d], target);
    if (target == 1 && x.shape()[d] != 1) dims.push_back(d);
  }
  Tensor out = dims.empty() ? x : sum(x, dims, true);
  return view(contiguous(out), shape);
}

}  // namespace gg::kernel
