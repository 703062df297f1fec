// gg::gradcheck itself: it must catch a wrong gradient and say where, and refuse inputs
// it cannot check. The wrong gradients come from custom ops written as autograd/node.h
// shows: a named node struct, SavedTensor members, gg::attach.
#include <memory>

#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;
using In = std::vector<Tensor>;

namespace {

// forward: y = x      backward (wrong at one element): dx = dy, plus 1 at [1, 2]
struct WrongElementBackward : gg::Node {
  std::string name() const override { return "WrongElementBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = dy.clone();
    dx.data<double>()[1 * dy.size(1) + 2] += 1.0;
    return {dx};
  }
};
Tensor wrong_element(const Tensor& x) {
  Tensor y;
  {
    gg::NoGradGuard no_grad;
    y = x.clone();
  }
  if (gg::needs_grad(x)) gg::attach(y, std::make_shared<WrongElementBackward>(), {x});
  return y;
}

// forward: y = a * b      backward: da = dy * b, db = dy * a, or 2 * dy * a when `wrong`
struct ProductBackward : gg::Node {
  gg::SavedTensor a{this}, b{this};
  bool wrong = false;
  std::string name() const override { return wrong ? "WrongProductBackward" : "ProductBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {dy * b(), wrong ? dy * a() * 2.0 : dy * a()};
  }
};
Tensor product(const Tensor& a, const Tensor& b, bool wrong) {
  Tensor y;
  {
    gg::NoGradGuard no_grad;
    y = a * b;
  }
  if (gg::needs_grad(a, b)) {
    auto node = std::make_shared<ProductBackward>();
    node->a = a;
    node->b = b;
    node->wrong = wrong;
    gg::attach(y, node, {a, b});
  }
  return y;
}

// forward: y = x^T (square)      backward (wrong): dx = dy, the transpose forgotten
struct ForgotTransposeBackward : gg::Node {
  std::string name() const override { return "ForgotTransposeBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy}; }
};
Tensor forgot_transpose(const Tensor& x) {
  Tensor y;
  {
    gg::NoGradGuard no_grad;
    y = x.t().contiguous();
  }
  if (gg::needs_grad(x)) gg::attach(y, std::make_shared<ForgotTransposeBackward>(), {x});
  return y;
}

}  // namespace

TEST_CASE("gradcheck reports a wrong gradient with function, node, input, element and both values",
          "[autograd][checker]") {
  gg::manual_seed(701);
  const Tensor x = leaf({2, 3});
  const gg::GradcheckResult result =
      gg::gradcheck([](const In& in) { return wrong_element(in[0]); }, {x}, {.name = "wrong_element"});
  INFO(result.message);
  CHECK_FALSE(result.ok);
  CHECK_FALSE(static_cast<bool>(result));
  CHECK(result.elements_checked == 6);
  CHECK(result.mismatches == 1);
  CHECK_THAT(result.message, Contains("wrong_element"));
  CHECK_THAT(result.message, Contains("WrongElementBackward"));
  CHECK_THAT(result.message, Contains("input 0"));
  CHECK_THAT(result.message, Contains("[2, 3]"));
  CHECK_THAT(result.message, Contains("element [1, 2]"));
  CHECK_THAT(result.message, Contains("analytic"));
  CHECK_THAT(result.message, Contains("numeric"));
  CHECK_THAT(result.message, Contains("1 of 6 elements differ"));
}

TEST_CASE("gradcheck accepts a custom op with a correct node and catches 2 * dy on its second input",
          "[autograd][checker]") {
  gg::manual_seed(702);
  const Tensor a = leaf({3, 2}, 0.5, 1.0), b = leaf({3, 2}, 0.5, 1.0);
  const gg::GradcheckResult right =
      gg::gradcheck([](const In& in) { return product(in[0], in[1], false); }, {a, b}, {.name = "product"});
  INFO(right.message);
  CHECK(right.ok);
  CHECK(right.elements_checked == 12);
  CHECK(right.message.empty());

  const gg::GradcheckResult wrong =
      gg::gradcheck([](const In& in) { return product(in[0], in[1], true); }, {a, b}, {.name = "wrong_product"});
  INFO(wrong.message);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.mismatches > 0);
  CHECK(wrong.mismatches <= 6);  // only input 1 is wrong
  CHECK_THAT(wrong.message, Contains("wrong_product"));
  CHECK_THAT(wrong.message, Contains("WrongProductBackward"));
  CHECK_THAT(wrong.message, Contains("input 1"));
  CHECK_THAT(wrong.message, Contains("analytic"));
  CHECK_THAT(wrong.message, Contains("numeric"));
}

TEST_CASE("gradcheck catches a forgotten transpose (an all-ones upstream gradient would not)",
          "[autograd][checker]") {
  gg::manual_seed(703);
  const Tensor x = leaf({3, 3});
  // With dy = ones, the wrong backward gives the right answer: why gradcheck projects with R.
  const Tensor probe = x.detach().clone().requires_grad_();
  gg::sum(forgot_transpose(probe)).backward();
  CHECK(probe.grad().to_vector<double>() == std::vector<double>(9, 1.0));

  const gg::GradcheckResult result =
      gg::gradcheck([](const In& in) { return forgot_transpose(in[0]); }, {x}, {.name = "forgot_transpose"});
  INFO(result.message);
  CHECK_FALSE(result.ok);
  CHECK(result.mismatches == 6);  // every off-diagonal element
  CHECK_THAT(result.message, Contains("ForgotTransposeBackward"));
  CHECK_THAT(result.message, Contains("element [0, 1]"));
}

TEST_CASE("gradcheck reports a function that cuts the graph", "[autograd][checker]") {
  gg::manual_seed(704);
  const Tensor x = leaf({4});
  const gg::GradcheckResult result =
      gg::gradcheck([](const In& in) { return in[0].detach() * 2.0; }, {x}, {.name = "detached"});
  INFO(result.message);
  CHECK_FALSE(result.ok);
  CHECK(result.mismatches == 4);
  CHECK_THAT(result.message, Contains("no grad_fn"));
  CHECK_THAT(result.message, Contains("analytic 0"));
}

TEST_CASE("gradcheck refuses float32 inputs, mentioning float64", "[autograd][checker]") {
  const Tensor x = gg::randn({2, 3}, {.requires_grad = true});
  REQUIRE_THROWS_AS(gg::gradcheck([](const In& in) { return gg::tanh(in[0]); }, {x}), gg::Error);
  REQUIRE_THROWS_WITH(gg::gradcheck([](const In& in) { return gg::tanh(in[0]); }, {x}),
                      Contains("float64") && Contains("float32") && Contains("input 0"));
}

TEST_CASE("gradcheck refuses when no input requires grad", "[autograd][checker]") {
  const Tensor x = gg::randn({2, 3}, {.dtype = gg::DType::Float64});
  REQUIRE_THROWS_AS(gg::gradcheck([](const In& in) { return gg::tanh(in[0]); }, {x}), gg::Error);
  REQUIRE_THROWS_WITH(gg::gradcheck([](const In& in) { return gg::tanh(in[0]); }, {x}),
                      Contains("no input requires grad"));
}

TEST_CASE("gradcheck refuses a function that returns float32", "[autograd][checker]") {
  const Tensor x = leaf({3});
  REQUIRE_THROWS_WITH(gg::gradcheck([](const In& in) { return in[0].to(gg::DType::Float32); }, {x}, {.name = "f"}),
                      Contains("f must return a float64 tensor") && Contains("float32"));
}

TEST_CASE("gradcheck leaves the caller's inputs and their gradients untouched", "[autograd][checker]") {
  gg::manual_seed(705);
  const Tensor x = leaf({2, 2});
  const std::vector<double> before = x.to_vector<double>();
  const gg::GradcheckResult result = gg::gradcheck([](const In& in) { return gg::exp(in[0]); }, {x});
  CHECK(result.ok);
  CHECK_FALSE(x.grad().defined());
  CHECK(x.to_vector<double>() == before);
}
