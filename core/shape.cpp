#include "core/shape.h"

#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"

namespace gg {

int64_t Shape::numel() const {
  if (std::find(begin(), end(), 0) != end()) return 0;  // whatever the other sizes
  int64_t n = 1;
  for (int64_t s : *this)
    GG_CHECK(!__builtin_mul_overflow(n, s, &n), "shape {} has more elements than a 64-bit count holds", *this);
  return n;
}

std::string Shape::str() const { return fmt::format("[{}]", fmt::join(*this, ", ")); }

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    // Checked although numel() may be 0: [0, 2^62, 4] has no elements, but a stride of 2^64.
    GG_CHECK(!__builtin_mul_overflow(s, shape[i], &s), "shape {} has strides larger than a 64-bit count holds", shape);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op) {
  // A 0-d tensor accepts dim 0 and -1, as PyTorch does.
  int64_t n = ndim == 0 ? 1 : ndim;
  GG_CHECK(dim >= -n && dim < n, "{}: dim {} is out of range for a tensor with {} dims (expected {}..{})", op,
           dim, ndim, -n, n - 1);
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    GG_CHECK(da == db || da == 1 || db == 1,
             "{}: shapes {} and {} cannot be broadcast (dim {}: {} vs {}); hint: sizes must match or be 1", op, a,
             b, i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  Strides out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) out[lead + i] = shape[i] == 1 ? 0 : strides[i];
  return out;
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.str(); }

}  // namespace gg
