// Gradchecks of the elementwise ops (autograd/elementwise.cpp), one per op and shape case.
// Broadcast shapes and size-1 dims throughout, so sum_to is exercised by every binary op.
#include <algorithm>
#include <functional>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

// ---- add, sub, mul, div, neg ----------------------------------------------------------------

TEST_CASE("gradcheck: add with broadcasting [2,1,3] + [4,1]", "[gradcheck][autograd]") {
  gg::manual_seed(1);
  expect_gradcheck("add", "AddBackward", [](const In& in) { return in[0] + in[1]; }, {leaf({2, 1, 3}), leaf({4, 1})});
}

TEST_CASE("gradcheck: add with a 0-d tensor and a double", "[gradcheck][autograd]") {
  gg::manual_seed(2);
  expect_gradcheck("add", "AddBackward", [](const In& in) { return (in[0] + in[1]) + 0.5; }, {leaf({3, 2}), leaf({})});
}

TEST_CASE("gradcheck: sub with broadcasting [3,1] - [1,4]", "[gradcheck][autograd]") {
  gg::manual_seed(3);
  expect_gradcheck("sub", "SubBackward", [](const In& in) { return in[0] - in[1]; }, {leaf({3, 1}), leaf({1, 4})});
}

TEST_CASE("gradcheck: sub with only the subtrahend requiring grad, 2.0 - [2,3]", "[gradcheck][autograd]") {
  gg::manual_seed(4);
  const Tensor constant = gg::randn({2, 3}, {.dtype = gg::DType::Float64});
  expect_gradcheck("sub", "SubBackward", [](const In& in) { return (in[0] - in[1]) + (2.0 - in[1]); },
                   {constant, leaf({2, 3})});
}

TEST_CASE("gradcheck: mul with broadcasting [2,1,3] x [4,1]", "[gradcheck][autograd]") {
  gg::manual_seed(5);
  expect_gradcheck("mul", "MulBackward", [](const In& in) { return in[0] * in[1]; }, {leaf({2, 1, 3}), leaf({4, 1})});
}

TEST_CASE("gradcheck: mul of a tensor with itself and with a constant", "[gradcheck][autograd]") {
  gg::manual_seed(6);
  const Tensor constant = gg::randn({1, 3}, {.dtype = gg::DType::Float64});
  expect_gradcheck("mul", "MulBackward", [](const In& in) { return in[0] * in[0] * in[1]; }, {leaf({2, 3}), constant});
}

TEST_CASE("gradcheck: div with broadcasting [2,3] / [3], denominator in [0.5, 1.5]", "[gradcheck][autograd]") {
  gg::manual_seed(7);
  expect_gradcheck("div", "DivBackward", [](const In& in) { return in[0] / in[1]; },
                   {leaf({2, 3}), leaf({3}, 0.5, 1.5)});
}

TEST_CASE("gradcheck: div of a double by a tensor, 1 / [2,1,2]", "[gradcheck][autograd]") {
  gg::manual_seed(8);
  expect_gradcheck("div", "DivBackward", [](const In& in) { return 1.0 / in[0]; }, {leaf({2, 1, 2}, 0.5, 2.0)});
}

TEST_CASE("gradcheck: neg [2,3]", "[gradcheck][autograd]") {
  gg::manual_seed(9);
  expect_gradcheck("neg", "NegBackward", [](const In& in) { return -in[0]; }, {leaf({2, 3})});
}

// ---- powers, exp, log, sqrt, abs ------------------------------------------------------------

TEST_CASE("gradcheck: pow with scalar exponents 3, -1.5 and 0.5", "[gradcheck][autograd]") {
  gg::manual_seed(10);
  const Tensor x = leaf({2, 1, 3}, 0.5, 1.5);
  for (double p : {3.0, -1.5, 0.5}) {
    INFO("exponent " << p);
    expect_gradcheck("pow", "PowBackward", [p](const In& in) { return gg::pow(in[0], p); }, {x});
  }
}

TEST_CASE("gradcheck: pow(tensor, tensor) with broadcasting [2,1,3] ^ [4,1], positive base", "[gradcheck][autograd]") {
  gg::manual_seed(11);
  expect_gradcheck("pow", "PowTensorBackward", [](const In& in) { return gg::pow(in[0], in[1]); },
                   {leaf({2, 1, 3}, 0.5, 2.0), leaf({4, 1}, -1.0, 2.0)});
}

TEST_CASE("gradcheck: pow(tensor, tensor) with only the exponent requiring grad", "[gradcheck][autograd]") {
  gg::manual_seed(12);
  const Tensor base = gg::uniform({3}, 0.5, 2.0, {.dtype = gg::DType::Float64});
  expect_gradcheck("pow", "PowTensorBackward", [](const In& in) { return gg::pow(in[0], in[1]); },
                   {base, leaf({2, 3})});
}

TEST_CASE("gradcheck: exp [3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(13);
  expect_gradcheck("exp", "ExpBackward", [](const In& in) { return gg::exp(in[0]); }, {leaf({3, 4})});
}

TEST_CASE("gradcheck: log [3,1,2], inputs in [0.5, 2]", "[gradcheck][autograd]") {
  gg::manual_seed(14);
  expect_gradcheck("log", "LogBackward", [](const In& in) { return gg::log(in[0]); }, {leaf({3, 1, 2}, 0.5, 2.0)});
}

TEST_CASE("gradcheck: sqrt [3,4], inputs in [0.5, 2]", "[gradcheck][autograd]") {
  gg::manual_seed(15);
  expect_gradcheck("sqrt", "SqrtBackward", [](const In& in) { return gg::sqrt(in[0]); }, {leaf({3, 4}, 0.5, 2.0)});
}

TEST_CASE("gradcheck: abs [4,3], inputs at least 0.1 from 0", "[gradcheck][autograd]") {
  gg::manual_seed(16);
  expect_gradcheck("abs", "AbsBackward", [](const In& in) { return gg::abs(in[0]); },
                   {leaf_avoiding({4, 3}, -1.0, 1.0, {0.0})});
}

// ---- activations ----------------------------------------------------------------------------

TEST_CASE("gradcheck: tanh [2,1,3]", "[gradcheck][autograd]") {
  gg::manual_seed(17);
  expect_gradcheck("tanh", "TanhBackward", [](const In& in) { return gg::tanh(in[0]); }, {leaf({2, 1, 3}, -2.0, 2.0)});
}

TEST_CASE("gradcheck: sigmoid [3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(18);
  expect_gradcheck("sigmoid", "SigmoidBackward", [](const In& in) { return gg::sigmoid(in[0]); },
                   {leaf({3, 4}, -3.0, 3.0)});
}

TEST_CASE("gradcheck: relu [4,1,3], inputs at least 0.1 from 0", "[gradcheck][autograd]") {
  gg::manual_seed(19);
  expect_gradcheck("relu", "ReluBackward", [](const In& in) { return gg::relu(in[0]); },
                   {leaf_avoiding({4, 1, 3}, -1.0, 1.0, {0.0})});
}

TEST_CASE("gradcheck: clamp [5,4] to [-0.5, 0.5], inputs at least 0.1 from the bounds", "[gradcheck][autograd]") {
  gg::manual_seed(20);
  const Tensor x = leaf_avoiding({5, 4}, -1.0, 1.0, {-0.5, 0.5});
  // Some elements inside, some clamped on each side: both branches of the backward run.
  const std::vector<double> v = x.to_vector<double>();
  REQUIRE(std::count_if(v.begin(), v.end(), [](double e) { return e < -0.5; }) > 0);
  REQUIRE(std::count_if(v.begin(), v.end(), [](double e) { return e > 0.5; }) > 0);
  REQUIRE(std::count_if(v.begin(), v.end(), [](double e) { return std::fabs(e) < 0.5; }) > 0);
  expect_gradcheck("clamp", "ClampBackward", [](const In& in) { return gg::clamp(in[0], -0.5, 0.5); }, {x});
}

// ---- maximum, minimum -----------------------------------------------------------------------

TEST_CASE("gradcheck: maximum with broadcasting [2,1,3] vs [4,1], no ties", "[gradcheck][autograd]") {
  gg::manual_seed(21);
  expect_gradcheck("maximum", "MaximumBackward", [](const In& in) { return gg::maximum(in[0], in[1]); },
                   {leaf_distinct({2, 1, 3}, 0.1), leaf_distinct({4, 1}, 0.1, 0.05)});
}

TEST_CASE("gradcheck: minimum with broadcasting [3,4] vs [4], no ties", "[gradcheck][autograd]") {
  gg::manual_seed(22);
  expect_gradcheck("minimum", "MinimumBackward", [](const In& in) { return gg::minimum(in[0], in[1]); },
                   {leaf_distinct({3, 4}, 0.1), leaf_distinct({4}, 0.3, 0.05)});
}

// ---- where, masked_fill ---------------------------------------------------------------------

TEST_CASE("gradcheck: where with cond [2,1,3], a [4,3], b [2,4,1]", "[gradcheck][autograd]") {
  gg::manual_seed(23);
  const Tensor cond = gg::from_vector(std::vector<int64_t>{1, 0, 1, 0, 0, 1}, {2, 1, 3}).to(gg::DType::Bool);
  expect_gradcheck("where", "WhereBackward", [](const In& in) { return gg::where(in[0], in[1], in[2]); },
                   {cond, leaf({4, 3}), leaf({2, 4, 1})});
}

TEST_CASE("gradcheck: where with only the false branch requiring grad", "[gradcheck][autograd]") {
  gg::manual_seed(24);
  const Tensor cond = gg::gt(gg::randn({3, 4}), 0.0);
  const Tensor a = gg::randn({3, 4}, {.dtype = gg::DType::Float64});
  expect_gradcheck("where", "WhereBackward", [](const In& in) { return gg::where(in[0], in[1], in[2]); },
                   {cond, a, leaf({3, 1})});
}

TEST_CASE("gradcheck: masked_fill [2,4,3] with a broadcast mask [4,1]", "[gradcheck][autograd]") {
  gg::manual_seed(25);
  const Tensor mask = gg::from_vector(std::vector<int64_t>{0, 1, 1, 0}, {4, 1}).to(gg::DType::Bool);
  expect_gradcheck("masked_fill", "MaskedFillBackward",
                   [](const In& in) { return gg::masked_fill(in[0], in[1], 0.7); }, {leaf({2, 4, 3}), mask});
}

// ---- at the kinks: the conventions the header documents -------------------------------------

namespace {
std::vector<double> grad_of(const std::function<Tensor(const Tensor&)>& f, const std::vector<double>& at) {
  const Tensor x = gg::from_vector(at, {}, kLeaf64);
  gg::sum(f(x)).backward();
  return x.grad().to_vector<double>();
}
}  // namespace

TEST_CASE("relu, abs and clamp at their kinks: 0 at 0 for relu and abs, 1 on clamp's bounds",
          "[autograd][elementwise]") {
  CHECK(grad_of([](const Tensor& x) { return gg::relu(x); }, {-1, 0, 2}) == std::vector<double>{0, 0, 1});
  CHECK(grad_of([](const Tensor& x) { return gg::abs(x); }, {-1, 0, 2}) == std::vector<double>{-1, 0, 1});
  CHECK(grad_of([](const Tensor& x) { return gg::clamp(x, -0.5, 0.5); }, {-1, -0.5, 0, 0.5, 1}) ==
        std::vector<double>{0, 1, 1, 1, 0});
}

TEST_CASE("maximum and minimum split the gradient on ties", "[autograd][elementwise]") {
  const Tensor a = gg::from_vector(std::vector<double>{1, 2, 5}, {}, kLeaf64);
  const Tensor b = gg::from_vector(std::vector<double>{1, 3, 4}, {}, kLeaf64);
  gg::sum(gg::maximum(a, b) + gg::minimum(a, b) * 10.0).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{5.5, 10, 1});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{5.5, 1, 10});
}

TEST_CASE("pow with exponent 0 has a zero gradient, also at 0", "[autograd][elementwise]") {
  CHECK(grad_of([](const Tensor& x) { return gg::pow(x, 0.0); }, {-1, 0, 2}) == std::vector<double>{0, 0, 0});
  const Tensor zero_exponent = gg::zeros({3}, {.dtype = gg::DType::Float64});
  CHECK(grad_of([&](const Tensor& x) { return gg::pow(x, zero_exponent); }, {0.5, 0, 2}) ==
        std::vector<double>{0, 0, 0});
  CHECK(grad_of([](const Tensor& x) { return gg::pow(x, 2.0); }, {-1, 0, 2}) == std::vector<double>{-2, 0, 4});
}
