#include <catch2/catch.hpp>

#include <cmath>

#include "glassgrad.h"

// The whole stack once, checked against plain loops: loss = sum tanh(x w), dloss/dw = x^T (1 - tanh(x w)^2).
TEST_CASE("smoke: matmul, tanh, backward", "[core]") {
  gg::manual_seed(0);
  auto x = gg::randn({4, 3}, {.dtype = gg::DType::Float64});
  auto w = gg::randn({3, 2}, {.dtype = gg::DType::Float64, .requires_grad = true});
  auto loss = gg::sum(gg::tanh(gg::matmul(x, w)));
  loss.backward();
  INFO(gg::graph_string(loss));
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), g = w.grad().to_vector<double>();
  double want_loss = 0;
  std::vector<double> want_grad(6, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      double z = 0;
      for (int k = 0; k < 3; ++k) z += xv[i * 3 + k] * wv[k * 2 + j];
      want_loss += std::tanh(z);
      for (int k = 0; k < 3; ++k) want_grad[k * 2 + j] += xv[i * 3 + k] * (1 - std::tanh(z) * std::tanh(z));
    }
  CHECK(loss.item() == Approx(want_loss).epsilon(1e-12));
  REQUIRE(w.grad().shape() == gg::Shape{3, 2});
  for (size_t e = 0; e < 6; ++e) CHECK(g[e] == Approx(want_grad[e]).epsilon(1e-12));
}
