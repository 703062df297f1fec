// Tensor handles, creation functions and views (metadata only).
#include "core/tensor.h"

#include <fmt/ranges.h>

#include <cmath>

#include "core/kernels.h"
#include "core/random.h"

namespace gg {

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t s : shape) GG_CHECK(s >= 0, "empty: negative size in shape {}", shape);
  const int64_t n = shape.numel();
  int64_t bytes = 0;
  GG_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(dtype)), &bytes),
           "empty: a {} tensor of shape {} needs more bytes than a 64-bit count holds", dtype_name(dtype), shape);
  std::shared_ptr<Storage> storage;
  try {
    storage = std::make_shared<Storage>(static_cast<size_t>(bytes));
  } catch (const std::bad_alloc&) {
    fail("empty: out of memory allocating a {} tensor of shape {} ({:.1f} GiB)", dtype_name(dtype), shape,
         static_cast<double>(bytes) / (1 << 30));
  }
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

// wrap_dim lets a 0-d tensor take dim 0 (for reductions), but it has no size to read.
int64_t Tensor::size(int64_t dim) const {
  GG_CHECK(this->dim() > 0, "size: a 0-d tensor has no dims (asked for dim {})", dim);
  return shape_[wrap_dim(dim, this->dim(), "size")];
}
int64_t Tensor::stride(int64_t dim) const {
  GG_CHECK(this->dim() > 0, "stride: a 0-d tensor has no dims (asked for dim {})", dim);
  return strides_[wrap_dim(dim, this->dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;  // the stride of a size-1 dim never matters
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void Tensor::check_dtype(DType expected, const char* op) const {
  GG_CHECK(defined(), "{}: the tensor is undefined (default-constructed)", op);
  GG_CHECK(dtype_ == expected, "{}: tensor has dtype {}, but {} was requested", op, dtype_name(dtype_),
           dtype_name(expected));
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  GG_CHECK(defined(), "to_vector: the tensor is undefined (default-constructed)");
  std::vector<T> out(static_cast<size_t>(numel()));
  Tensor flat = kernel::contiguous(*this);  // also the place where a cast would go
  visit_dtype(dtype_, [&]<class S>() {
    const S* p = flat.data<S>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

template <class T>
T Tensor::item() const {
  GG_CHECK(defined() && numel() == 1, "item: expected a tensor with one element, got shape {}",
           defined() ? shape_ : Shape{});
  return to_vector<T>()[0];
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int> Tensor::to_vector<int>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template int Tensor::item<int>() const;
template bool Tensor::item<bool>() const;

// ---- creation -------------------------------------------------------------------------------

namespace {
Tensor finish(Tensor t, TensorOptions options) {
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = Tensor::empty(shape, options.dtype);
  kernel::fill(t, value);
  return finish(t, options);
}
Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  GG_CHECK(step != 0, "arange: step must be nonzero");
  auto n = static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  Tensor t = Tensor::empty({n}, options.dtype);
  visit_dtype(options.dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return finish(t, options);
}
Tensor arange(int64_t end, TensorOptions options) { return arange(0, static_cast<double>(end), 1, options); }

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  Shape s = shape.empty() ? Shape{static_cast<int64_t>(values.size())} : shape;
  GG_CHECK(s.numel() == static_cast<int64_t>(values.size()),
           "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), s, s.numel());
  Tensor t = Tensor::empty(s, options.dtype);
  visit_dtype(options.dtype, [&]<class S>() {
    S* p = t.data<S>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<S>(values[i]);
  });
  return finish(t, options);
}
template Tensor from_vector(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<int>&, const Shape&, TensorOptions);

Tensor tensor(std::initializer_list<double> values, TensorOptions options) {
  return from_vector(std::vector<double>(values), {}, options);
}

Tensor randn(const Shape& shape, TensorOptions options) {
  Tensor t = Tensor::empty(shape, options.dtype);
  visit_floating(options.dtype, "randn", [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(global_generator().normal());
  });
  return finish(t, options);
}

Tensor uniform(const Shape& shape, double low, double high, TensorOptions options) {
  GG_CHECK(low <= high, "uniform: low {} is greater than high {}", low, high);
  Tensor t = Tensor::empty(shape, options.dtype);
  visit_floating(options.dtype, "uniform", [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * global_generator().uniform());
  });
  return finish(t, options);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape) {
  GG_CHECK(low < high, "randint: empty range [{}, {})", low, high);
  Tensor t = Tensor::empty(shape, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + global_generator().below(static_cast<uint64_t>(high - low));
  return t;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype()}); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, {.dtype = t.dtype()}); }
Tensor randn_like(const Tensor& t) { return randn(t.shape(), {.dtype = t.dtype()}); }
Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype()); }

// ---- views ----------------------------------------------------------------------------------

namespace kernel {

Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  return Tensor(x.storage(), shape, strides, offset, x.dtype());
}

Shape infer_shape(const Shape& shape, int64_t numel, std::string_view op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      GG_CHECK(infer < 0, "{}: only one dimension can be -1, got {}", op, shape);
      infer = static_cast<int>(i);
    } else {
      GG_CHECK(out[i] >= 0, "{}: invalid size {} in shape {}", op, out[i], shape);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    GG_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for input of shape {} ({} elements)", op,
             shape, from, numel);
    out[infer] = numel / known;
  }
  GG_CHECK(out.numel() == numel, "{}: shape {} is invalid for input of shape {} ({} elements vs {})", op, shape,
           from, out.numel(), numel);
  return out;
}

namespace {
// Strides for viewing x as `shape` without copying, if the layout allows it (the
// algorithm of PyTorch's computeStride: each group of merged dims must be contiguous).
bool view_strides(const Tensor& x, const Shape& shape, Strides& out) {
  out.assign(shape.size(), 0);
  if (x.numel() == 0 || x.is_contiguous()) {
    out = contiguous_strides(shape);
    return true;
  }
  const Shape& old_shape = x.shape();
  const Strides& old_strides = x.strides();
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1;
  int64_t view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}
}  // namespace

bool can_view(const Tensor& x, const Shape& shape) {
  Strides strides;
  return view_strides(x, infer_shape(shape, x.numel(), "view", x.shape()), strides);
}

Tensor view(const Tensor& x, const Shape& shape) {
  Shape target = infer_shape(shape, x.numel(), "view", x.shape());
  Strides strides;
  GG_CHECK(view_strides(x, target, strides),
           "view: a tensor of shape {} with strides [{}] cannot be viewed as {} without a copy; "
           "hint: use reshape(), or call contiguous() first",
           x.shape(), fmt::join(x.strides(), ", "), target);
  return as_strided(x, target, strides, x.offset());
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  GG_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: got {} dims [{}] for a tensor of shape {}",
           dims.size(), fmt::join(dims, ", "), x.shape());
  Shape shape(dims.size());
  Strides strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    GG_CHECK(!seen[d], "permute: dim {} repeats in [{}]", d, fmt::join(dims, ", "));
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  return as_strided(x, shape, strides, x.offset());
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  GG_CHECK(x.dim() > 0, "narrow: a 0-d tensor has no dim to narrow");
  int64_t d = wrap_dim(dim, x.dim(), "narrow");
  int64_t size = x.shape()[d];
  if (start < 0) start += size;
  GG_CHECK(start >= 0 && length >= 0 && start + length <= size,
           "narrow: range [{}, {}) is out of bounds for dim {} of size {} (shape {})", start, start + length, d, size,
           x.shape());
  Shape shape = x.shape();
  shape[d] = length;
  return as_strided(x, shape, x.strides(), x.offset() + start * x.strides()[d]);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  GG_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand shape {} to {} (fewer dims)", x.shape(), shape);
  Shape target = shape;
  size_t lead = shape.size() - x.shape().size();
  for (size_t i = 0; i < lead; ++i)
    GG_CHECK(target[i] >= 0, "expand: size {} is not allowed for new leading dim {} (expanding {} to {})", target[i],
             i, x.shape(), shape);
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (target[lead + i] == -1) target[lead + i] = x.shape()[i];
    GG_CHECK(x.shape()[i] == target[lead + i] || x.shape()[i] == 1,
             "expand: cannot expand shape {} to {} (dim {}: {} is not 1)", x.shape(), shape, lead + i, x.shape()[i]);
  }
  return as_strided(x, target, broadcast_strides(x.shape(), x.strides(), target), x.offset());
}

}  // namespace kernel
}  // namespace gg
