// Gradchecks of the indexing ops (autograd/index.cpp). Repeated indices make the backward
// add several upstream gradients into one slot, the case a copy instead of an add gets wrong.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

TEST_CASE("gradcheck: index_select along dim 0 of [5,3] with repeated indices", "[gradcheck][autograd]") {
  gg::manual_seed(401);
  expect_gradcheck("index_select", "IndexSelectBackward",
                   [](const In& in) { return gg::index_select(in[0], 0, in[1]); },
                   {leaf({5, 3}), indices({4, 0, 4, 2, 4, 0})});
}

TEST_CASE("gradcheck: index_select along dim -1 of [2,1,4] with repeated indices", "[gradcheck][autograd]") {
  gg::manual_seed(402);
  expect_gradcheck("index_select", "IndexSelectBackward",
                   [](const In& in) { return gg::index_select(in[0], -1, in[1]); },
                   {leaf({2, 1, 4}), indices({1, 1, 3})});
}

TEST_CASE("index_select sums the gradient of repeated rows", "[autograd][index]") {
  const Tensor w = gg::zeros({3, 2}, kLeaf64);
  gg::sum(gg::index_select(w, 0, indices({2, 0, 2, 2}))).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1, 1, 0, 0, 3, 3});
}

TEST_CASE("gradcheck: index_add along dim 0 into [5,3] with repeated indices, x and src", "[gradcheck][autograd]") {
  gg::manual_seed(409);
  expect_gradcheck("index_add", "IndexAddBackward",
                   [](const In& in) { return gg::index_add(in[0], 0, in[1], in[2]); },
                   {leaf({5, 3}), indices({4, 0, 4, 2}), leaf({4, 3})});
}

TEST_CASE("gradcheck: index_add along dim -1 of [2,1,4], src only", "[gradcheck][autograd]") {
  gg::manual_seed(410);
  const Tensor x = gg::randn({2, 1, 4}, {.dtype = gg::DType::Float64});
  expect_gradcheck("index_add", "IndexAddBackward",
                   [](const In& in) { return gg::index_add(in[0], -1, in[1], in[2]); },
                   {x, indices({3, 1, 3}), leaf({2, 1, 3})});
}

TEST_CASE("gradcheck: index_add_to_zeros, rows [4,2] scattered into [6,2] (a repeat)", "[gradcheck][autograd]") {
  gg::manual_seed(411);
  expect_gradcheck("index_add_to_zeros", "IndexAddBackward",
                   [](const In& in) { return gg::index_add_to_zeros(6, in[0], in[1]); },
                   {indices({5, 0, 3, 5}), leaf({4, 2})});
}

TEST_CASE("index_add scatters rows into zeros and says what does not fit", "[autograd][index]") {
  CHECK(gg::index_add_to_zeros(3, indices({2, 0}), gg::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}))
            .to_vector<double>() == std::vector<double>{3, 4, 0, 0, 1, 2});
  const Tensor src = gg::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  const Tensor y = gg::index_add(gg::zeros({3, 2}, {.dtype = gg::DType::Float64}), 0, indices({2, 0}), src);
  CHECK(y.to_vector<double>() == std::vector<double>{3, 4, 0, 0, 1, 2});
  CHECK_THROWS_WITH(gg::index_add(gg::zeros({3, 2}, {.dtype = gg::DType::Float64}), 0, indices({2}), src),
                    Catch::Contains("index_add") && Catch::Contains("[2, 2]"));
  CHECK_THROWS_WITH(gg::index_add(gg::zeros({3, 2}), 0, indices({2, 0}), src), Catch::Contains("one dtype"));
}

TEST_CASE("gradcheck: gather along dim 1 of [3,4] with index [3,5] (repeats)", "[gradcheck][autograd]") {
  gg::manual_seed(403);
  const Tensor index = indices({0, 3, 3, 1, 0, 2, 2, 2, 1, 0, 3, 1, 0, 1, 3}, {3, 5});
  expect_gradcheck("gather", "GatherBackward", [](const In& in) { return gg::gather(in[0], 1, in[1]); },
                   {leaf({3, 4}), index});
}

TEST_CASE("gradcheck: gather along dim 0 of [4,1,3] with index [2,1,3]", "[gradcheck][autograd]") {
  gg::manual_seed(404);
  const Tensor index = indices({3, 0, 3, 3, 1, 0}, {2, 1, 3});
  expect_gradcheck("gather", "GatherBackward", [](const In& in) { return gg::gather(in[0], 0, in[1]); },
                   {leaf({4, 1, 3}), index});
}

TEST_CASE("gradcheck: scatter_add along dim 1 into [3,5], both x and src", "[gradcheck][autograd]") {
  gg::manual_seed(405);
  const Tensor index = indices({0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 3, 3}, {3, 4});
  expect_gradcheck("scatter_add", "ScatterAddBackward",
                   [](const In& in) { return gg::scatter_add(in[0], 1, in[1], in[2]); },
                   {leaf({3, 5}), index, leaf({3, 4})});
}

TEST_CASE("gradcheck: scatter_add along dim 0 into [4,2], src only", "[gradcheck][autograd]") {
  gg::manual_seed(406);
  const Tensor x = gg::randn({4, 2}, {.dtype = gg::DType::Float64});
  const Tensor index = indices({1, 3, 1, 1, 0, 3}, {3, 2});
  expect_gradcheck("scatter_add", "ScatterAddBackward",
                   [](const In& in) { return gg::scatter_add(in[0], 0, in[1], in[2]); }, {x, index, leaf({3, 2})});
}

TEST_CASE("gradcheck: scatter_add along dim 0 into [4,2], x only", "[gradcheck][autograd]") {
  gg::manual_seed(407);
  const Tensor src = gg::randn({3, 2}, {.dtype = gg::DType::Float64});
  const Tensor index = indices({1, 3, 1, 1, 0, 3}, {3, 2});
  expect_gradcheck("scatter_add", "ScatterAddBackward",
                   [](const In& in) { return gg::scatter_add(in[0], 0, in[1], in[2]); }, {leaf({4, 2}), index, src});
}

TEST_CASE("gradcheck: embedding lookup, index_select of a [6,4] table by token ids [2,3]", "[gradcheck][autograd]") {
  gg::manual_seed(408);
  const Tensor ids = indices({5, 0, 5, 2, 2, 1}, {2, 3});
  expect_gradcheck("embedding", "IndexSelectBackward",
                   [](const In& in) { return gg::index_select(in[0], 0, in[1].flatten()).reshape({2, 3, 4}); },
                   {leaf({6, 4}), ids});
}
