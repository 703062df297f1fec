#include <catch2/catch.hpp>

#include "glassgrad.h"

TEST_CASE("smoke: matmul, tanh, backward", "[core]") {
  gg::manual_seed(0);
  auto x = gg::randn({4, 3});
  auto w = gg::randn({3, 2}, {.requires_grad = true});
  auto loss = gg::sum(gg::tanh(gg::matmul(x, w)));
  loss.backward();
  REQUIRE(w.grad().shape() == gg::Shape{3, 2});
  INFO(gg::graph_string(loss));
  INFO(x.str());
  CHECK(std::isfinite(loss.item()));
}
