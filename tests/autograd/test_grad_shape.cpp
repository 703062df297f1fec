// Gradchecks of the shape ops (autograd/shape.cpp): views, copies, cat/stack/split/chunk.
// A view's output is multiplied by the random projection like any other, so a gradient
// put back in the wrong place (a missing inverse permutation, a wrong offset) shows up.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

// ---- reshape, view, squeeze, unsqueeze ------------------------------------------------------

TEST_CASE("gradcheck: reshape [2,3,4] -> [4,-1]", "[gradcheck][autograd]") {
  gg::manual_seed(501);
  expect_gradcheck("reshape", "ReshapeBackward", [](const In& in) { return in[0].reshape({4, -1}); },
                   {leaf({2, 3, 4})});
}

TEST_CASE("gradcheck: reshape of a transposed view (a copy) [3,4]^T -> [12]", "[gradcheck][autograd]") {
  gg::manual_seed(502);
  expect_gradcheck("reshape", "ReshapeBackward", [](const In& in) { return in[0].t().reshape({12}) * in[1]; },
                   {leaf({3, 4}), leaf({12})});
}

TEST_CASE("gradcheck: view [2,6] -> [3,1,4] and flatten", "[gradcheck][autograd]") {
  gg::manual_seed(503);
  const Tensor x = leaf({2, 6});
  expect_gradcheck("view", "ViewBackward", [](const In& in) { return in[0].view({3, 1, 4}); }, {x});
  expect_gradcheck("flatten", "ReshapeBackward", [](const In& in) { return in[0].flatten(); }, {x});
}

TEST_CASE("gradcheck: squeeze dim 1 of [3,1,4]", "[gradcheck][autograd]") {
  gg::manual_seed(504);
  expect_gradcheck("squeeze", "SqueezeBackward", [](const In& in) { return in[0].squeeze(1) * in[1]; },
                   {leaf({3, 1, 4}), leaf({4})});
}

TEST_CASE("gradcheck: unsqueeze at dims 0 and -1 of [3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(505);
  const Tensor x = leaf({3, 4});
  expect_gradcheck("unsqueeze", "UnsqueezeBackward", [](const In& in) { return in[0].unsqueeze(0) * in[1]; },
                   {x, leaf({2, 1, 1})});
  expect_gradcheck("unsqueeze", "UnsqueezeBackward", [](const In& in) { return in[0].unsqueeze(-1) * in[1]; },
                   {x, leaf({1, 2})});
}

// ---- transpose, permute, narrow, select, expand ---------------------------------------------

TEST_CASE("gradcheck: transpose dims 0 and 2 of [2,3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(506);
  expect_gradcheck("transpose", "PermuteBackward", [](const In& in) { return in[0].transpose(0, 2); },
                   {leaf({2, 3, 4})});
}

TEST_CASE("gradcheck: permute {2,0,1} of [2,3,4] (not its own inverse)", "[gradcheck][autograd]") {
  gg::manual_seed(507);
  expect_gradcheck("permute", "PermuteBackward", [](const In& in) { return in[0].permute({2, 0, 1}); },
                   {leaf({2, 3, 4})});
}

TEST_CASE("gradcheck: narrow dim 1 of [3,5] from 1, length 3, and from -2", "[gradcheck][autograd]") {
  gg::manual_seed(508);
  const Tensor x = leaf({3, 5});
  expect_gradcheck("narrow", "NarrowBackward", [](const In& in) { return in[0].narrow(1, 1, 3); }, {x});
  expect_gradcheck("narrow", "NarrowBackward", [](const In& in) { return gg::narrow(in[0], 1, -2, 2); }, {x});
}

TEST_CASE("gradcheck: select index 2 and -1 along dim 1 of [2,4,3]", "[gradcheck][autograd]") {
  gg::manual_seed(509);
  const Tensor x = leaf({2, 4, 3});
  expect_gradcheck("select", "NarrowBackward", [](const In& in) { return in[0].select(1, 2); }, {x});
  expect_gradcheck("select", "SqueezeBackward", [](const In& in) { return in[0].select(1, -1); }, {x});
}

TEST_CASE("gradcheck: expand [3,1] -> [2,3,4] and with -1", "[gradcheck][autograd]") {
  gg::manual_seed(510);
  const Tensor x = leaf({3, 1});
  expect_gradcheck("expand", "ExpandBackward", [](const In& in) { return in[0].expand({2, 3, 4}); }, {x});
  expect_gradcheck("expand", "ExpandBackward", [](const In& in) { return in[0].expand({-1, 5}); }, {x});
}

// ---- contiguous, clone, to ------------------------------------------------------------------

TEST_CASE("gradcheck: contiguous of a permuted view of [2,3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(511);
  expect_gradcheck("contiguous", "ContiguousBackward",
                   [](const In& in) { return in[0].permute({1, 2, 0}).contiguous(); }, {leaf({2, 3, 4})});
}

TEST_CASE("gradcheck: clone [3,2]", "[gradcheck][autograd]") {
  gg::manual_seed(512);
  expect_gradcheck("clone", "CloneBackward", [](const In& in) { return in[0].clone() * in[0]; }, {leaf({3, 2})});
}

TEST_CASE("gradcheck: to(float64) of a float64 tensor (the identity path)", "[gradcheck][autograd]") {
  gg::manual_seed(513);
  const Tensor x = leaf({2, 3});
  CHECK(x.to(gg::DType::Float64).shares_storage_with(x));
  expect_gradcheck("to", "", [](const In& in) { return gg::to(in[0], gg::DType::Float64) * in[0]; }, {x});
}

// ---- cat, stack, split, chunk ---------------------------------------------------------------

TEST_CASE("gradcheck: cat of [2,1,3], [2,2,3], [2,3,3] along dim 1", "[gradcheck][autograd]") {
  gg::manual_seed(514);
  expect_gradcheck("cat", "CatBackward", [](const In& in) { return gg::cat({in[0], in[1], in[2]}, 1); },
                   {leaf({2, 1, 3}), leaf({2, 2, 3}), leaf({2, 3, 3})});
}

TEST_CASE("gradcheck: cat along dim -1 with a constant in the middle", "[gradcheck][autograd]") {
  gg::manual_seed(515);
  const Tensor constant = gg::randn({3, 2}, {.dtype = gg::DType::Float64});
  expect_gradcheck("cat", "CatBackward", [](const In& in) { return gg::cat({in[0], in[1], in[2]}, -1); },
                   {leaf({3, 1}), constant, leaf({3, 4})});
}

TEST_CASE("gradcheck: stack of three [2,3] along dims 0 and -1", "[gradcheck][autograd]") {
  gg::manual_seed(516);
  const In xs{leaf({2, 3}), leaf({2, 3}), leaf({2, 3})};
  expect_gradcheck("stack", "CatBackward", [](const In& in) { return gg::stack(in, 0); }, xs);
  expect_gradcheck("stack", "CatBackward", [](const In& in) { return gg::stack(in, -1); }, xs);
}

TEST_CASE("gradcheck: split [5,3] into pieces of 2 along dim 0 (the last one smaller)", "[gradcheck][autograd]") {
  gg::manual_seed(517);
  expect_gradcheck("split", "NarrowBackward",
                   [](const In& in) {
                     std::vector<Tensor> p = gg::split(in[0], 2, 0);
                     REQUIRE(p.size() == 3);
                     REQUIRE(p[2].shape() == gg::Shape{1, 3});
                     return gg::cat({p[0] * p[1], gg::tanh(p[2])}, 0);
                   },
                   {leaf({5, 3})});
}

TEST_CASE("gradcheck: chunk [4,6] into 3 along dim 1", "[gradcheck][autograd]") {
  gg::manual_seed(518);
  expect_gradcheck("chunk", "NarrowBackward",
                   [](const In& in) {
                     std::vector<Tensor> p = gg::chunk(in[0], 3, 1);
                     REQUIRE(p.size() == 3);
                     return p[0] * gg::sigmoid(p[1]) + p[2] * p[2];
                   },
                   {leaf({4, 6})});
}

TEST_CASE("views share storage with their input, cat, clone and contiguous copy", "[autograd][shape]") {
  const Tensor x = leaf({2, 3, 4});
  CHECK(x.reshape({6, 4}).shares_storage_with(x));
  CHECK(x.transpose(0, 1).shares_storage_with(x));
  CHECK(x.narrow(2, 1, 2).shares_storage_with(x));
  CHECK(x.select(0, 1).shares_storage_with(x));
  CHECK(x.unsqueeze(1).expand({2, 5, 3, 4}).shares_storage_with(x));
  CHECK_FALSE(x.clone().shares_storage_with(x));
  CHECK_FALSE(x.transpose(0, 1).contiguous().shares_storage_with(x));
  CHECK_FALSE(gg::cat({x, x}, 0).shares_storage_with(x));
}

TEST_CASE("shape ops on a 0-d tensor: transpose(0, -1) is the identity, select, split, chunk throw",
          "[autograd][shape]") {
  const Tensor x = leaf({});
  CHECK(x.transpose(0, -1).shape() == gg::Shape{});
  REQUIRE_THROWS_WITH(x.transpose(0, 1), Catch::Matchers::Contains("transpose"));
  REQUIRE_THROWS_WITH(x.select(0, 0), Catch::Matchers::Contains("select: a 0-d tensor"));
  REQUIRE_THROWS_WITH(gg::split(x, 1, 0), Catch::Matchers::Contains("split: a 0-d tensor"));
  REQUIRE_THROWS_WITH(gg::chunk(x, 2, 0), Catch::Matchers::Contains("chunk: a 0-d tensor"));
}
