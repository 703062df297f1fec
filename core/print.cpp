// Printing tensors the way PyTorch does, so output can be compared by eye:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.5000,  4.0000]], shape=[2, 2])
// Tensors with more than 1000 elements show the first and last 3 entries of each dim.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/kernels.h"

namespace gg {
namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Printer {
  // The elements in row-major order: int64 ones apart, since a double holds them exactly only
  // up to 2^53 (and casting 2^63 back to int64 is undefined).
  const std::vector<double>& values;
  const std::vector<int64_t>& ints;
  const Shape& shape;
  DType dtype;
  bool summarize;
  int width = 0;

  // The element at flat position i.
  std::string element(int64_t i) const {
    if (dtype == DType::Int64) return fmt::format("{}", ints[i]);
    const double v = values[i];
    if (dtype == DType::Bool) return v != 0 ? "true" : "false";
    if (std::isnan(v) || std::isinf(v)) return fmt::format("{}", v);
    double a = std::fabs(v);
    if (a != 0 && (a >= 1e5 || a < 1e-4)) return fmt::format("{:.4e}", v);
    return fmt::format("{:.4f}", v);
  }

  // Prints the sub-tensor starting at flat offset `base`, at nesting depth `d`.
  void print(std::string& out, size_t d, int64_t base, int64_t stride_below) const {
    if (d == shape.size()) {
      std::string s = element(base);
      out += std::string(std::max<int>(0, width - static_cast<int>(s.size())), ' ') + s;
      return;
    }
    const int64_t n = shape[d];
    const int64_t step = stride_below / std::max<int64_t>(n, 1);
    out += '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
        out += "...";
        i = n - kEdgeItems - 1;
      } else {
        print(out, d + 1, base + i * step, step);
      }
      if (i + 1 < n) {
        out += ',';
        if (d + 1 == shape.size()) out += ' ';
        else out += std::string(shape.size() - d - 1, '\n') + std::string(d + 8, ' ');
      }
    }
    out += ']';
  }
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const bool is_int = dtype_ == DType::Int64;
  const std::vector<double> values = is_int ? std::vector<double>() : to_vector<double>();
  const std::vector<int64_t> ints = is_int ? to_vector<int64_t>() : std::vector<int64_t>();
  const bool summarize = numel() > kSummarizeAbove;
  Printer printer{values, ints, shape_, dtype_, summarize};
  for (int64_t i = 0; i < numel(); ++i)
    printer.width = std::max<int>(printer.width, static_cast<int>(printer.element(i).size()));
  std::string body;
  if (numel() == 0) body = "[]";
  else printer.print(body, 0, 0, numel());
  std::string suffix;
  if (dtype_ != DType::Float32) suffix += fmt::format(", dtype={}", dtype_name(dtype_));
  if (summarize || dim() > 1) suffix += fmt::format(", shape={}", shape_);
  return fmt::format("tensor({}{})", body, suffix);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace gg
