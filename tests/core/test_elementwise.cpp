// Elementwise ops against naive loops: unary maps, broadcasting binary ops, comparisons,
// logic, where, masked_fill and the operators with doubles. Inputs include size-1 dims,
// 0-d scalars and non-contiguous (transposed, narrowed) layouts.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Tensor;
using gg::testing::at;
using gg::testing::check_values;
using gg::testing::naive_binary;
using gg::testing::naive_unary;

namespace {

using BinaryOp = std::function<Tensor(const Tensor&, const Tensor&)>;
using Ref2 = std::function<double(double, double)>;

double rtol_for(DType dt) { return dt == DType::Float32 ? 2e-6 : 1e-14; }

// Operand pairs of every layout kind, each with its expected broadcast shape. Values are
// in [lo, hi) so that log, sqrt and fractional powers stay defined.
struct Case {
  const char* what;
  Tensor a, b;
  Shape shape;
};
std::vector<Case> cases(DType dt, double lo, double hi) {
  gg::manual_seed(11);
  auto u = [&](const Shape& s) { return gg::uniform(s, lo, hi, {.dtype = dt}); };
  return {
      {"[2,1,3] op [4,1]", u({2, 1, 3}), u({4, 1}), {2, 4, 3}},
      {"[4,1] op [2,1,3]", u({4, 1}), u({2, 1, 3}), {2, 4, 3}},
      {"same shape [3,5]", u({3, 5}), u({3, 5}), {3, 5}},
      {"[3,5] op 0-d", u({3, 5}), u({}), {3, 5}},
      {"0-d op [5]", u({}), u({5}), {5}},
      {"transposed [5,3] op 0-d", u({3, 5}).t(), u({}), {5, 3}},
      {"narrowed column [4,1] op row [1,3]", u({4, 2}).narrow(1, 1, 1), u({1, 3}), {4, 3}},
      {"0-d op 0-d", u({}), u({}), {}},
      {"[1,1] op [1]", u({1, 1}), u({1}), {1, 1}},
      {"transposed [3,1,2] op [4,2]", u({2, 1, 3}).permute({2, 1, 0}), u({2, 4}).t(), {3, 4, 2}},
      {"narrowed [4,1] op transposed [2,1,3]", u({4, 3}).narrow(1, 1, 1), u({3, 1, 2}).permute({2, 1, 0}), {2, 4, 3}},
      {"expanded [4,3] op narrowed [4,3]", u({1, 3}).expand({4, 3}), u({4, 6}).narrow(1, 2, 3), {4, 3}},
      {"empty [0,3] op [3]", u({0, 3}), u({3}), {0, 3}},
  };
}

void check_binary(const char* name, const BinaryOp& op, const Ref2& ref, double lo, double hi) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const Case& c : cases(dt, lo, hi)) {
      auto what = fmt::format("{} {} {}", name, gg::dtype_name(dt), c.what);
      Tensor out = op(c.a, c.b);
      CHECK(out.dtype() == dt);
      CHECK(out.is_contiguous());
      check_values(out, c.shape, naive_binary(c.a, c.b, c.shape, ref), what, rtol_for(dt), 1e-30);
    }
  }
}

void check_unary(const char* name, const std::function<Tensor(const Tensor&)>& op,
                 const std::function<double(double)>& ref, double lo, double hi) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    gg::manual_seed(3);
    // contiguous, transposed, narrowed, expanded, 0-d
    std::vector<Tensor> inputs = {gg::uniform({3, 4}, lo, hi, {.dtype = dt}),
                                  gg::uniform({4, 3}, lo, hi, {.dtype = dt}).t(),
                                  gg::uniform({5, 6}, lo, hi, {.dtype = dt}).narrow(0, 1, 3).narrow(1, 2, 3),
                                  gg::uniform({1, 4}, lo, hi, {.dtype = dt}).expand({3, 4}),
                                  gg::uniform({}, lo, hi, {.dtype = dt})};
    for (const Tensor& x : inputs) {
      auto what = fmt::format("{} {} {}", name, gg::dtype_name(dt), x.shape());
      Tensor y = op(x);
      CHECK(y.dtype() == dt);
      CHECK_FALSE(y.shares_storage_with(x));
      check_values(y, x.shape(), naive_unary(x, ref), what, rtol_for(dt), 1e-30);
    }
  }
}

}  // namespace

TEST_CASE("add, sub, mul, div broadcast like NumPy", "[core][elementwise]") {
  check_binary("add", gg::add, [](double x, double y) { return x + y; }, -2, 2);
  check_binary("sub", gg::sub, [](double x, double y) { return x - y; }, -2, 2);
  check_binary("mul", gg::mul, [](double x, double y) { return x * y; }, -2, 2);
  check_binary("div", gg::div, [](double x, double y) { return x / y; }, 0.5, 2);
}

TEST_CASE("pow, maximum, minimum broadcast like NumPy", "[core][elementwise]") {
  check_binary("pow", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(gg::pow),
               [](double x, double y) { return std::pow(x, y); }, 0.1, 3);
  check_binary("maximum", gg::maximum, [](double x, double y) { return std::max(x, y); }, -2, 2);
  check_binary("minimum", gg::minimum, [](double x, double y) { return std::min(x, y); }, -2, 2);
}

TEST_CASE("binary ops on int64 tensors stay exact", "[core][elementwise]") {
  auto a = gg::from_vector(std::vector<int64_t>{1, -2, 3, 40, 5, -6}, {2, 3});
  auto b = gg::from_vector(std::vector<int64_t>{10, 3}, {2, 1});
  check_values(gg::add(a, b), {2, 3}, {11, 8, 13, 43, 8, -3}, "int add");
  check_values(gg::sub(a, b), {2, 3}, {-9, -12, -7, 37, 2, -9}, "int sub");
  check_values(gg::mul(a, b), {2, 3}, {10, -20, 30, 120, 15, -18}, "int mul");
  check_values(gg::maximum(a, b), {2, 3}, {10, 10, 10, 40, 5, 3}, "int maximum");
  check_values(gg::minimum(a.t(), b.t()), {3, 2}, {1, 3, -2, 3, 3, -6}, "int minimum transposed");
  const int64_t big = int64_t{1} << 53;
  auto c = gg::from_vector(std::vector<int64_t>{big}) + gg::from_vector(std::vector<int64_t>{1});
  CHECK(c.item<int64_t>() == big + 1);  // a detour through double would lose the 1
  REQUIRE_THROWS_WITH(gg::div(a, b), Catch::Contains("div") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(gg::pow(a, b), Catch::Contains("pow") && Catch::Contains("int64"));
}

TEST_CASE("maximum and minimum return NaN whichever side it is on", "[core][elementwise]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto a = gg::tensor({nan, 1, 2}, {.dtype = DType::Float64});
  auto b = gg::tensor({1, nan, 3}, {.dtype = DType::Float64});
  check_values(gg::maximum(a, b), {3}, {nan, nan, 3}, "maximum(a, b)");
  check_values(gg::maximum(b, a), {3}, {nan, nan, 3}, "maximum(b, a)");
  check_values(gg::minimum(a, b), {3}, {nan, nan, 2}, "minimum(a, b)");
  check_values(gg::minimum(b, a), {3}, {nan, nan, 2}, "minimum(b, a)");
}

TEST_CASE("unary maps match the C library", "[core][elementwise]") {
  check_unary("neg", gg::neg, [](double x) { return -x; }, -3, 3);
  check_unary("exp", gg::exp, [](double x) { return std::exp(x); }, -5, 5);
  check_unary("log", gg::log, [](double x) { return std::log(x); }, 0.01, 10);
  check_unary("sqrt", gg::sqrt, [](double x) { return std::sqrt(x); }, 0, 10);
  check_unary("abs", gg::abs, [](double x) { return std::fabs(x); }, -3, 3);
  check_unary("tanh", gg::tanh, [](double x) { return std::tanh(x); }, -4, 4);
  check_unary("sigmoid", gg::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -8, 8);
  check_unary("relu", gg::relu, [](double x) { return x > 0 ? x : 0; }, -3, 3);
  check_unary("pow 2", [](const Tensor& x) { return gg::pow(x, 2.0); }, [](double x) { return x * x; }, -3, 3);
  check_unary("pow 0.5", [](const Tensor& x) { return gg::pow(x, 0.5); }, [](double x) { return std::sqrt(x); }, 0,
              4);
  check_unary("pow -1.5", [](const Tensor& x) { return gg::pow(x, -1.5); },
              [](double x) { return std::pow(x, -1.5); }, 0.2, 4);
  check_unary("clamp", [](const Tensor& x) { return gg::clamp(x, -0.5, 0.75); },
              [](double x) { return std::min(0.75, std::max(-0.5, x)); }, -2, 2);
  using gg::kernel::Unary;
  check_unary("sign", [](const Tensor& x) { return gg::kernel::unary(Unary::Sign, x); },
              [](double x) { return double((x > 0) - (x < 0)); }, -3, 3);
  check_unary("square", [](const Tensor& x) { return gg::kernel::unary(Unary::Square, x); },
              [](double x) { return x * x; }, -3, 3);
  check_unary("reciprocal", [](const Tensor& x) { return gg::kernel::unary(Unary::Reciprocal, x); },
              [](double x) { return 1 / x; }, 0.5, 3);
}

TEST_CASE("unary ops on int64, exact values at the edges", "[core][elementwise]") {
  auto i = gg::from_vector(std::vector<int64_t>{-3, 0, 2});
  check_values(gg::neg(i), {3}, {3, 0, -2}, "int neg");
  check_values(gg::abs(i), {3}, {3, 0, 2}, "int abs");
  check_values(gg::relu(i), {3}, {0, 0, 2}, "int relu");
  check_values(gg::clamp(i, -1, 1), {3}, {-1, 0, 1}, "int clamp");
  check_values(gg::relu(gg::tensor({-0.0, 0.0, 1e-30})), {3}, {0, 0, 1e-30}, "relu at 0", 1e-6);
  check_values(gg::clamp(gg::tensor({-1, 1}), 0, 0), {2}, {0, 0}, "clamp to a point");
  REQUIRE_THROWS_WITH(gg::exp(i), Catch::Contains("exp") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(gg::neg(gg::zeros({2}, {.dtype = DType::Bool})), Catch::Contains("neg") && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(gg::clamp(i, 2, 1), Catch::Contains("clamp"));
  REQUIRE_THROWS_WITH(gg::pow(i, 2.0), Catch::Contains("pow") && Catch::Contains("int64"));
}

TEST_CASE("sigmoid, exp and tanh stay finite and exact at +-100", "[core][elementwise]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    INFO(gg::dtype_name(dt));
    auto x = gg::tensor({-100, -20, 0, 20, 100}, {.dtype = dt});
    auto s = gg::sigmoid(x).to_vector<double>();
    for (double v : s) CHECK(std::isfinite(v));
    CHECK(s[2] == 0.5);
    CHECK(s[4] == 1.0);
    CHECK(s[0] >= 0.0);
    CHECK(s[0] < 1e-40);
    // sigmoid(-x) = 1 - sigmoid(x) where 1 - sigmoid is representable.
    CHECK(s[1] == Approx(std::exp(-20.0) / (1 + std::exp(-20.0))).epsilon(1e-6));
    auto t = gg::tanh(x).to_vector<double>();
    CHECK(t[0] == -1.0);
    CHECK(t[4] == 1.0);
  }
  // In float64 the tiny tail is kept, not flushed to 0: exp(-100) / (1 + exp(-100)).
  auto tail = gg::sigmoid(gg::full({}, -100, {.dtype = DType::Float64})).item();
  CHECK(tail == Approx(std::exp(-100.0)).epsilon(1e-12));
}

TEST_CASE("comparisons give bool tensors", "[core][elementwise][compare]") {
  auto a = gg::tensor({1, 2, 3, 4, 5, 6}).reshape({2, 1, 3});
  auto b = gg::tensor({3, 2, 5, 1}).reshape({4, 1});
  const Shape shape = {2, 4, 3};
  struct Cmp {
    const char* name;
    Tensor (*op)(const Tensor&, const Tensor&);
    bool (*ref)(double, double);
  };
  const Cmp cmps[] = {{"eq", gg::eq, [](double x, double y) { return x == y; }},
                      {"ne", gg::ne, [](double x, double y) { return x != y; }},
                      {"lt", gg::lt, [](double x, double y) { return x < y; }},
                      {"le", gg::le, [](double x, double y) { return x <= y; }},
                      {"gt", gg::gt, [](double x, double y) { return x > y; }},
                      {"ge", gg::ge, [](double x, double y) { return x >= y; }}};
  for (const Cmp& c : cmps) {
    Tensor out = c.op(a, b);
    CHECK(out.dtype() == DType::Bool);
    auto want = naive_binary(a, b, shape, [&](double x, double y) { return c.ref(x, y) ? 1.0 : 0.0; });
    check_values(out, shape, want, c.name);
    // Transposed inputs too: [3, 1, 2] against [4, 2].
    Tensor at_ = a.permute({2, 1, 0});
    Tensor bt = gg::tensor({3, 2, 5, 1, 2, 6, 0, 4}).reshape({2, 4}).t();
    check_values(c.op(at_, bt), {3, 4, 2},
                 naive_binary(at_, bt, {3, 4, 2}, [&](double x, double y) { return c.ref(x, y) ? 1.0 : 0.0; }),
                 fmt::format("{} transposed", c.name));
  }
  auto i = gg::from_vector(std::vector<int64_t>{-1, 0, 1});
  CHECK(gg::gt(i, 0.0).to_vector<bool>() == std::vector<bool>{false, false, true});
  CHECK(gg::le(i, 0.0).to_vector<bool>() == std::vector<bool>{true, true, false});
  CHECK(gg::eq(i, 1.0).to_vector<bool>() == std::vector<bool>{false, false, true});
  CHECK(gg::ne(i, 1.0).to_vector<bool>() == std::vector<bool>{true, true, false});
  CHECK(gg::lt(i, 0.0).to_vector<bool>() == std::vector<bool>{true, false, false});
  CHECK(gg::ge(i, 0.0).to_vector<bool>() == std::vector<bool>{false, true, true});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto n = gg::tensor({nan}, {.dtype = DType::Float64});
  CHECK_FALSE(gg::eq(n, n).item<bool>());
  CHECK(gg::ne(n, n).item<bool>());
  REQUIRE_THROWS_WITH(gg::lt(a, b.to(DType::Float64)),
                      Catch::Contains("lt") && Catch::Contains("float32") && Catch::Contains("float64"));
}

TEST_CASE("logical and, or, xor, not", "[core][elementwise][compare]") {
  auto p = gg::tensor({0, 0, 1, 1}).to(DType::Bool).reshape({4, 1});
  auto q = gg::tensor({0, 1, 0, 1}).to(DType::Bool);
  auto both = gg::logical_and(p, q);
  CHECK(both.dtype() == DType::Bool);
  auto ref = [&](auto f) { return naive_binary(p, q, {4, 4}, [&](double x, double y) { return f(x != 0, y != 0) ? 1.0 : 0.0; }); };
  check_values(both, {4, 4}, ref([](bool x, bool y) { return x && y; }), "logical_and");
  check_values(gg::logical_or(p, q), {4, 4}, ref([](bool x, bool y) { return x || y; }), "logical_or");
  check_values(gg::kernel::logical(gg::kernel::Logical::Xor, p, q), {4, 4}, ref([](bool x, bool y) { return x != y; }),
               "logical_xor");
  check_values(gg::logical_not(p.t()), {1, 4}, {1, 1, 0, 0}, "logical_not transposed");
  REQUIRE_THROWS_WITH(gg::logical_and(p, gg::ones({4})), Catch::Contains("logical_and") && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(gg::logical_not(gg::ones({4})), Catch::Contains("logical_not"));
}

TEST_CASE("where selects with a broadcast condition", "[core][elementwise]") {
  auto cond = gg::tensor({1, 0, 1}).to(DType::Bool).reshape({3, 1});
  auto a = gg::tensor({1, 2, 3, 4}, {.dtype = DType::Float64}).reshape({1, 4});
  auto b = gg::scalar_tensor(-1, {.dtype = DType::Float64});
  auto out = gg::where(cond, a, b);
  CHECK(out.dtype() == DType::Float64);
  check_values(out, {3, 4}, {1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4}, "where");
  // A full-shape condition with transposed branches, against a naive loop.
  gg::manual_seed(2);
  auto x = gg::randn({4, 3}).t();
  auto y = gg::randn({3, 4});
  auto c = gg::gt(x, y);
  auto w = gg::where(c, x, y);
  check_values(w, {3, 4}, naive_binary(x, y, {3, 4}, [](double u, double v) { return std::max(u, v); }),
               "where(x > y, x, y)");
  auto ints = gg::where(gg::tensor({0, 1}).to(DType::Bool), gg::arange(2), gg::arange(10, 12));
  CHECK(ints.to_vector<int64_t>() == std::vector<int64_t>{10, 1});
  REQUIRE_THROWS_WITH(gg::where(gg::ones({3, 1}), a, b), Catch::Contains("where") && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(gg::where(cond, a, gg::zeros({2}, {.dtype = DType::Float64})),
                      Catch::Contains("where") && Catch::Contains("[1, 4]") && Catch::Contains("[2]"));
}

TEST_CASE("masked_fill writes the value where the broadcast mask is true", "[core][elementwise]") {
  auto x = gg::testing::iota({2, 3}, DType::Float32);
  auto mask = gg::tensor({0, 1, 1}).to(DType::Bool).reshape({1, 3});
  const double inf = std::numeric_limits<double>::infinity();
  auto out = gg::masked_fill(x, mask, -inf);
  check_values(out, {2, 3}, {0, -inf, -inf, 3, -inf, -inf}, "masked_fill -inf");
  check_values(x, {2, 3}, {0, 1, 2, 3, 4, 5}, "masked_fill leaves its input alone");
  auto t = gg::masked_fill(x.t(), gg::tensor({1, 0}).to(DType::Bool), 9);
  check_values(t, {3, 2}, {9, 3, 9, 4, 9, 5}, "masked_fill of transposed");
  auto i = gg::masked_fill(gg::arange(3), gg::tensor({1, 0, 0}).to(DType::Bool), 7);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{7, 1, 2});
  REQUIRE_THROWS_WITH(gg::masked_fill(x, gg::ones({2, 3}), 0), Catch::Contains("masked_fill") &&
                                                                   Catch::Contains("bool") &&
                                                                   Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(gg::masked_fill(x, gg::ones({4, 2, 3}, {.dtype = DType::Bool}), 0),
                      Catch::Contains("masked_fill") && Catch::Contains("[4, 2, 3]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("operators with tensors and doubles", "[core][elementwise]") {
  auto x = gg::tensor({1, -2, 4}, {.dtype = DType::Float64});
  auto y = gg::tensor({0.5, 2, -8}, {.dtype = DType::Float64});
  check_values(x + y, {3}, {1.5, 0, -4}, "x + y");
  check_values(x - y, {3}, {0.5, -4, 12}, "x - y");
  check_values(x * y, {3}, {0.5, -4, -32}, "x * y");
  check_values(x / y, {3}, {2, -1, -0.5}, "x / y");
  check_values(-x, {3}, {-1, 2, -4}, "-x");
  check_values(x + 1.5, {3}, {2.5, -0.5, 5.5}, "x + 1.5");
  check_values(1.5 + x, {3}, {2.5, -0.5, 5.5}, "1.5 + x");
  check_values(x - 1, {3}, {0, -3, 3}, "x - 1");
  check_values(1 - x, {3}, {0, 3, -3}, "1 - x");
  check_values(x * 3, {3}, {3, -6, 12}, "x * 3");
  check_values(3 * x, {3}, {3, -6, 12}, "3 * x");
  check_values(x / 4, {3}, {0.25, -0.5, 1}, "x / 4");
  check_values(4 / x, {3}, {4, -2, 1}, "4 / x");
  // The double takes the tensor's dtype.
  auto f = gg::tensor({1, 2}) * 0.1;
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.to_vector<float>() == std::vector<float>{0.1f, 0.2f});
  auto i = gg::arange(3) * 2.0 + 1.0;
  CHECK(i.dtype() == DType::Int64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 5});
  // Chained expressions broadcast through.
  auto col = gg::tensor({1, 2}, {.dtype = DType::Float64}).reshape({2, 1});
  check_values((x + col) * 2 - col / 2, {2, 3}, {3.5, -2.5, 9.5, 5, -1, 11}, "(x + col) * 2 - col / 2");
  REQUIRE_THROWS_WITH(x + gg::tensor({1, 2}, {.dtype = DType::Float64}),
                      Catch::Contains("add") && Catch::Contains("[3]") && Catch::Contains("[2]"));
}
