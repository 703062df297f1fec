// Elementwise kernels: unary maps, broadcasting binary ops, comparisons, where, casts, copies.
#include <cstring>
#include <cmath>

#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/profiler.h"
#include "core/strided_loop.h"

namespace gg::kernel {
namespace {

// out[i] = f(x[i]); x is broadcast to out's shape. out may be any strided view.
template <class TO, class TX, class F>
void map1(const Tensor& out, const Tensor& x, F f) {
  detail::StridedLoop<2> loop(out.shape(), {out.strides(), broadcast_strides(x.shape(), x.strides(), out.shape())});
  TO* o = out.data<TO>();
  const TX* a = x.data<TX>();
  loop.run([&](const auto& off, int64_t n, const auto& st) {
    TO* po = o + off[0];
    const TX* pa = a + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i * st[0]] = f(pa[i * st[1]]);
    }
  });
}

// out[i] = f(a[i], b[i]); a and b are broadcast to out's shape.
template <class TO, class TA, class TB, class F>
void map2(const Tensor& out, const Tensor& x, const Tensor& y, F f) {
  detail::StridedLoop<3> loop(out.shape(), {out.strides(), broadcast_strides(x.shape(), x.strides(), out.shape()),
                                            broadcast_strides(y.shape(), y.strides(), out.shape())});
  TO* o = out.data<TO>();
  const TA* a = x.data<TA>();
  const TB* b = y.data<TB>();
  loop.run([&](const auto& off, int64_t n, const auto& st) {
    TO* po = o + off[0];
    const TA* pa = a + off[1];
    const TB* pb = b + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {  // tensor op scalar, a row op a column
      const TB bv = *pb;
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], bv);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i * st[0]] = f(pa[i * st[1]], pb[i * st[2]]);
    }
  });
}

void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op) {
  GG_CHECK(a.defined() && b.defined(), "{}: an input tensor is undefined", op);
  GG_CHECK(a.dtype() == b.dtype(), "{}: dtypes {} and {} differ (shapes {} and {}); hint: convert one with .to(...)",
           op, dtype_name(a.dtype()), dtype_name(b.dtype()), a.shape(), b.shape());
}

constexpr std::string_view unary_name(Unary op) {
  constexpr std::string_view names[] = {"neg",  "exp",     "log",  "sqrt",   "abs",       "sign",
                                        "tanh", "sigmoid", "relu", "square", "reciprocal", "erf"};
  return names[static_cast<int>(op)];
}

constexpr std::string_view binary_name(Binary op) {
  constexpr std::string_view names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  return names[static_cast<int>(op)];
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

using fast::exp_of;  // float32: core/fast_math.h's vectorizable versions; float64: libm
using fast::sigmoid_of;
using fast::tanh_of;

}  // namespace

Tensor unary(Unary op, const Tensor& x) {
  GG_PROFILE(unary_name(op));
  GG_CHECK(x.defined(), "{}: the input tensor is undefined", unary_name(op));
  GG_CHECK(x.dtype() != DType::Bool, "{}: not defined for bool tensors; hint: convert with .to(...)", unary_name(op));
  bool float_only = op == Unary::Exp || op == Unary::Log || op == Unary::Sqrt || op == Unary::Tanh ||
                    op == Unary::Sigmoid || op == Unary::Reciprocal || op == Unary::Erf;
  GG_CHECK(!float_only || x.is_floating_point(), "{}: expected a float tensor, got {} of shape {}", unary_name(op),
           dtype_name(x.dtype()), x.shape());
  Tensor out = empty_like(x);
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {
        case Unary::Neg: return map1<T, T>(out, x, [](T v) { return T(-v); });
        case Unary::Abs: return map1<T, T>(out, x, [](T v) { return v < 0 ? T(-v) : v; });
        case Unary::Sign: return map1<T, T>(out, x, [](T v) { return T((v > 0) - (v < 0)); });
        case Unary::Relu: return map1<T, T>(out, x, [](T v) { return v > 0 ? v : T(0); });
        case Unary::Square: return map1<T, T>(out, x, [](T v) { return T(v * v); });
        default: break;
      }
      if constexpr (std::is_floating_point_v<T>) {
        switch (op) {
          case Unary::Exp: return map1<T, T>(out, x, [](T v) { return exp_of(v); });
          case Unary::Log: return map1<T, T>(out, x, [](T v) { return std::log(v); });
          case Unary::Sqrt: return map1<T, T>(out, x, [](T v) { return std::sqrt(v); });
          case Unary::Tanh: return map1<T, T>(out, x, [](T v) { return tanh_of(v); });
          case Unary::Sigmoid: return map1<T, T>(out, x, [](T v) { return sigmoid_of(v); });
          case Unary::Reciprocal: return map1<T, T>(out, x, [](T v) { return T(1) / v; });
          case Unary::Erf: return map1<T, T>(out, x, [](T v) { return std::erf(v); });
          default: break;
        }
      }
    }
  });
  return out;
}

Tensor activation_backward(Unary op, const Tensor& y, const Tensor& dy) {
  GG_PROFILE(unary_name(op));
  check_same_dtype(y, dy, unary_name(op));
  GG_CHECK(y.shape() == dy.shape() && y.is_floating_point(),
           "{} backward: the output {} {} and its gradient {} must be float tensors of one shape", unary_name(op),
           dtype_name(y.dtype()), y.shape(), dy.shape());
  Tensor dx = empty_like(dy);
  visit_floating(y.dtype(), unary_name(op), [&]<class T>() {
    switch (op) {
      case Unary::Tanh: return map2<T, T, T>(dx, y, dy, [](T v, T g) { return g * (T(1) - v * v); });
      case Unary::Sigmoid: return map2<T, T, T>(dx, y, dy, [](T v, T g) { return g * v * (T(1) - v); });
      case Unary::Relu: return map2<T, T, T>(dx, y, dy, [](T v, T g) { return v <= T(0) ? T(0) : g; });
      default: fail("activation_backward: no fused backward for {}", unary_name(op));
    }
  });
  return dx;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  GG_PROFILE(binary_name(op));
  std::string_view name = binary_name(op);
  check_same_dtype(a, b, name);
  GG_CHECK(a.dtype() != DType::Bool, "{}: not defined for bool tensors; hint: use logical_and/logical_or", name);
  GG_CHECK(a.is_floating_point() || (op != Binary::Div && op != Binary::Pow),
           "{}: not defined for {} tensors; hint: convert to float with .to(gg::DType::Float32)", name,
           dtype_name(a.dtype()));
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype());
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {
        case Binary::Add: return map2<T, T, T>(out, a, b, [](T x, T y) { return T(x + y); });
        case Binary::Sub: return map2<T, T, T>(out, a, b, [](T x, T y) { return T(x - y); });
        case Binary::Mul: return map2<T, T, T>(out, a, b, [](T x, T y) { return T(x * y); });
        case Binary::Div: return map2<T, T, T>(out, a, b, [](T x, T y) { return T(x / y); });
        case Binary::Pow: return map2<T, T, T>(out, a, b, [](T x, T y) { return T(std::pow(x, y)); });
        // A NaN on either side wins, as in PyTorch (a bare x < y ? y : x only sees one in x).
        case Binary::Maximum: return map2<T, T, T>(out, a, b, [](T x, T y) { return x < y || is_nan(y) ? y : x; });
        case Binary::Minimum: return map2<T, T, T>(out, a, b, [](T x, T y) { return y < x || is_nan(y) ? y : x; });
      }
    }
  });
  return out;
}

Tensor compare(Compare op, const Tensor& a, const Tensor& b) {
  GG_PROFILE("compare");
  constexpr std::string_view names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  std::string_view name = names[static_cast<int>(op)];
  check_same_dtype(a, b, name);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), DType::Bool);
  visit_dtype(a.dtype(), [&]<class T>() {
    switch (op) {
      case Compare::Eq: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x == y; });
      case Compare::Ne: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x != y; });
      case Compare::Lt: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x < y; });
      case Compare::Le: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x <= y; });
      case Compare::Gt: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x > y; });
      case Compare::Ge: return map2<bool, T, T>(out, a, b, [](T x, T y) { return x >= y; });
    }
  });
  return out;
}

Tensor logical(Logical op, const Tensor& a, const Tensor& b) {
  GG_PROFILE("logical");
  constexpr std::string_view names[] = {"logical_and", "logical_or", "logical_xor"};
  std::string_view name = names[static_cast<int>(op)];
  GG_CHECK(a.dtype() == DType::Bool && b.dtype() == DType::Bool, "{}: expected bool tensors, got {} and {}", name,
           dtype_name(a.dtype()), dtype_name(b.dtype()));
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), DType::Bool);
  switch (op) {
    case Logical::And: map2<bool, bool, bool>(out, a, b, [](bool x, bool y) { return x && y; }); break;
    case Logical::Or: map2<bool, bool, bool>(out, a, b, [](bool x, bool y) { return x || y; }); break;
    case Logical::Xor: map2<bool, bool, bool>(out, a, b, [](bool x, bool y) { return x != y; }); break;
  }
  return out;
}

Tensor logical_not(const Tensor& x) {
  GG_PROFILE("logical_not");
  GG_CHECK(x.dtype() == DType::Bool, "logical_not: expected a bool tensor, got {}", dtype_name(x.dtype()));
  Tensor out = empty_like(x);
  map1<bool, bool>(out, x, [](bool v) { return !v; });
  return out;
}

Tensor pow_scalar(const Tensor& x, double exponent) {
  GG_PROFILE("pow");
  Tensor out = empty_like(x);
  visit_floating(x.dtype(), "pow", [&]<class T>() {
    if (exponent == 2.0) return map1<T, T>(out, x, [](T v) { return v * v; });
    map1<T, T>(out, x, [e = static_cast<T>(exponent)](T v) { return std::pow(v, e); });
  });
  return out;
}

Tensor clamp(const Tensor& x, double low, double high) {
  GG_PROFILE("clamp");
  GG_CHECK(low <= high, "clamp: min {} is greater than max {}", low, high);
  Tensor out = empty_like(x);
  visit_dtype(x.dtype(), [&]<class T>() {
    GG_CHECK((!std::is_same_v<T, bool>), "clamp: not defined for bool tensors");
    map1<T, T>(out, x, [lo = static_cast<T>(low), hi = static_cast<T>(high)](T v) { return v < lo ? lo : (hi < v ? hi : v); });
  });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  GG_PROFILE("where");
  GG_CHECK(cond.defined() && cond.dtype() == DType::Bool,
           "where: the condition must be a bool tensor, got {}; hint: build it with a comparison such as gg::gt(x, 0)",
           cond.defined() ? dtype_name(cond.dtype()) : "an undefined tensor");
  check_same_dtype(a, b, "where");
  Shape shape = broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  Tensor out = Tensor::empty(shape, a.dtype());
  // where = copy b, then copy a over the selected elements: two passes of the plain loops.
  detail::StridedLoop<4> loop(shape, {out.strides(), broadcast_strides(cond.shape(), cond.strides(), shape),
                                      broadcast_strides(a.shape(), a.strides(), shape),
                                      broadcast_strides(b.shape(), b.strides(), shape)});
  visit_dtype(a.dtype(), [&]<class T>() {
    T* o = out.data<T>();
    const bool* c = cond.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    loop.run([&](const auto& off, int64_t n, const auto& st) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i * st[0]] = c[off[1] + i * st[1]] ? pa[off[2] + i * st[2]] : pb[off[3] + i * st[3]];
    });
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  GG_PROFILE("masked_fill");
  GG_CHECK(mask.defined() && mask.dtype() == DType::Bool,
           "masked_fill: the mask must be a bool tensor, got {} of shape {}; hint: build it with a comparison, "
           "or convert with .to(gg::DType::Bool)",
           mask.defined() ? dtype_name(mask.dtype()) : "an undefined tensor", mask.shape());
  GG_CHECK(broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(),
           "masked_fill: mask of shape {} does not broadcast to the input's shape {}", mask.shape(), x.shape());
  Tensor out = empty_like(x);
  visit_dtype(x.dtype(), [&]<class T>() {
    const T v = static_cast<T>(value);
    map2<T, T, bool>(out, x, mask, [v](T a, bool m) { return m ? v : a; });
  });
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  GG_PROFILE("copy/cast");
  Tensor out = Tensor::empty(x.shape(), dtype);
  visit_dtype(dtype, [&]<class TO>() {
    visit_dtype(x.dtype(), [&]<class TI>() { map1<TO, TI>(out, x, [](TI v) { return static_cast<TO>(v); }); });
  });
  return out;
}

Tensor contiguous(const Tensor& x) {
  // A fresh handle either way: kernel results never carry the input's autograd state.
  return x.is_contiguous() ? as_strided(x, x.shape(), x.strides(), x.offset()) : cast(x, x.dtype());
}
Tensor clone(const Tensor& x) { return cast(x, x.dtype()); }

void copy(const Tensor& dst, const Tensor& src) {
  GG_PROFILE("copy_");
  GG_CHECK(broadcast_shapes(dst.shape(), src.shape(), "copy_") == dst.shape(),
           "copy_: source of shape {} does not broadcast to the destination's shape {}", src.shape(), dst.shape());
  dst.storage()->bump_version();
  if (dst.dtype() == src.dtype() && src.dim() == 1 && src.stride(0) == 1 && src.numel() > 0 && dst.dim() >= 1 &&
      dst.size(-1) == src.numel() && dst.is_contiguous()) {
    // One row into every row of a contiguous tensor (linear's bias, before its GEMM adds
    // x W^T): a memcpy per row; the strided loop took about twice as long.
    const size_t row = static_cast<size_t>(src.numel()) * dtype_size(src.dtype());
    char* out = static_cast<char*>(dst.raw_data());
    const int64_t rows = dst.numel() / src.numel();
    for (int64_t r = 0; r < rows; ++r) std::memcpy(out + static_cast<size_t>(r) * row, src.raw_data(), row);
    return;
  }
  visit_dtype(dst.dtype(), [&]<class TO>() {
    visit_dtype(src.dtype(), [&]<class TI>() { map1<TO, TI>(dst, src, [](TI v) { return static_cast<TO>(v); }); });
  });
}

void fill(const Tensor& dst, double value) {
  GG_PROFILE("fill_");
  dst.storage()->bump_version();
  // Write-only: dst is usually fresh memory, and reading it (as map1(dst, dst) would) reads
  // garbage, which for bool is undefined behaviour.
  detail::StridedLoop<1> loop(dst.shape(), {dst.strides()});
  visit_dtype(dst.dtype(), [&]<class T>() {
    const T v = static_cast<T>(value);
    T* o = dst.data<T>();
    loop.run([&](const auto& off, int64_t n, const auto& st) {
      for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] = v;
    });
  });
}

void axpy(const Tensor& y, double alpha, const Tensor& x) {
  GG_PROFILE("add_");
  check_same_dtype(y, x, "add_");
  GG_CHECK(broadcast_shapes(y.shape(), x.shape(), "add_") == y.shape(),
           "add_: a tensor of shape {} cannot be added in place to one of shape {}", x.shape(), y.shape());
  y.storage()->bump_version();
  visit_dtype(y.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      const T a = static_cast<T>(alpha);
      map2<T, T, T>(y, y, x, [a](T yv, T xv) { return T(yv + a * xv); });
    }
  });
}

void scale(const Tensor& y, double alpha) {
  GG_PROFILE("mul_");
  y.storage()->bump_version();
  visit_dtype(y.dtype(), [&]<class T>() {
    const T a = static_cast<T>(alpha);
    map1<T, T>(y, y, [a](T v) { return T(v * a); });
  });
}

}  // namespace gg::kernel
