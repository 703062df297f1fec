#pragma once
// gg::Tensor: a cheap handle to shared storage with a shape, strides, an offset and a dtype.
//
// Copying a Tensor copies the handle, not the data: both handles see the same storage and
// the same autograd state. Views (reshape, transpose, narrow, expand, ...) share storage
// too; contiguous() and clone() copy.
//
// The data side (storage, shape, strides, kernels) lives in core/ and knows nothing about
// gradients. The members under "autograd" are declared here so that `x.grad()` and
// `loss.backward()` read naturally, but they are defined in autograd/, and core/ only
// carries the opaque AutogradMeta pointer.
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace gg {

struct AutogradMeta;  // autograd/node.h
struct Node;          // autograd/node.h

// Options for creation functions: gg::zeros({2, 3}, {.dtype = DType::Float64, .requires_grad = true}).
struct TensorOptions {
  DType dtype = DType::Float32;
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype);

  // A new contiguous tensor with uninitialized memory.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32);

  // ---- metadata ------------------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t stride(int64_t dim) const;
  int64_t numel() const { return shape_.numel(); }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

  // ---- raw data ------------------------------------------------------------------------
  // Pointer to the first element (storage + offset); T must match dtype().
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>(), "data<T>");
    return static_cast<T*>(storage_->data()) + offset_;
  }
  void* raw_data() const { return static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_); }

  // The single value of a one-element tensor, converted to T.
  template <class T = double>
  T item() const;
  // All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  std::string str() const;  // multi-line, PyTorch-like; summarizes large tensors

  // ---- views: share storage, record a node when autograd is on --------------------------
  Tensor reshape(const Shape& shape) const;  // a view when the layout allows, a copy otherwise
  Tensor view(const Shape& shape) const;     // always a view; an error if the layout forbids
  Tensor flatten() const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow to one index and drop the dim
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor contiguous() const;  // *this when already contiguous, else a copy
  Tensor clone() const;       // always a copy
  Tensor to(DType dtype) const;

  // ---- in-place writes: no autograd; refused on a leaf that requires grad while grad mode is on
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // src is broadcast to this shape and cast to this dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& mul_(double value);

  // ---- autograd (defined in autograd/) --------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  bool is_leaf() const;                          // true unless produced by a recorded op
  Tensor grad() const;                           // accumulated gradient of a leaf; undefined before backward
  void zero_grad();                              // drops the accumulated gradient
  // A leaf's hook, called by every backward that reaches it once its .grad() is final for that
  // pass (an empty function removes it). Data-parallel training sends gradients from it.
  void set_grad_ready_hook(std::function<void()> hook);
  std::shared_ptr<Node> grad_fn() const;
  // Backpropagates from this tensor into the .grad() of every leaf it depends on. A
  // non-scalar needs `gradient` of its shape (undefined = ones for a scalar). The graph's
  // saved tensors are freed afterwards unless retain_graph is true.
  void backward() const;
  void backward(const Tensor& gradient, bool retain_graph = false) const;
  Tensor detach() const;  // same storage, no autograd history

  // Opaque to core/; see autograd/node.h.
  std::shared_ptr<AutogradMeta> autograd_meta;

 private:
  void check_dtype(DType expected, const char* op) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation --------------------------------------------------------------------------
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});  // 0-d
// [start, end) in steps of `step`; int64 unless options say otherwise.
Tensor arange(double start, double end, double step = 1, TensorOptions options = {.dtype = DType::Int64});
Tensor arange(int64_t end, TensorOptions options = {.dtype = DType::Int64});
// Copies `values` into a tensor of `shape` (a 1-D tensor when shape is empty).
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape = {}, TensorOptions options = {.dtype = dtype_of<T>()});
Tensor tensor(std::initializer_list<double> values, TensorOptions options = {});  // 1-D

// Seeded random tensors; the generator is global and reset by gg::manual_seed (core/random.h).
Tensor randn(const Shape& shape, TensorOptions options = {});
Tensor uniform(const Shape& shape, double low, double high, TensorOptions options = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape);  // int64 in [low, high)

// `like` variants: same shape and dtype as `t` unless options say otherwise.
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor randn_like(const Tensor& t);
Tensor empty_like(const Tensor& t);

}  // namespace gg

template <>
struct fmt::formatter<gg::Tensor> : fmt::formatter<std::string_view> {
  auto format(const gg::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(t.str(), ctx);
  }
};
