// Gradchecks of the reductions (autograd/reduce.cpp): sum, mean, var over various dims,
// with and without keepdim, max/min with a dim and over everything, sum_to.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

// ---- sum, mean ------------------------------------------------------------------------------

TEST_CASE("gradcheck: sum over all dims of [2,3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(101);
  expect_gradcheck("sum", "SumBackward", [](const In& in) { return gg::sum(in[0]); }, {leaf({2, 3, 4})});
}

TEST_CASE("gradcheck: sum over dim 1 of [2,3,4], with and without keepdim", "[gradcheck][autograd]") {
  gg::manual_seed(102);
  const Tensor x = leaf({2, 3, 4});
  expect_gradcheck("sum", "SumBackward", [](const In& in) { return gg::sum(in[0], {1}); }, {x});
  expect_gradcheck("sum", "SumBackward", [](const In& in) { return gg::sum(in[0], {1}, true); }, {x});
}

TEST_CASE("gradcheck: sum over dims {0,-1} of [2,1,3,4] with keepdim", "[gradcheck][autograd]") {
  gg::manual_seed(103);
  expect_gradcheck("sum", "SumBackward", [](const In& in) { return gg::sum(in[0], {0, -1}, true); },
                   {leaf({2, 1, 3, 4})});
}

TEST_CASE("gradcheck: mean over all dims and over dim -1 of [3,1,4]", "[gradcheck][autograd]") {
  gg::manual_seed(104);
  const Tensor x = leaf({3, 1, 4});
  expect_gradcheck("mean", "MeanBackward", [](const In& in) { return gg::mean(in[0]); }, {x});
  expect_gradcheck("mean", "MeanBackward", [](const In& in) { return gg::mean(in[0], {-1}); }, {x});
}

TEST_CASE("gradcheck: mean over dims {0,2} of [2,3,4] with keepdim", "[gradcheck][autograd]") {
  gg::manual_seed(105);
  expect_gradcheck("mean", "MeanBackward", [](const In& in) { return gg::mean(in[0], {0, 2}, true); },
                   {leaf({2, 3, 4})});
}

// ---- var ------------------------------------------------------------------------------------

TEST_CASE("gradcheck: var over all dims of [3,4] (correction 1)", "[gradcheck][autograd]") {
  gg::manual_seed(106);
  expect_gradcheck("var", "VarBackward", [](const In& in) { return gg::var(in[0]); }, {leaf({3, 4})});
}

TEST_CASE("gradcheck: var over dim 1 of [2,5,3], with and without keepdim", "[gradcheck][autograd]") {
  gg::manual_seed(107);
  const Tensor x = leaf({2, 5, 3});
  expect_gradcheck("var", "VarBackward", [](const In& in) { return gg::var(in[0], {1}); }, {x});
  expect_gradcheck("var", "VarBackward", [](const In& in) { return gg::var(in[0], {1}, 1, true); }, {x});
}

TEST_CASE("gradcheck: var over dims {0,-1} of [2,3,4] with correction 0 and keepdim", "[gradcheck][autograd]") {
  gg::manual_seed(108);
  expect_gradcheck("var", "VarBackward", [](const In& in) { return gg::var(in[0], {0, -1}, 0, true); },
                   {leaf({2, 3, 4})});
}

// ---- max, min -------------------------------------------------------------------------------

TEST_CASE("gradcheck: max over dim 1 of [3,4,2] (values), no ties", "[gradcheck][autograd]") {
  gg::manual_seed(109);
  const Tensor x = leaf_distinct({3, 4, 2});
  expect_gradcheck("max", "MaxBackward", [](const In& in) { return gg::max(in[0], 1).values; }, {x});
  expect_gradcheck("max", "MaxBackward", [](const In& in) { return gg::max(in[0], 1, true).values; }, {x});
}

TEST_CASE("gradcheck: max over dim -1 of [4,1,5] with keepdim, no ties", "[gradcheck][autograd]") {
  gg::manual_seed(110);
  expect_gradcheck("max", "MaxBackward", [](const In& in) { return gg::max(in[0], -1, true).values; },
                   {leaf_distinct({4, 1, 5})});
}

TEST_CASE("gradcheck: min over dim 0 of [5,3], no ties", "[gradcheck][autograd]") {
  gg::manual_seed(111);
  expect_gradcheck("min", "MinBackward", [](const In& in) { return gg::min(in[0], 0).values; },
                   {leaf_distinct({5, 3})});
}

TEST_CASE("gradcheck: max and min over all elements of [3,4], no ties", "[gradcheck][autograd]") {
  gg::manual_seed(112);
  const Tensor x = leaf_distinct({3, 4});
  expect_gradcheck("max", "MaxBackward", [](const In& in) { return gg::max(in[0]); }, {x});
  expect_gradcheck("min", "MinBackward", [](const In& in) { return gg::min(in[0]); }, {x});
}

TEST_CASE("max over a dim sends the gradient to the largest element only", "[autograd][reduce]") {
  const Tensor x = gg::from_vector(std::vector<double>{1, 5, 3, 7, 2, 6}, {2, 3}, kLeaf64);
  auto [values, idx] = gg::max(x, 1);
  CHECK(values.to_vector<double>() == std::vector<double>{5, 7});
  CHECK(idx.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  gg::sum(values * gg::tensor({10, 20}, {.dtype = gg::DType::Float64})).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 10, 0, 20, 0, 0});
}

// ---- sum_to ---------------------------------------------------------------------------------

TEST_CASE("gradcheck: sum_to [2,3,4] -> [3,1] and [2,3] -> [3]", "[gradcheck][autograd]") {
  gg::manual_seed(113);
  expect_gradcheck("sum_to", "SumToBackward", [](const In& in) { return gg::sum_to(in[0], {3, 1}); },
                   {leaf({2, 3, 4})});
  expect_gradcheck("sum_to", "SumToBackward", [](const In& in) { return gg::sum_to(in[0], {3}); }, {leaf({2, 3})});
}

TEST_CASE("gradcheck: sum_to [2,1,4] -> [1,1,4] and down to a 0-d tensor", "[gradcheck][autograd]") {
  gg::manual_seed(114);
  const Tensor x = leaf({2, 1, 4});
  expect_gradcheck("sum_to", "SumToBackward", [](const In& in) { return gg::sum_to(in[0], {1, 1, 4}); }, {x});
  expect_gradcheck("sum_to", "SumToBackward", [](const In& in) { return gg::sum_to(in[0], {}); }, {x});
}

TEST_CASE("sum_to to the same shape records nothing", "[autograd][reduce]") {
  const Tensor x = leaf({2, 3});
  const Tensor y = gg::sum_to(x, {2, 3});
  CHECK(y.is_leaf());
  CHECK(y.shares_storage_with(x));
}

TEST_CASE("gradcheck: sum, mean, var and max over dim 0 of a 0-d tensor", "[gradcheck][autograd]") {
  gg::manual_seed(115);
  const Tensor x = leaf({});
  expect_gradcheck("sum", "SumBackward", [](const In& in) { return gg::sum(in[0], {0}); }, {x});
  expect_gradcheck("mean", "MeanBackward", [](const In& in) { return gg::mean(in[0], {-1}, true); }, {x});
  expect_gradcheck("var", "VarBackward", [](const In& in) { return gg::var(in[0], {0}, 0) + in[0]; }, {x});
  expect_gradcheck("max", "MaxBackward", [](const In& in) { return gg::max(in[0], 0).values; }, {x});
}

TEST_CASE("a mean over a size-1 dim is still called MeanBackward", "[autograd][reduce]") {
  const Tensor x = leaf({3, 1});
  CHECK(gg::mean(x, {1}).grad_fn()->name() == "MeanBackward");
  CHECK(gg::sum(x, {1}).grad_fn()->name() == "SumBackward");
}
