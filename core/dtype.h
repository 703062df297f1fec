#pragma once
// Element types. Float32 is what models train in; Float64 is what gradcheck runs in;
// Int64 holds token ids and indices; Bool holds masks (true = masked or selected, as
// each op documents).
#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace gg {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

constexpr size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

constexpr bool is_floating(DType dtype) { return dtype == DType::Float32 || dtype == DType::Float64; }

// The C++ type stored for each dtype; Bool is stored as one byte per element.
template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

// Calls f.template operator()<T>() with T the C++ type of `dtype`:
//   visit_dtype(x.dtype(), [&]<class T>() { fill<T>(x); });
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::Bool: return f.template operator()<bool>();
  }
  fail("internal: unknown dtype {}", static_cast<int>(dtype));
}

// Same, for ops defined only on float32 and float64; `op` names the caller in the error.
template <class F>
decltype(auto) visit_floating(DType dtype, std::string_view op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    default:
      fail("{}: expected a float32 or float64 tensor, got {}; hint: convert with .to(gg::DType::Float32)",
           op, dtype_name(dtype));
  }
}

}  // namespace gg
