// gg::linear and the engine's deferred weight gradients (autograd/node.h, DeferredGrad):
// a leaf weight used many times (an RNN cell unrolled over time) gets dW = sum_t dy_t^T x_t
// from one GEMM over the stacked rows once its last use has been backpropagated. These tests
// check that this gives the gradient the plain matmul formulation gives, in every situation
// the engine must get right: many uses, uses mixed with other ops on the same weight, a bias
// or none, a gradient already there, a weight that is not a leaf, and finite differences.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

namespace {

// A small tanh RNN over 4 steps, batch 3, input 2, hidden 5, through gg::linear or through its
// composed twin, linear(..., fused = false), matmul + add, which has no deferred path:
// h_t = tanh(x_t W^T + b + h_{t-1} U^T).
// W also enters the loss directly (sum(W * W)), so its gradient mixes deferred and immediate parts.
Tensor rnn_loss(const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& U, bool use_linear) {
  Tensor h = gg::zeros({3, 5}, {.dtype = x.dtype()});
  Tensor loss = gg::sum(W * W) * 0.1;
  for (int64_t t = 0; t < x.size(0); ++t) {
    const Tensor xt = x.select(0, t);
    Tensor pre = gg::linear(xt, W, b, /*fused=*/use_linear) + gg::linear(h, U, {}, /*fused=*/use_linear);
    h = gg::tanh(pre);
    loss = loss + gg::sum(h * h) * static_cast<double>(t + 1);
  }
  return loss;
}

}  // namespace

TEST_CASE("linear: a weight used at every step gets the same gradient as the matmul formulation", "[autograd]") {
  std::vector<std::vector<Tensor>> grads;
  for (const bool use_linear : {true, false}) {
    gg::manual_seed(301);
    Tensor x = leaf({4, 3, 2}), W = leaf({5, 2}), b = leaf({5}), U = leaf({5, 5});
    rnn_loss(x, W, b, U, use_linear).backward();
    grads.push_back({x.grad(), W.grad(), b.grad(), U.grad()});
  }
  const char* names[] = {"x", "W", "b", "U"};
  for (size_t i = 0; i < grads[0].size(); ++i) {
    INFO(names[i]);
    const auto a = grads[0][i].to_vector<double>(), e = grads[1][i].to_vector<double>();
    REQUIRE(a.size() == e.size());
    for (size_t k = 0; k < a.size(); ++k) REQUIRE(a[k] == Approx(e[k]).epsilon(1e-12).margin(1e-14));
  }
}

TEST_CASE("linear: deferred weight gradients add to a gradient that is already there", "[autograd]") {
  gg::manual_seed(302);
  Tensor x = leaf({4, 3, 2}), W = leaf({5, 2}), b = leaf({5}), U = leaf({5, 5});
  rnn_loss(x, W, b, U, true).backward();
  const auto once = W.grad().to_vector<double>(), once_b = b.grad().to_vector<double>();
  rnn_loss(x, W, b, U, true).backward();  // a second backward accumulates, as for any leaf
  const auto twice = W.grad().to_vector<double>(), twice_b = b.grad().to_vector<double>();
  for (size_t k = 0; k < once.size(); ++k) CHECK(twice[k] == Approx(2 * once[k]).epsilon(1e-13));
  for (size_t k = 0; k < once_b.size(); ++k) CHECK(twice_b[k] == Approx(2 * once_b[k]).epsilon(1e-13));
}

TEST_CASE("linear: a weight that is not a leaf (a slice of one) still gets its gradient", "[autograd]") {
  gg::manual_seed(303);
  Tensor big = leaf({8, 2}), x = leaf({3, 2});
  const Tensor W = big.narrow(0, 2, 5);  // rows 2..6; rows 0, 1 and 7 get zero gradient
  gg::sum(gg::tanh(gg::linear(x, W)) + gg::tanh(gg::linear(x * 2.0, W))).backward();
  const auto g = big.grad().to_vector<double>();
  for (int64_t j : {0, 1, 14, 15}) CHECK(g[static_cast<size_t>(j)] == 0.0);
  Tensor big2 = big.detach().clone().requires_grad_(), x2 = x.detach().clone().requires_grad_();
  const Tensor W2 = big2.narrow(0, 2, 5);
  gg::sum(gg::tanh(gg::matmul(x2, W2.transpose(0, 1))) + gg::tanh(gg::matmul(x2 * 2.0, W2.transpose(0, 1)))).backward();
  const auto e = big2.grad().to_vector<double>();
  for (size_t k = 0; k < g.size(); ++k) CHECK(g[k] == Approx(e[k]).epsilon(1e-13).margin(1e-15));
}

TEST_CASE("gradcheck: linear used at every step of an RNN, with and without bias", "[gradcheck][autograd]") {
  gg::manual_seed(304);
  expect_gradcheck("linear (4 steps)", "LinearBackward",
                   [](const In& in) { return rnn_loss(in[0], in[1], in[2], in[3], true); },
                   {leaf({4, 3, 2}), leaf({5, 2}), leaf({5}), leaf({5, 5}, -0.5, 0.5)});
  expect_gradcheck("linear (one use)", "LinearBackward", [](const In& in) { return gg::linear(in[0], in[1], in[2]); },
                   {leaf({2, 3, 4}), leaf({6, 4}), leaf({6})});
}

TEST_CASE("embedding: rows of every use add into the gradient at once, tied to an output layer too", "[autograd]") {
  // The same sequence model twice: with the weight a leaf (deferred, added at the end) and
  // with it behind "* 1.0" (not a leaf: every use returns its dense gradient as it goes).
  std::vector<Tensor> grads;
  for (const bool deferred : {true, false}) {
    gg::manual_seed(305);
    Tensor E = leaf({7, 4});
    const Tensor W = deferred ? E : E * 1.0;
    const Tensor ids = gg::from_vector<int64_t>({1, 0, 3, 3, 6, 1, 0, 2, 5}, {3, 3});  // [T, B]
    Tensor loss = gg::zeros({}, {.dtype = gg::DType::Float64});
    for (int64_t t = 0; t < 3; ++t) {
      const Tensor x = gg::embedding(W, ids.select(0, t), 0);          // padding id 0 learns nothing
      loss = loss + gg::sum(gg::tanh(gg::linear(x, W)) * (t + 1.0));  // tied output layer [B, V]
    }
    loss.backward();
    grads.push_back(E.grad());
  }
  const auto a = grads[0].to_vector<double>(), e = grads[1].to_vector<double>();
  for (size_t k = 0; k < a.size(); ++k) REQUIRE(a[k] == Approx(e[k]).epsilon(1e-12).margin(1e-14));
}
