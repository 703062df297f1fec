// Elementwise ops and their backward nodes, side by side. Broadcast inputs get their
// gradient summed back to their own shape by sum_to (autograd/reduce.h), in one place.
#include "autograd/elementwise.h"

#include <cmath>
#include <numbers>

#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/kernels.h"

namespace gg {

using kernel::Binary;
using kernel::Unary;

Tensor scalar_like(const Tensor& x, double value) {
  GG_CHECK(x.defined(), "scalar_like: the tensor is undefined");
  return scalar_tensor(value, {.dtype = x.dtype()});
}

// ---- add, sub, mul, div -------------------------------------------------------------------------

// forward: y = a + b      backward: da = sum_to(dy), db = sum_to(dy)
struct AddBackward : Node {
  std::string name() const override { return "AddBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {sum_to(dy, inputs[0].shape), sum_to(dy, inputs[1].shape)};
  }
};
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = kernel::binary(Binary::Add, a, b);
  if (needs_grad(a, b)) attach(y, std::make_shared<AddBackward>(), {a, b});
  return y;
}

// forward: y = a - b      backward: da = sum_to(dy), db = -sum_to(dy)
struct SubBackward : Node {
  std::string name() const override { return "SubBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {sum_to(dy, inputs[0].shape), needs_grad(1) ? neg(sum_to(dy, inputs[1].shape)) : Tensor()};
  }
};
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = kernel::binary(Binary::Sub, a, b);
  if (needs_grad(a, b)) attach(y, std::make_shared<SubBackward>(), {a, b});
  return y;
}

// forward: y = a * b      backward: da = sum_to(dy * b), db = sum_to(dy * a)
struct MulBackward : Node {
  SavedTensor a{this}, b{this};
  std::string name() const override { return "MulBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_grad(0) ? sum_to(dy * b(), inputs[0].shape) : Tensor(),
            needs_grad(1) ? sum_to(dy * a(), inputs[1].shape) : Tensor()};
  }
};
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = kernel::binary(Binary::Mul, a, b);
  if (needs_grad(a, b)) {
    auto node = std::make_shared<MulBackward>();
    if (needs_grad(b)) node->a = a;  // save only what a needed gradient uses
    if (needs_grad(a)) node->b = b;
    attach(y, node, {a, b});
  }
  return y;
}

// forward: y = a / b      backward: da = sum_to(dy / b), db = sum_to(-dy * a / b^2)
struct DivBackward : Node {
  SavedTensor a{this}, b{this};
  std::string name() const override { return "DivBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_grad(0) ? sum_to(dy / b(), inputs[0].shape) : Tensor(),
            needs_grad(1) ? sum_to(neg(dy * a()) / (b() * b()), inputs[1].shape) : Tensor()};
  }
};
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = kernel::binary(Binary::Div, a, b);
  if (needs_grad(a, b)) {
    auto node = std::make_shared<DivBackward>();
    node->a = a;
    node->b = b;
    attach(y, node, {a, b});
  }
  return y;
}

// forward: y = -x      backward: dx = -dy
struct NegBackward : Node {
  std::string name() const override { return "NegBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {neg(dy)}; }
};
Tensor neg(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Neg, x);
  if (needs_grad(x)) attach(y, std::make_shared<NegBackward>(), {x});
  return y;
}

// ---- powers, exp, log ---------------------------------------------------------------------------

// forward: y = x^p      backward: dx = dy * p * x^(p-1), and 0 for p = 0 (not 0 * inf at x = 0)
struct PowBackward : Node {
  SavedTensor x{this};
  double p = 0;
  std::string name() const override { return "PowBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    if (p == 0) return {zeros_like(dy)};
    return {dy * kernel::pow_scalar(x(), p - 1) * p};
  }
};
Tensor pow(const Tensor& x, double exponent) {
  Tensor y = kernel::pow_scalar(x, exponent);
  if (needs_grad(x)) {
    auto node = std::make_shared<PowBackward>();
    node->x = x;
    node->p = exponent;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = a^b      backward: da = sum_to(dy * b * a^(b-1)) (0 where b = 0), db = sum_to(dy * y * log(a))
struct PowTensorBackward : Node {
  SavedTensor a{this}, b{this}, y{this};
  std::string name() const override { return "PowTensorBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor da, db;
    if (needs_grad(0)) da = sum_to(masked_fill(dy * b() * pow(a(), b() - 1.0), eq(b(), 0.0), 0.0), inputs[0].shape);
    if (needs_grad(1)) db = sum_to(dy * y() * log(a()), inputs[1].shape);
    return {da, db};
  }
};
Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor y = kernel::binary(Binary::Pow, base, exponent);
  if (needs_grad(base, exponent)) {
    auto node = std::make_shared<PowTensorBackward>();
    node->a = base;
    node->b = exponent;
    node->y = y;
    attach(y, node, {base, exponent});
  }
  return y;
}

// forward: y = exp(x)      backward: dx = dy * y
struct ExpBackward : Node {
  SavedTensor y{this};
  std::string name() const override { return "ExpBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy * y()}; }
};
Tensor exp(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Exp, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<ExpBackward>();
    node->y = y;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = log(x)      backward: dx = dy / x
struct LogBackward : Node {
  SavedTensor x{this};
  std::string name() const override { return "LogBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy / x()}; }
};
Tensor log(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Log, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<LogBackward>();
    node->x = x;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = sqrt(x)      backward: dx = dy / (2 y)
struct SqrtBackward : Node {
  SavedTensor y{this};
  std::string name() const override { return "SqrtBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy / (y() * 2.0)}; }
};
Tensor sqrt(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Sqrt, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<SqrtBackward>();
    node->y = y;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = |x|      backward: dx = dy * sign(x)
struct AbsBackward : Node {
  SavedTensor x{this};
  std::string name() const override { return "AbsBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy * kernel::unary(Unary::Sign, x())}; }
};
Tensor abs(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Abs, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<AbsBackward>();
    node->x = x;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = erf(x)      backward: dx = dy * 2 / sqrt(pi) * exp(-x^2)
struct ErfBackward : Node {
  SavedTensor x{this};
  std::string name() const override { return "ErfBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {dy * exp(neg(x() * x())) * (2.0 / std::sqrt(std::numbers::pi))};
  }
};
Tensor erf(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Erf, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<ErfBackward>();
    node->x = x;
    attach(y, node, {x});
  }
  return y;
}

// ---- activations ----------------------------------------------------------------------------------

// forward: y = tanh(x)      backward: dx = dy * (1 - y*y)
struct TanhBackward : Node {
  SavedTensor y{this};
  std::string name() const override { return "TanhBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::activation_backward(Unary::Tanh, y(), dy)};  // dy * (1 - y*y), one pass
  }
};
Tensor tanh(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Tanh, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<TanhBackward>();
    node->y = y;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = 1 / (1 + exp(-x))      backward: dx = dy * y * (1 - y)
struct SigmoidBackward : Node {
  SavedTensor y{this};
  std::string name() const override { return "SigmoidBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::activation_backward(Unary::Sigmoid, y(), dy)};  // dy * y * (1 - y), one pass
  }
};
Tensor sigmoid(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Sigmoid, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<SigmoidBackward>();
    node->y = y;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = max(x, 0)      backward: dx = dy * (x > 0)
struct ReluBackward : Node {
  SavedTensor y{this};
  std::string name() const override { return "ReluBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {kernel::activation_backward(Unary::Relu, y(), dy)};  // dy where y > 0 (exactly where x > 0), else 0
  }
};
Tensor relu(const Tensor& x) {
  Tensor y = kernel::unary(Unary::Relu, x);
  if (needs_grad(x)) {
    auto node = std::make_shared<ReluBackward>();
    node->y = y;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = min(max(x, low), high)      backward: dx = dy * (low <= x <= high)
struct ClampBackward : Node {
  SavedTensor x{this};
  double low = 0, high = 0;
  std::string name() const override { return "ClampBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {masked_fill(dy, logical_or(lt(x(), low), gt(x(), high)), 0.0)};
  }
};
Tensor clamp(const Tensor& x, double low, double high) {
  Tensor y = kernel::clamp(x, low, high);
  if (needs_grad(x)) {
    auto node = std::make_shared<ClampBackward>();
    node->x = x;
    node->low = low;
    node->high = high;
    attach(y, node, {x});
  }
  return y;
}

// forward: y = max(a, b) (or min)      backward: dy goes to the larger (smaller) input; half each on ties
struct MaximumBackward : Node {
  SavedTensor a{this}, b{this};
  bool is_max = true;
  std::string name() const override { return is_max ? "MaximumBackward" : "MinimumBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor a_wins = (is_max ? kernel::compare(kernel::Compare::Gt, a(), b())
                            : kernel::compare(kernel::Compare::Lt, a(), b())).to(dy.dtype());
    Tensor tie = eq(a(), b()).to(dy.dtype()) * 0.5;
    Tensor to_a = a_wins + tie;
    return {needs_grad(0) ? sum_to(dy * to_a, inputs[0].shape) : Tensor(),
            needs_grad(1) ? sum_to(dy * (1.0 - to_a), inputs[1].shape) : Tensor()};
  }
};
static Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor y = kernel::binary(is_max ? Binary::Maximum : Binary::Minimum, a, b);
  if (needs_grad(a, b)) {
    auto node = std::make_shared<MaximumBackward>();
    node->a = a;
    node->b = b;
    node->is_max = is_max;
    attach(y, node, {a, b});
  }
  return y;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

// ---- selection ----------------------------------------------------------------------------------

// forward: y = cond ? a : b      backward: da = sum_to(cond ? dy : 0), db = sum_to(cond ? 0 : dy)
struct WhereBackward : Node {
  SavedTensor cond{this};
  std::string name() const override { return "WhereBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor da, db;
    if (needs_grad(1)) da = sum_to(masked_fill(dy, logical_not(cond()), 0.0), inputs[1].shape);
    if (needs_grad(2)) db = sum_to(masked_fill(dy, cond(), 0.0), inputs[2].shape);
    return {Tensor(), da, db};
  }
};
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = kernel::where(cond, a, b);
  if (needs_grad(a, b)) {
    auto node = std::make_shared<WhereBackward>();
    node->cond = cond;
    attach(y, node, {cond, a, b});
  }
  return y;
}

// forward: y = mask ? value : x      backward: dx = mask ? 0 : dy
struct MaskedFillBackward : Node {
  SavedTensor mask{this};
  std::string name() const override { return "MaskedFillBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {masked_fill(dy, mask(), 0.0), Tensor()}; }
};
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  Tensor y = kernel::masked_fill(x, mask, value);
  if (needs_grad(x)) {
    auto node = std::make_shared<MaskedFillBackward>();
    node->mask = mask;
    attach(y, node, {x, mask});
  }
  return y;
}

// ---- comparisons and logic: no gradient ---------------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return kernel::compare(kernel::Compare::Ge, a, b); }
Tensor eq(const Tensor& a, double b) { return eq(a, scalar_like(a, b)); }
Tensor ne(const Tensor& a, double b) { return ne(a, scalar_like(a, b)); }
Tensor lt(const Tensor& a, double b) { return lt(a, scalar_like(a, b)); }
Tensor le(const Tensor& a, double b) { return le(a, scalar_like(a, b)); }
Tensor gt(const Tensor& a, double b) { return gt(a, scalar_like(a, b)); }
Tensor ge(const Tensor& a, double b) { return ge(a, scalar_like(a, b)); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return kernel::logical(kernel::Logical::And, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return kernel::logical(kernel::Logical::Or, a, b); }
Tensor logical_not(const Tensor& x) { return kernel::logical_not(x); }

}  // namespace gg
