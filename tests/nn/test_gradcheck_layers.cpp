// Gradchecks of the feed-forward layers, in float64, with respect to the input and every
// parameter. Parameters are checked through the module itself: the function re-binds the
// module's members to gradcheck's (cloned) inputs, then calls forward().
#include <memory>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace nn = gg::nn;
constexpr gg::DType F64 = gg::DType::Float64;

TEST_CASE("gradcheck: Linear with bias on a 3-D input", "[gradcheck][nn]") {
  gg::manual_seed(101);
  nn::Linear m(3, 4, {.dtype = F64});
  // x [B=2, T=3, in=3] -> [2, 3, 4]
  auto fn = [&m](const In& in) {
    bind_members({&m.weight, &m.bias}, in, 1);
    return m.forward(in[0]);
  };
  expect_gradcheck("Linear(3, 4)", "LinearBackward", fn, {leaf({2, 3, 3}), leaf({4, 3}), leaf({4})});
}

TEST_CASE("gradcheck: Linear without bias on a 3-D input", "[gradcheck][nn]") {
  gg::manual_seed(102);
  nn::Linear m(3, 2, {.bias = false, .dtype = F64});
  REQUIRE_FALSE(m.bias.defined());
  auto fn = [&m](const In& in) {
    bind_members({&m.weight}, in, 1);
    return m.forward(in[0]);
  };
  expect_gradcheck("Linear(3, 2, bias=false)", "LinearBackward", fn, {leaf({2, 1, 3}), leaf({2, 3})});
}

TEST_CASE("gradcheck: Linear on a 2-D input with a size-1 batch", "[gradcheck][nn]") {
  gg::manual_seed(103);
  nn::Linear m(4, 3, {.dtype = F64});
  auto fn = [&m](const In& in) {
    bind_members({&m.weight, &m.bias}, in, 1);
    return m.forward(in[0]);
  };
  expect_gradcheck("Linear(4, 3)", "LinearBackward", fn, {leaf({1, 4}), leaf({3, 4}), leaf({3})});
}

TEST_CASE("gradcheck: Embedding with padding_idx (weight gradient)", "[gradcheck][nn]") {
  gg::manual_seed(104);
  nn::Embedding m(5, 3, {.padding_idx = 1, .dtype = F64});
  // ids [B=2, T=4] with repeats (gradients accumulate) and the padding id 1.
  const Tensor ids = indices({0, 1, 3, 3, 1, 4, 0, 3}, {2, 4});
  // The padding row is frozen by definition (its gradient is zero although the output reads
  // it), so the function is checked w.r.t. the other rows: in[0] is row 0, in[1] rows 2..4.
  const Tensor padding_row = gg::uniform({1, 3}, -1.0, 1.0, {.dtype = F64});
  auto fn = [&m, ids, padding_row](const In& in) {
    m.weight = gg::cat({in[0], padding_row, in[1]}, 0);
    return m.forward(ids);
  };
  expect_gradcheck("Embedding(5, 3, padding_idx=1)", "EmbeddingBackward", fn, {leaf({1, 3}), leaf({3, 3})});

  // The padding row gets exactly no gradient, the repeated id 3 gets three rows' worth.
  Tensor w = leaf({5, 3});
  m.weight = w;
  Tensor r = gg::randn({2, 4, 3}, {.dtype = F64});
  gg::sum(m.forward(ids) * r).backward();
  CHECK(all_zero(w.grad().select(0, 1)));
  CHECK(all_zero(w.grad().select(0, 2)));  // never looked up
  require_close(w.grad().select(0, 3), r.select(0, 0).select(0, 2) + r.select(0, 0).select(0, 3) +
                                                     r.select(0, 1).select(0, 3),
                         1e-15, "grad of row 3");
}

TEST_CASE("gradcheck: LayerNorm with affine params over the last dim", "[gradcheck][nn]") {
  gg::manual_seed(105);
  nn::LayerNorm m({4}, {.dtype = F64});
  auto fn = [&m](const In& in) {
    bind_members({&m.weight, &m.bias}, in, 1);
    return m.forward(in[0]);
  };
  // weight and bias away from their init (1 and 0) so the check sees the general case.
  expect_gradcheck("LayerNorm([4])", "LayerNormBackward", fn, {leaf({2, 3, 4}, -2.0, 2.0), leaf({4}, 0.5, 1.5), leaf({4})});
}

TEST_CASE("gradcheck: LayerNorm with affine params over the last two dims", "[gradcheck][nn]") {
  gg::manual_seed(106);
  nn::LayerNorm m({2, 3}, {.dtype = F64});
  auto fn = [&m](const In& in) {
    bind_members({&m.weight, &m.bias}, in, 1);
    return m.forward(in[0]);
  };
  expect_gradcheck("LayerNorm([2, 3])", "LayerNormBackward", fn, {leaf({2, 2, 3}, -2.0, 2.0), leaf({2, 3}, 0.5, 1.5), leaf({2, 3})});
}

TEST_CASE("gradcheck: LayerNorm without affine params", "[gradcheck][nn]") {
  gg::manual_seed(107);
  nn::LayerNorm m({3}, {.elementwise_affine = false, .dtype = F64});
  REQUIRE(m.parameters().empty());
  expect_gradcheck("LayerNorm([3], no affine)", "LayerNormBackward", [&m](const In& in) { return m.forward(in[0]); }, {leaf({4, 3})});
}

TEST_CASE("gradcheck: GELU, Tanh, Sigmoid and ReLU modules", "[gradcheck][nn]") {
  gg::manual_seed(108);
  nn::GELU gelu;
  nn::Tanh tanh;
  nn::Sigmoid sigmoid;
  nn::ReLU relu;
  expect_gradcheck("GELU", "ErfBackward", [&](const In& in) { return gelu.forward(in[0]); }, {leaf({2, 5}, -3.0, 3.0)});
  expect_gradcheck("Tanh", "TanhBackward", [&](const In& in) { return tanh.forward(in[0]); }, {leaf({2, 5}, -2.0, 2.0)});
  expect_gradcheck("Sigmoid", "SigmoidBackward", [&](const In& in) { return sigmoid.forward(in[0]); }, {leaf({2, 5}, -3.0, 3.0)});
  expect_gradcheck("ReLU", "ReluBackward", [&](const In& in) { return relu.forward(in[0]); }, {leaf_avoiding({2, 5}, -1.0, 1.0, {0.0})});
}

TEST_CASE("gradcheck: Dropout in training with a fixed mask", "[gradcheck][nn]") {
  gg::manual_seed(109);
  nn::Dropout m(0.4);
  REQUIRE(m.is_training());
  // Re-seeding inside the function draws the same mask on every call.
  auto fn = [&m](const In& in) {
    gg::manual_seed(7);
    return m.forward(in[0]);
  };
  const Tensor x = leaf({4, 5}, 0.5, 1.5);
  expect_gradcheck("Dropout(0.4)", "MulBackward", fn, {x});

  // The mask is a real one: some elements dropped, the rest scaled by 1 / (1 - p).
  const std::vector<double> in = x.to_vector<double>(), out = fn({x}).to_vector<double>();
  int dropped = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (out[i] == 0.0) ++dropped;
    else CHECK(out[i] == Approx(in[i] / 0.6).epsilon(1e-15));
  }
  CHECK(dropped > 0);
  CHECK(dropped < 20);
}

TEST_CASE("gradcheck: Sequential MLP (Linear, Tanh, Linear, GELU, Linear)", "[gradcheck][nn]") {
  gg::manual_seed(110);
  nn::Sequential mlp;
  auto l0 = mlp.push_back(std::make_shared<nn::Linear>(3, 4, nn::LinearOptions{.dtype = F64}));
  mlp.push_back(std::make_shared<nn::Tanh>());
  auto l2 = mlp.push_back(std::make_shared<nn::Linear>(4, 4, nn::LinearOptions{.bias = false, .dtype = F64}));
  mlp.push_back(std::make_shared<nn::GELU>());
  auto l4 = mlp.push_back(std::make_shared<nn::Linear>(4, 2, nn::LinearOptions{.dtype = F64}));
  const std::vector<Tensor*> slots{&l0->weight, &l0->bias, &l2->weight, &l4->weight, &l4->bias};
  auto fn = [&](const In& in) {
    bind_members(slots, in, 1);
    return mlp.forward(in[0]);
  };
  In inputs{leaf({3, 3})};
  for (const Tensor& p : param_leaves(mlp)) inputs.push_back(p);
  REQUIRE(inputs.size() == 1 + slots.size());
  expect_gradcheck("Sequential MLP", "", fn, inputs);
}
