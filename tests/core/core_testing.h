#pragma once
// Helpers for the core tests. The reference side of every test reads elements straight
// from storage through the tensor's own shape, strides and offset, so it shares no code
// (no StridedLoop, no contiguous(), no cast) with the kernels it checks.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "core/kernels.h"
#include "glassgrad.h"

namespace gg::testing {

// Row-major multi-index of flat position `i` in `shape`.
inline std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

// The element at multi-index `idx` (one entry per dim of t), as a double.
inline double at(const Tensor& t, const std::vector<int64_t>& idx) {
  if (idx.size() != t.shape().size()) FAIL(fmt::format("at: {} indices for shape {}", idx.size(), t.shape()));
  int64_t off = t.offset();
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  const void* base = t.storage()->data();
  switch (t.dtype()) {
    case DType::Float32: return static_cast<const float*>(base)[off];
    case DType::Float64: return static_cast<const double*>(base)[off];
    case DType::Int64: return static_cast<double>(static_cast<const int64_t*>(base)[off]);
    case DType::Bool: return static_cast<const bool*>(base)[off] ? 1.0 : 0.0;
  }
  return NAN;
}

// The element of t broadcast to a larger shape, at that shape's multi-index `idx`:
// dims align from the right, and t's size-1 dims read index 0.
inline double at_broadcast(const Tensor& t, const std::vector<int64_t>& idx) {
  const size_t lead = idx.size() - t.shape().size();
  std::vector<int64_t> own(t.shape().size());
  for (size_t d = 0; d < own.size(); ++d) own[d] = t.shape()[d] == 1 ? 0 : idx[lead + d];
  return at(t, own);
}

// All elements of t in row-major order, read through its strides.
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = at(t, unravel(i, t.shape()));
  return out;
}

// out[i] = f(a[i], b[i]) over the broadcast `shape`, with a and b read through their strides.
template <class F>
std::vector<double> naive_binary(const Tensor& a, const Tensor& b, const Shape& shape, F f) {
  std::vector<double> out(static_cast<size_t>(shape.numel()));
  for (int64_t i = 0; i < shape.numel(); ++i) {
    auto idx = unravel(i, shape);
    out[i] = f(at_broadcast(a, idx), at_broadcast(b, idx));
  }
  return out;
}

template <class F>
std::vector<double> naive_unary(const Tensor& x, F f) {
  std::vector<double> out = values(x);
  for (double& v : out) v = f(v);
  return out;
}

inline bool close(double got, double want, double rtol, double atol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

// Checks shape and every value; on failure names `what`, the element's index and both values.
inline void check_values(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                         std::string_view what, double rtol = 0, double atol = 0) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == shape);
  REQUIRE(static_cast<size_t>(got.numel()) == want.size());
  std::string mismatch;
  for (int64_t i = 0; i < got.numel() && mismatch.empty(); ++i) {
    double g = at(got, unravel(i, shape));
    if (!close(g, want[i], rtol, atol))
      mismatch = fmt::format("{}: element {} (index {}): got {}, expected {}", what, i, Shape(unravel(i, shape)), g,
                             want[i]);
  }
  INFO(mismatch);
  CHECK(mismatch.empty());
}

// 0, 1, 2, ... as a float64 tensor of `shape`, scaled and shifted so values are distinct.
// The tensor's values rounded to bfloat16 (gg::autocast's inputs), as float64.
inline Tensor bf16_rounded(const Tensor& x) {
  std::vector<double> v = values(x);
  for (double& e : v) e = from_bf16(to_bf16(static_cast<float>(e)));
  return from_vector(v, x.shape());
}

inline Tensor iota(const Shape& shape, DType dtype = DType::Float64, double scale = 1, double shift = 0) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = shift + scale * static_cast<double>(i);
  return from_vector(v, shape, {.dtype = dtype});
}

}  // namespace gg::testing
