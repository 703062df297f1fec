// The backward engine (autograd/engine.cpp): accumulation, retain_graph, the checks on
// backward's arguments, graphs where gradients from several paths meet, and the checks on
// what a node's backward returns.
#include <memory>

#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;

namespace {

Tensor f64(const std::vector<double>& values, const gg::Shape& shape = {}, bool requires_grad = false) {
  return gg::from_vector(values, shape, {.dtype = gg::DType::Float64, .requires_grad = requires_grad});
}

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// forward: y = x      backward: dx = dy, counting how often it runs
struct CountingBackward : gg::Node {
  int* calls = nullptr;
  std::string name() const override { return "CountingBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    ++*calls;
    return {dy};
  }
};
Tensor counting(const Tensor& x, int* calls) {
  Tensor y;
  {
    gg::NoGradGuard no_grad;
    y = x.clone();
  }
  auto node = std::make_shared<CountingBackward>();
  node->calls = calls;
  gg::attach(y, node, {x});
  return y;
}

// forward: y = x      backward (broken): dx = dy flattened, or two gradients for one input
struct BadGradientBackward : gg::Node {
  bool extra = false;
  std::string name() const override { return "BadGradientBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    if (extra) return {dy, dy};
    return {dy.reshape({-1})};
  }
};
Tensor bad_gradient(const Tensor& x, bool extra) {
  Tensor y;
  {
    gg::NoGradGuard no_grad;
    y = x.clone();
  }
  auto node = std::make_shared<BadGradientBackward>();
  node->extra = extra;
  gg::attach(y, node, {x});
  return y;
}

}  // namespace

// ---- accumulation, zero_grad, retain_graph --------------------------------------------------

TEST_CASE("gradients accumulate across two backward calls", "[autograd][engine]") {
  const Tensor x = f64({1, -2, 3}, {}, true);
  gg::sum(x * x).backward();
  CHECK(values(x.grad()) == std::vector<double>{2, -4, 6});
  gg::sum(x * 3.0).backward();
  CHECK(values(x.grad()) == std::vector<double>{5, -1, 9});
}

TEST_CASE("zero_grad clears the gradient, and the next backward starts from scratch", "[autograd][engine]") {
  Tensor x = f64({1, 2}, {}, true);
  gg::sum(x * x).backward();
  REQUIRE(x.grad().defined());
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  gg::sum(x * 5.0).backward();
  CHECK(values(x.grad()) == std::vector<double>{5, 5});
}

TEST_CASE("retain_graph=true allows a second backward through the same graph", "[autograd][engine]") {
  const Tensor x = f64({0.5, -1}, {}, true);
  const Tensor loss = gg::sum(gg::exp(x) * x);  // d/dx = exp(x) (1 + x)
  loss.backward(Tensor(), true);
  loss.backward();
  const std::vector<double> g = values(x.grad());
  CHECK(g[0] == Approx(2 * std::exp(0.5) * 1.5));
  CHECK(g[1] == Approx(0.0).margin(1e-15));
}

TEST_CASE("a second backward without retain_graph throws, naming retain_graph", "[autograd][engine]") {
  SECTION("through a node with saved tensors") {
    const Tensor x = f64({1, 2}, {}, true);
    const Tensor loss = gg::sum(x * x);
    loss.backward();
    REQUIRE_THROWS_AS(loss.backward(), gg::Error);
    REQUIRE_THROWS_WITH(loss.backward(), Contains("second time") && Contains("retain_graph"));
  }
  SECTION("through nodes that save nothing") {
    const Tensor x = f64({1, 2}, {}, true);
    const Tensor loss = gg::sum(x + x);
    loss.backward();
    REQUIRE_THROWS_WITH(loss.backward(), Contains("second time") && Contains("retain_graph") &&
                                             Contains("SumBackward"));
    CHECK(values(x.grad()) == std::vector<double>{2, 2});  // the failed call added nothing
  }
}

TEST_CASE("backward on a leaf adds the given gradient and never writes into it", "[autograd][engine]") {
  const Tensor x = f64({1, 2, 3}, {}, true);
  const Tensor g = f64({0.5, 1, 2});
  x.backward(g);
  x.backward(g);
  CHECK(values(x.grad()) == std::vector<double>{1, 2, 4});
  CHECK(values(g) == std::vector<double>{0.5, 1, 2});
  CHECK_FALSE(x.grad().shares_storage_with(g));
}

TEST_CASE("a leaf's gradient owns its storage when backward hands it an expanded view", "[autograd][engine]") {
  const Tensor x = gg::zeros({2, 3}, kLeaf64);
  gg::sum(x).backward();  // SumBackward returns dy expanded to [2, 3], all one element
  gg::sum(x).backward();
  CHECK(x.grad().is_contiguous());
  CHECK(values(x.grad()) == std::vector<double>(6, 2.0));
}

// ---- checks on backward's arguments ---------------------------------------------------------

TEST_CASE("backward on a non-scalar without a gradient throws, naming the shape", "[autograd][engine]") {
  const Tensor y = leaf({2, 3}) * 2.0;
  REQUIRE_THROWS_AS(y.backward(), gg::Error);
  REQUIRE_THROWS_WITH(y.backward(), Contains("scalar") && Contains("[2, 3]"));
}

TEST_CASE("backward with a gradient of the wrong shape or dtype throws, naming both", "[autograd][engine]") {
  const Tensor y = leaf({2, 3}) * 2.0;
  REQUIRE_THROWS_AS(y.backward(gg::ones({3, 2}, {.dtype = gg::DType::Float64})), gg::Error);
  REQUIRE_THROWS_WITH(y.backward(gg::ones({3, 2}, {.dtype = gg::DType::Float64})),
                      Contains("[3, 2]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(y.backward(gg::ones({2, 3})), Contains("float32") && Contains("float64"));
}

TEST_CASE("backward on a tensor that does not require grad throws", "[autograd][engine]") {
  const Tensor x = gg::randn({2}, {.dtype = gg::DType::Float64});
  REQUIRE_THROWS_AS(gg::sum(x * x).backward(), gg::Error);
  REQUIRE_THROWS_WITH(gg::sum(x * x).backward(), Contains("does not require grad"));
  REQUIRE_THROWS_WITH(Tensor().backward(), Contains("undefined"));
}

// ---- paths that meet ------------------------------------------------------------------------

TEST_CASE("a leaf used twice gets the sum of both paths", "[autograd][engine]") {
  const Tensor x = f64({1, -2}, {}, true);
  gg::sum(x * 2.0 + x * x).backward();  // 2 + 2x
  CHECK(values(x.grad()) == std::vector<double>{4, -2});
}

TEST_CASE("a diamond: a node used twice runs once, after both consumers contributed", "[autograd][engine]") {
  // x -> u = counting(tanh(x)) -> loss = sum(u * 3 + u * u); d/dx = (3 + 2u)(1 - u^2)
  const Tensor x = f64({0.3, -0.7, 1.1}, {}, true);
  int calls = 0;
  const Tensor u = counting(gg::tanh(x), &calls);
  gg::sum(u * 3.0 + u * u).backward();
  CHECK(calls == 1);
  const std::vector<double> xv = values(x), g = values(x.grad());
  for (size_t i = 0; i < xv.size(); ++i) {
    const double t = std::tanh(xv[i]);
    CHECK(g[i] == Approx((3 + 2 * t) * (1 - t * t)).epsilon(1e-12));
  }
}

TEST_CASE("one gradient handed to two nodes is not changed when one of them receives more", "[autograd][engine]") {
  // t = (a + b) + a: AddBackward gives the same dy to both of its inputs, and a then gets a
  // second contribution. The engine sums in place only into a gradient nothing else holds,
  // so b's copy of dy must stay dy. dx = 3 * 2 w + 5 w = 11 w.
  const Tensor x = f64({1, -2, 0.5}, {}, true), w = f64({1, 2, 3});
  const Tensor a = x * 3.0, b = x * 5.0;
  gg::sum(((a + b) + a) * w).backward();
  CHECK(values(x.grad()) == std::vector<double>{11, 22, 33});
}

TEST_CASE("slices' gradients (narrow, select) land in their place, next to whole-tensor gradients", "[autograd][engine]") {
  // u = tanh(x) [4]; v = tanh(y) [4]. The loss reads u whole (through u + v, whose backward
  // hands one dy to both u and v), two overlapping slices of u, one element of u, and a
  // slice of the leaf y directly: du = w + [2, 2, 0, 0] + [0, 3, 3, 3] + [0, 0, 5, 0].
  const Tensor x = f64({0.1, -0.2, 0.3, -0.4}, {}, true), y = f64({0.5, 0.6, -0.7, 0.8}, {}, true);
  const Tensor w = f64({1, 2, 3, 4});
  const Tensor u = gg::tanh(x), v = gg::tanh(y);
  Tensor loss = gg::sum((u + v) * w) + gg::sum(u.narrow(0, 0, 2) * 2.0) + gg::sum(u.narrow(0, 1, 3) * 3.0) +
                u.select(0, 2) * 5.0 + gg::sum(y.narrow(0, 2, 2) * 7.0);
  loss.backward();
  const std::vector<double> du = {1 + 2, 2 + 2 + 3, 3 + 3 + 5, 4 + 3}, dv = {1, 2, 3, 4}, dy_direct = {0, 0, 7, 7};
  const auto xs = values(x), ys = values(y), gx = values(x.grad()), gy = values(y.grad());
  for (size_t i = 0; i < 4; ++i) {
    const double tu = std::tanh(xs[i]), tv = std::tanh(ys[i]);
    CHECK(gx[i] == Approx(du[i] * (1 - tu * tu)).epsilon(1e-12));
    CHECK(gy[i] == Approx(dv[i] * (1 - tv * tv) + dy_direct[i]).epsilon(1e-12));
  }
}

TEST_CASE("inputs that do not require grad get no gradient", "[autograd][engine]") {
  const Tensor x = f64({1, 2}, {}, true);
  const Tensor c = f64({3, 4});
  gg::sum(x * c + c).backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 4});
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(c.requires_grad());
}

TEST_CASE("a leaf reached by no gradient keeps an undefined grad", "[autograd][engine]") {
  const Tensor x = f64({1, 2}, {}, true), unused = f64({5}, {}, true);
  gg::sum(x * x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4});  // 2x
  CHECK_FALSE(unused.grad().defined());
}

// ---- checks on what a node's backward returns -----------------------------------------------

TEST_CASE("a node returning a gradient of the wrong shape is reported with both shapes", "[autograd][engine]") {
  const Tensor x = leaf({2, 3});
  const Tensor loss = gg::sum(bad_gradient(x, false));
  REQUIRE_THROWS_AS(loss.backward(), gg::Error);
  const Tensor loss2 = gg::sum(bad_gradient(x, false));
  REQUIRE_THROWS_WITH(loss2.backward(),
                      Contains("BadGradientBackward") && Contains("[6]") && Contains("[2, 3]") && Contains("input 0"));
}

TEST_CASE("a node returning too many gradients is reported", "[autograd][engine]") {
  const Tensor loss = gg::sum(bad_gradient(leaf({2}), true));
  REQUIRE_THROWS_WITH(loss.backward(),
                      Contains("BadGradientBackward") && Contains("returned 2 gradients for 1 inputs"));
}

TEST_CASE("grad_ready hooks run once per backward, when the leaf's gradient is final", "[autograd][engine]") {
  // Weights used at several steps (their products deferred and summed by the engine), a bias
  // summed with them, an embedding, a leaf reached along two paths, and one reached by none.
  gg::manual_seed(1);
  Tensor w = gg::randn({4, 3}, {.requires_grad = true}), b = gg::randn({4}, {.requires_grad = true});
  Tensor table = gg::randn({6, 3}, {.requires_grad = true}), scale = gg::randn({4}, {.requires_grad = true});
  Tensor unused = gg::randn({2}, {.requires_grad = true});
  std::vector<Tensor> leaves = {w, b, table, scale, unused};
  std::vector<Tensor> seen(leaves.size());
  std::vector<int> calls(leaves.size(), 0);
  for (size_t i = 0; i < leaves.size(); ++i)
    leaves[i].set_grad_ready_hook([&, i] {
      ++calls[i];
      seen[i] = leaves[i].grad().clone();  // what the gradient is when the hook runs
    });
  for (int pass = 1; pass <= 2; ++pass) {
    Tensor h = gg::embedding(table, gg::from_vector(std::vector<int64_t>{1, 4, 1}, {3}));  // [3, 3]
    Tensor y = gg::zeros({4});
    for (int t = 0; t < 3; ++t) y = y + gg::tanh(gg::linear(h.select(0, t).unsqueeze(0), w, b)).squeeze(0) * scale;
    gg::sum(y * scale).backward();
    for (size_t i = 0; i < 4; ++i) {
      INFO("leaf " << i << ", backward " << pass);
      CHECK(calls[i] == pass);
      CHECK(values(seen[i].to(gg::DType::Float64)) == values(leaves[i].grad().to(gg::DType::Float64)));
    }
    CHECK(calls[4] == 0);  // no edge leads to it
  }
  REQUIRE_THROWS_WITH((w * 2).set_grad_ready_hook([] {}), Contains("only a leaf"));
  w.set_grad_ready_hook({});
  gg::sum(gg::linear(gg::ones({1, 3}), w, b)).backward();
  CHECK(calls[0] == 2);  // removed
  CHECK(calls[1] == 3);
}
