// softmax/log_softmax along any dim, stable on huge inputs; and the indexing and joining ops
// (index_select, gather, scatter_add, index_add, one_hot, cat, stack, split, chunk) against
// values worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Tensor;
using gg::testing::at;
using gg::testing::check_values;
using gg::testing::unravel;

namespace {

// softmax (or log_softmax) of x along dim, one slice at a time, in double.
std::vector<double> naive_softmax(const Tensor& x, int64_t dim, bool log) {
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  const int64_t n = x.shape()[d];
  std::vector<double> out(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = unravel(i, x.shape());
    double mx = -INFINITY, total = 0;
    auto j_idx = idx;
    for (int64_t j = 0; j < n; ++j) {
      j_idx[d] = j;
      mx = std::max(mx, at(x, j_idx));
    }
    for (int64_t j = 0; j < n; ++j) {
      j_idx[d] = j;
      total += std::exp(at(x, j_idx) - mx);
    }
    const double v = at(x, idx) - mx;
    out[i] = log ? v - std::log(total) : std::exp(v) / total;
  }
  return out;
}

Tensor ints(std::vector<int64_t> v, const Shape& shape = {}) { return gg::from_vector(v, shape); }

}  // namespace

TEST_CASE("softmax and log_softmax along any dim match a naive loop", "[core][softmax]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    // float32 rounds x - max to about 1e-6 absolute for |x| ~ 10: that is softmax's relative
    // error and log_softmax's absolute one.
    const double rtol = dt == DType::Float32 ? 3e-6 : 1e-13;
    const double log_atol = dt == DType::Float32 ? 1e-5 : 1e-13;
    gg::manual_seed(6);
    std::vector<std::pair<const char*, Tensor>> inputs = {
        {"contiguous", gg::randn({3, 4, 5}, {.dtype = dt}) * 3.0},
        {"permuted", gg::randn({5, 3, 4}, {.dtype = dt}).permute({1, 2, 0})},
        {"narrowed", gg::randn({4, 6, 5}, {.dtype = dt}).narrow(0, 1, 3).narrow(1, 2, 4)}};
    for (const auto& [kind, x] : inputs) {
      for (int64_t dim : {0, 1, 2, -1, -3}) {
        auto what = fmt::format("{} {} dim {}", gg::dtype_name(dt), kind, dim);
        Tensor s = gg::softmax(x, dim);
        CHECK(s.dtype() == dt);
        check_values(s, {3, 4, 5}, naive_softmax(x, dim, false), "softmax " + what, rtol, 1e-30);
        check_values(gg::log_softmax(x, dim), {3, 4, 5}, naive_softmax(x, dim, true), "log_softmax " + what, rtol,
                     log_atol);
        // Every slice along dim sums to 1.
        auto sums = gg::sum(s, {dim}).to_vector<double>();
        for (double v : sums) REQUIRE(v == Approx(1).epsilon(dt == DType::Float32 ? 1e-6 : 1e-14));
      }
    }
  }
}

TEST_CASE("softmax stays finite on huge inputs and masks -inf to exactly 0", "[core][softmax]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    INFO(gg::dtype_name(dt));
    auto x = gg::tensor({1000, 0, -1000, 1000, 1000, 1000}, {.dtype = dt}).reshape({2, 3});
    check_values(gg::softmax(x, 1), {2, 3}, {1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, "softmax huge", 1e-6);
    check_values(gg::log_softmax(x, 1), {2, 3}, {0, -1000, -2000, -std::log(3.0), -std::log(3.0), -std::log(3.0)},
                 "log_softmax huge", 1e-6, 1e-6);
    check_values(gg::softmax(x, 0), {2, 3}, {0.5, 0, 0, 0.5, 1, 1}, "softmax huge dim 0", 1e-6);
    const double inf = std::numeric_limits<double>::infinity();
    auto masked = gg::masked_fill(gg::tensor({1, 2, 3}, {.dtype = dt}), gg::tensor({0, 1, 0}).to(DType::Bool), -inf);
    const double e1 = std::exp(1.0 - 3.0), e3 = 1.0;
    check_values(gg::softmax(masked, 0), {3}, {e1 / (e1 + e3), 0, e3 / (e1 + e3)}, "softmax masked", 1e-6);
    check_values(gg::log_softmax(masked, 0), {3}, {std::log(e1 / (e1 + e3)), -inf, std::log(e3 / (e1 + e3))},
                 "log_softmax masked", 1e-6);
  }
  auto s = gg::scalar_tensor(5, {.dtype = DType::Float64});
  CHECK(gg::softmax(s, 0).item() == 1);
  CHECK(gg::log_softmax(s, -1).item() == 0);
  REQUIRE_THROWS_WITH(gg::softmax(gg::arange(3), 0), Catch::Contains("softmax") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(gg::log_softmax(gg::ones({2, 3}), 2), Catch::Contains("log_softmax") && Catch::Contains("dim 2"));
}

TEST_CASE("log_softmax equals log(softmax) on moderate inputs", "[core][softmax]") {
  gg::manual_seed(10);
  auto x = gg::randn({7, 9}, {.dtype = DType::Float64}) * 4.0;
  for (int64_t dim : {0, 1}) {
    auto a = gg::log_softmax(x, dim);
    auto b = gg::log(gg::softmax(x, dim));
    check_values(a, {7, 9}, gg::testing::values(b), fmt::format("dim {}", dim), 1e-12, 1e-12);
  }
}

TEST_CASE("index_select picks slices, repeats allowed", "[core][index]") {
  auto x = gg::testing::iota({3, 4});  // x[i][j] = 4 i + j
  check_values(gg::index_select(x, 0, ints({2, 0, 2})), {3, 4}, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}, "dim 0");
  check_values(gg::index_select(x, -1, ints({3, 1})), {3, 2}, {3, 1, 7, 5, 11, 9}, "dim -1");
  check_values(gg::index_select(x.t(), 1, ints({1})), {4, 1}, {4, 5, 6, 7}, "of a transposed view");
  // A non-contiguous index, and an empty one.
  auto idx = ints({0, 9, 2, 9, 1, 9}).narrow(0, 0, 6).view({3, 2}).select(1, 0);  // [0, 2, 1], stride 2
  check_values(gg::index_select(x, 0, idx), {3, 4}, {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7}, "strided index");
  CHECK(gg::index_select(x, 1, ints({})).shape() == Shape{3, 0});
  // An embedding lookup: rows of a [V, E] table.
  auto table = gg::testing::iota({5, 2}, DType::Float32, 0.5);
  check_values(gg::index_select(table, 0, ints({4, 4, 0})), {3, 2}, {4, 4.5, 4, 4.5, 0, 0.5}, "embedding");
  REQUIRE_THROWS_AS(gg::index_select(x, 0, ints({3})), gg::Error);
  REQUIRE_THROWS_WITH(gg::index_select(x, 0, ints({0, 3})), Catch::Contains("index_select") &&
                                                               Catch::Contains("index 3") &&
                                                               Catch::Contains("size 3"));
  REQUIRE_THROWS_WITH(gg::index_select(x, 1, ints({-1})), Catch::Contains("index -1") && Catch::Contains("size 4"));
  REQUIRE_THROWS_WITH(gg::index_select(x, 0, gg::tensor({0, 1})), Catch::Contains("int64") &&
                                                                      Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(gg::index_select(x, 0, ints({0, 1}, {2, 1})), Catch::Contains("1-D"));
}

TEST_CASE("index_add adds slices at the indices, repeats accumulate", "[core][index]") {
  auto x = gg::zeros({3, 2}, {.dtype = DType::Float64});
  auto src = gg::testing::iota({4, 2}, DType::Float64, 1, 1);  // [[1,2],[3,4],[5,6],[7,8]]
  check_values(gg::kernel::index_add(x, 0, ints({2, 0, 2, 2}), src), {3, 2}, {3, 4, 0, 0, 1 + 5 + 7, 2 + 6 + 8},
               "index_add dim 0");
  check_values(x, {3, 2}, std::vector<double>(6, 0), "index_add leaves its input alone");
  auto y = gg::ones({2, 3}, {.dtype = DType::Float64});
  check_values(gg::kernel::index_add(y, 1, ints({1, 1}), gg::testing::iota({2, 2}, DType::Float64)), {2, 3},
               {1, 2, 1, 1, 6, 1}, "index_add dim 1");
  REQUIRE_THROWS_WITH(gg::kernel::index_add(x, 0, ints({3, 0, 0, 0}), src), Catch::Contains("index_add") &&
                                                                                Catch::Contains("index 3"));
  REQUIRE_THROWS_WITH(gg::kernel::index_add(x, 0, ints({0}), src), Catch::Contains("index_add") &&
                                                                       Catch::Contains("[4, 2]"));
}

TEST_CASE("gather reads x[i][index[i][j]] along dim", "[core][index]") {
  auto x = gg::testing::iota({2, 3});  // [[0,1,2],[3,4,5]]
  auto idx = ints({2, 0, 0, 1, 1, 1, 2, 0}, {2, 4});
  check_values(gg::gather(x, 1, idx), {2, 4}, {2, 0, 0, 1, 4, 4, 5, 3}, "gather dim 1");
  auto idx0 = ints({1, 0, 1, 0, 0, 1}, {2, 3});
  check_values(gg::gather(x, 0, idx0), {2, 3}, {3, 1, 5, 0, 1, 5}, "gather dim 0");
  check_values(gg::gather(x.t(), -1, ints({1, 0, 1}, {3, 1})), {3, 1}, {3, 1, 5}, "gather of a transposed view");
  // Picking each row's target, as cross-entropy does.
  auto logits = gg::testing::iota({3, 4}, DType::Float32, 0.5);
  check_values(gg::gather(logits, 1, ints({3, 0, 2}, {3, 1})), {3, 1}, {1.5, 2, 5}, "gather targets");
  REQUIRE_THROWS_WITH(gg::gather(x, 1, ints({3}, {1, 1})), Catch::Contains("gather") && Catch::Contains("[1, 1]"));
  REQUIRE_THROWS_WITH(gg::gather(x, 1, ints({0, 3}, {2, 1})), Catch::Contains("gather") &&
                                                                  Catch::Contains("index 3") &&
                                                                  Catch::Contains("size 3"));
}

TEST_CASE("scatter_add adds src at index along dim", "[core][index]") {
  auto x = gg::zeros({2, 4}, {.dtype = DType::Float64});
  auto idx = ints({0, 3, 0, 1, 1, 1}, {2, 3});
  auto src = gg::testing::iota({2, 3}, DType::Float64, 1, 1);  // [[1,2,3],[4,5,6]]
  check_values(gg::scatter_add(x, 1, idx, src), {2, 4}, {1 + 3, 0, 0, 2, 0, 4 + 5 + 6, 0, 0}, "scatter_add dim 1");
  auto y = gg::ones({3, 2}, {.dtype = DType::Float64});
  check_values(gg::scatter_add(y, 0, ints({2, 2, 0, 2}, {2, 2}), gg::testing::iota({2, 2}, DType::Float64)), {3, 2},
               {1 + 2, 1, 1, 1, 1 + 0, 1 + 1 + 3}, "scatter_add dim 0");
  // scatter_add undoes gather's selection: summing gathered ones counts the picks.
  auto counts = gg::scatter_add(gg::zeros({4}, {.dtype = DType::Int64}), 0, ints({1, 3, 1, 1}), ints({1, 1, 1, 1}));
  CHECK(counts.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 0, 1});
  REQUIRE_THROWS_WITH(gg::scatter_add(x, 1, idx, gg::ones({2, 3})), Catch::Contains("scatter_add") &&
                                                                         Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(gg::scatter_add(x, 1, ints({4}, {1, 1}).expand({2, 3}), src),
                      Catch::Contains("scatter_add") && Catch::Contains("index 4"));
}

TEST_CASE("one_hot", "[core][index]") {
  auto h = gg::one_hot(ints({2, 0, 1, 2}, {2, 2}), 3);
  CHECK(h.dtype() == DType::Int64);
  check_values(h, {2, 2, 3}, {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}, "one_hot");
  check_values(gg::one_hot(ints({1, 5, 0, 5}, {2, 2}).select(1, 0), 2), {2, 2}, {0, 1, 1, 0}, "one_hot of a view");
  REQUIRE_THROWS_WITH(gg::one_hot(ints({0, 3}), 3), Catch::Contains("one_hot") && Catch::Contains("index 3") &&
                                                        Catch::Contains("size 3"));
  REQUIRE_THROWS_WITH(gg::one_hot(ints({-1}), 3), Catch::Contains("one_hot") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(gg::one_hot(ints({0}), 0), Catch::Contains("one_hot"));
}

TEST_CASE("cat joins along any dim, reading views through their strides", "[core][join]") {
  auto a = gg::testing::iota({2, 3});              // [[0,1,2],[3,4,5]]
  auto b = gg::testing::iota({1, 3}, DType::Float64, 1, 10);  // [[10,11,12]]
  check_values(gg::cat({a, b}, 0), {3, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12}, "cat dim 0");
  auto c = gg::testing::iota({2, 2}, DType::Float64, -1);  // [[0,-1],[-2,-3]]
  check_values(gg::cat({a, c, a.narrow(1, 2, 1)}, -1), {2, 6}, {0, 1, 2, 0, -1, 2, 3, 4, 5, -2, -3, 5}, "cat dim -1");
  check_values(gg::cat({a.t(), b.t()}, 1), {3, 3}, {0, 3, 10, 1, 4, 11, 2, 5, 12}, "cat of transposed views");
  auto one = gg::cat({a}, 0);
  CHECK_FALSE(one.shares_storage_with(a));
  check_values(one, {2, 3}, {0, 1, 2, 3, 4, 5}, "cat of one tensor");
  CHECK(gg::cat({a, gg::zeros({0, 3}, {.dtype = DType::Float64})}, 0).shape() == Shape{2, 3});
  REQUIRE_THROWS_WITH(gg::cat({a, c}, 0), Catch::Contains("cat") && Catch::Contains("[2, 2]") &&
                                              Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(gg::cat({a, a.to(DType::Float32)}, 0), Catch::Contains("cat") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(gg::cat({gg::scalar_tensor(1)}, 0), Catch::Contains("cat") && Catch::Contains("stack"));
  REQUIRE_THROWS_AS(gg::cat({}, 0), gg::Error);
}

TEST_CASE("stack adds a dim, split and chunk cut views", "[core][join]") {
  auto a = gg::testing::iota({2, 3});
  auto b = gg::testing::iota({2, 3}, DType::Float64, 1, 10);
  auto s0 = gg::stack({a, b}, 0);
  check_values(s0, {2, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}, "stack dim 0");
  check_values(gg::stack({a, b}, 1), {2, 2, 3}, {0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15}, "stack dim 1");
  check_values(gg::stack({a, b}, -1), {2, 3, 2}, {0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15}, "stack dim -1");
  REQUIRE_THROWS_WITH(gg::stack({a, b.t()}, 0), Catch::Contains("stack") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_AS(gg::stack({a}, 3), gg::Error);

  auto x = gg::testing::iota({5, 2});
  auto parts = gg::split(x, 2, 0);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].shape() == Shape{2, 2});
  CHECK(parts[2].shape() == Shape{1, 2});
  for (const auto& p : parts) CHECK(p.shares_storage_with(x));
  check_values(parts[1], {2, 2}, {4, 5, 6, 7}, "split piece 1");
  check_values(parts[2], {1, 2}, {8, 9}, "split piece 2");
  auto cols = gg::split(x, 1, -1);
  REQUIRE(cols.size() == 2);
  check_values(cols[1], {5, 1}, {1, 3, 5, 7, 9}, "split along dim -1");
  auto ch = gg::chunk(x, 3, 0);  // 5 rows in 3 chunks: 2, 2, 1 (torch.chunk)
  REQUIRE(ch.size() == 3);
  CHECK(ch[0].shape() == Shape{2, 2});
  CHECK(ch[2].shape() == Shape{1, 2});
  auto ch4 = gg::chunk(gg::testing::iota({6}), 4, 0);  // size 2 each: only 3 chunks
  REQUIRE(ch4.size() == 3);
  check_values(ch4[2], {2}, {4, 5}, "chunk 6 into 4");
  // A write into a piece reaches the whole.
  parts[1].fill_(-1);
  CHECK(at(x, {2, 0}) == -1);
  CHECK(at(x, {4, 0}) == 8);
  REQUIRE_THROWS_WITH(gg::split(x, 0, 0), Catch::Contains("split"));
  REQUIRE_THROWS_WITH(gg::chunk(x, 0, 0), Catch::Contains("chunk"));
}
