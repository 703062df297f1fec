#pragma once
// Shape and strides, and the helpers every op uses to check them.
//
// Dimension letters used in shape comments across glassgrad:
//   B batch, S source length, T target length, E embedding, H hidden, V vocab, D model width.
#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gg {

// A list of sizes, outermost first: Shape{B, T, E}. Prints as [B, T, E].
struct Shape : std::vector<int64_t> {
  using std::vector<int64_t>::vector;
  Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}
  int64_t numel() const;
  std::string str() const;
};

using Strides = std::vector<int64_t>;

// Row-major strides of a contiguous tensor of this shape.
Strides contiguous_strides(const Shape& shape);

// Wraps a possibly negative dim into [0, ndim); `op` names the caller in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op);

// The NumPy broadcast of two shapes, or an error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// Strides that read `strides`/`shape` as if expanded to `target` (0 on broadcast dims).
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);

std::ostream& operator<<(std::ostream& os, const Shape& shape);

}  // namespace gg

template <>
struct fmt::formatter<gg::Shape> : fmt::formatter<std::string_view> {
  auto format(const gg::Shape& shape, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(shape.str(), ctx);
  }
};
