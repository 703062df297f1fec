// Reductions against a naive loop that groups every input element by its output index:
// sum, mean, var, max/min with indices, argmax/argmin, over any dims, keepdim on and off,
// contiguous and non-contiguous inputs; and kernel::sum_to.
#include <catch2/catch.hpp>
#include <fmt/ranges.h>

#include <algorithm>
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

// The input elements of each output element, in row-major input order.
struct Groups {
  Shape shape;                              // output shape
  std::vector<std::vector<double>> values;  // one list per output element
};

Groups group(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const auto nd = static_cast<int64_t>(x.dim());
  std::vector<bool> reduced(nd, dims.empty());
  for (int64_t d : dims) reduced[d < 0 ? d + nd : d] = true;
  Groups g;
  for (int64_t d = 0; d < nd; ++d) {
    if (!reduced[d]) g.shape.push_back(x.shape()[d]);
    else if (keepdim) g.shape.push_back(1);
  }
  g.values.resize(static_cast<size_t>(g.shape.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = unravel(i, x.shape());
    int64_t out = 0;
    for (int64_t d = 0; d < nd; ++d)
      if (!reduced[d]) out = out * x.shape()[d] + idx[d];  // keepdim's 1s add nothing
    g.values[out].push_back(at(x, idx));
  }
  return g;
}

template <class F>
std::vector<double> fold(const Groups& g, F f) {
  std::vector<double> out;
  for (const auto& v : g.values) out.push_back(f(v));
  return out;
}

double total(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s;
}

double variance(const std::vector<double>& v, int64_t correction) {
  double m = total(v) / static_cast<double>(v.size()), s = 0;
  for (double e : v) s += (e - m) * (e - m);
  return s / static_cast<double>(static_cast<int64_t>(v.size()) - correction);
}

// The inputs every reduction runs on: a contiguous [2,3,4] and permuted and narrowed views of
// the same rank.
std::vector<std::pair<const char*, Tensor>> inputs(DType dt) {
  gg::manual_seed(21);
  return {{"contiguous", gg::randn({2, 3, 4}, {.dtype = dt})},
          {"permuted", gg::randn({4, 2, 3}, {.dtype = dt}).permute({1, 2, 0})},
          {"narrowed", gg::randn({3, 5, 4}, {.dtype = dt}).narrow(0, 1, 2).narrow(1, 1, 3)},
          {"expanded", gg::randn({1, 3, 4}, {.dtype = dt}).expand({2, 3, 4})}};
}

const std::vector<std::vector<int64_t>> kDimLists = {{0}, {1}, {2}, {-1}, {0, 2}, {-1, 0}, {1, 2}, {0, 1}, {0, 1, 2}, {}};

}  // namespace

TEST_CASE("sum and mean over any dims, keepdim on and off", "[core][reduce]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double rtol = dt == DType::Float32 ? 1e-6 : 1e-13;
    for (const auto& [kind, x] : inputs(dt)) {
      for (const auto& dims : kDimLists) {
        for (bool keepdim : {false, true}) {
          auto what = fmt::format("{} {} dims [{}] keepdim {}", gg::dtype_name(dt), kind, fmt::join(dims, ", "),
                                  keepdim);
          Groups g = group(x, dims, keepdim);
          Tensor s = gg::sum(x, dims, keepdim);
          CHECK(s.dtype() == dt);
          check_values(s, g.shape, fold(g, total), "sum " + what, rtol, 1e-12);
          check_values(gg::mean(x, dims, keepdim), g.shape,
                       fold(g, [](const auto& v) { return total(v) / static_cast<double>(v.size()); }),
                       "mean " + what, rtol, 1e-12);
        }
      }
    }
  }
}

TEST_CASE("column sums large enough to be split across threads (a bias gradient)", "[core][reduce]") {
  // [rows, cols] summed over dim 0: each thread sums a band of at least 64 columns. Shapes with
  // one band, several, and a ragged last one; float32 accumulates in double, bool counts.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{300, 200}, {1000, 1000}, {2, 130}, {4096, 3}}) {
    for (DType dt : {DType::Float32, DType::Float64}) {
      gg::manual_seed(23);
      Tensor x = gg::randn({rows, cols}, {.dtype = dt});
      Groups g = group(x, {0}, false);
      check_values(gg::sum(x, {0}, false), g.shape, fold(g, total),
                   fmt::format("sum over rows of [{}, {}] {}", rows, cols, gg::dtype_name(dt)),
                   dt == DType::Float32 ? 1e-6 : 1e-13, 1e-12);
    }
    Tensor mask = gg::gt(gg::randn({rows, cols}), 0.5);
    Groups g = group(mask, {0}, false);
    Tensor counts = gg::sum(mask, {0}, false);
    CHECK(counts.dtype() == DType::Int64);
    check_values(counts, g.shape, fold(g, total), fmt::format("count over rows of a [{}, {}] mask", rows, cols), 0, 0);
  }
}

TEST_CASE("var with correction 0 and 1", "[core][reduce]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double rtol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (const auto& [kind, x] : inputs(dt)) {
      for (const auto& dims : kDimLists) {
        for (int64_t correction : {0, 1}) {
          for (bool keepdim : {false, true}) {
            auto what = fmt::format("var {} {} dims [{}] correction {} keepdim {}", gg::dtype_name(dt), kind,
                                    fmt::join(dims, ", "), correction, keepdim);
            Groups g = group(x, dims, keepdim);
            check_values(gg::var(x, dims, correction, keepdim), g.shape,
                         fold(g, [&](const auto& v) { return variance(v, correction); }), what, rtol, 1e-12);
          }
        }
      }
    }
  }
  // By hand: var([1, 2, 3, 4]) = 1.25 (N) or 5/3 (N - 1).
  auto v = gg::tensor({1, 2, 3, 4}, {.dtype = DType::Float64});
  CHECK(gg::var(v, {}, 0).item() == Approx(1.25).epsilon(1e-15));
  CHECK(gg::var(v).item() == Approx(5.0 / 3.0).epsilon(1e-15));
  // Two passes: a large offset does not cancel the variance away.
  auto shifted = gg::tensor({1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 4}, {.dtype = DType::Float64});
  CHECK(gg::var(shifted, {}, 0).item() == Approx(1.25).epsilon(1e-9));
  REQUIRE_THROWS_WITH(gg::var(gg::ones({1, 3}), {0}, 1), Catch::Contains("var") && Catch::Contains("correction"));
}

TEST_CASE("max and min with indices along any dim", "[core][reduce]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
    gg::manual_seed(9);
    Tensor base = gg::randint(-4, 5, {2, 3, 4}).to(dt);  // small ints: many ties
    for (const auto& [kind, x] : std::vector<std::pair<const char*, Tensor>>{
             {"contiguous", base}, {"permuted", base.permute({2, 0, 1})}, {"narrowed", base.narrow(2, 1, 3)}}) {
      for (int64_t dim = -3; dim < 3; ++dim) {
        for (bool keepdim : {false, true}) {
          auto what = fmt::format("{} {} dim {} keepdim {}", gg::dtype_name(dt), kind, dim, keepdim);
          Groups g = group(x, {dim}, keepdim);
          std::vector<double> mx, mxi, mn, mni;
          for (const auto& v : g.values) {
            auto hi = std::max_element(v.begin(), v.end());  // the first of equal maxima
            auto lo = std::min_element(v.begin(), v.end());
            mx.push_back(*hi);
            mxi.push_back(static_cast<double>(hi - v.begin()));
            mn.push_back(*lo);
            mni.push_back(static_cast<double>(lo - v.begin()));
          }
          auto [values, indices] = gg::max(x, dim, keepdim);
          CHECK(values.dtype() == dt);
          CHECK(indices.dtype() == DType::Int64);
          check_values(values, g.shape, mx, "max values " + what);
          check_values(indices, g.shape, mxi, "max indices " + what);
          auto [lv, li] = gg::min(x, dim, keepdim);
          check_values(lv, g.shape, mn, "min values " + what);
          check_values(li, g.shape, mni, "min indices " + what);
          check_values(gg::argmax(x, dim, keepdim), g.shape, mxi, "argmax " + what);
          check_values(gg::argmin(x, dim, keepdim), g.shape, mni, "argmin " + what);
        }
      }
    }
  }
}

TEST_CASE("max and min by hand: ties, NaN, whole tensor, 0-d", "[core][reduce]") {
  auto x = gg::tensor({3, 7, 7, -1, 0, -1}).reshape({2, 3});
  auto [v, i] = gg::max(x, 1);
  CHECK(v.to_vector<float>() == std::vector<float>{7, 0});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 1});  // the first of the tied 7s
  auto [lv, li] = gg::min(x, 1, true);
  CHECK(lv.shape() == Shape{2, 1});
  CHECK(li.to_vector<int64_t>() == std::vector<int64_t>{0, 0});
  CHECK(gg::argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0});
  CHECK(gg::argmin(x.t(), 1).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1});
  CHECK(gg::max(x).item() == 7);
  CHECK(gg::max(x).dim() == 0);
  CHECK(gg::min(x.t()).item() == -1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto n = gg::tensor({1, nan, 5, nan}, {.dtype = DType::Float64});
  auto [nv, ni] = gg::max(n, 0);
  CHECK(std::isnan(nv.item()));
  CHECK(ni.item<int64_t>() == 1);
  CHECK(std::isnan(gg::min(n).item()));
  auto s = gg::scalar_tensor(4);
  auto [sv, si] = gg::max(s, 0);
  CHECK(sv.dim() == 0);
  CHECK(sv.item() == 4);
  CHECK(si.item<int64_t>() == 0);
  REQUIRE_THROWS_WITH(gg::max(gg::zeros({2, 0}), 1), Catch::Contains("max") && Catch::Contains("size 0"));
  REQUIRE_THROWS_WITH(gg::max(x, 2), Catch::Contains("max") && Catch::Contains("dim 2"));
  REQUIRE_THROWS_WITH(gg::argmin(gg::ones({2}, {.dtype = DType::Bool}), 0), Catch::Contains("bool"));
}

TEST_CASE("sum of bool counts, int64 sums are exact, float32 accumulates in double", "[core][reduce]") {
  auto mask = gg::tensor({1, 0, 1, 1, 0, 1}).to(DType::Bool).reshape({2, 3});
  auto count = gg::sum(mask);
  CHECK(count.dtype() == DType::Int64);
  CHECK(count.item<int64_t>() == 4);
  CHECK(gg::sum(mask, {0}).to_vector<int64_t>() == std::vector<int64_t>{2, 0, 2});
  CHECK(gg::sum(mask.t(), {1}).to_vector<int64_t>() == std::vector<int64_t>{2, 0, 2});
  CHECK(gg::sum(mask, {1}).to_vector<int64_t>() == std::vector<int64_t>{2, 2});
  const int64_t big = int64_t{1} << 60;
  auto ints = gg::from_vector(std::vector<int64_t>{big, 1, -3, 7}, {2, 2});
  CHECK(gg::sum(ints).item<int64_t>() == big + 5);
  CHECK(gg::sum(ints, {1}).to_vector<int64_t>() == std::vector<int64_t>{big + 1, 4});
  REQUIRE_THROWS_WITH(gg::mean(ints), Catch::Contains("mean") && Catch::Contains("int64"));
  // 2^20 copies of 0.1f: a float accumulator drifts by ~1e-3 relative; a double one does not.
  const int64_t n = int64_t{1} << 20;
  auto tenths = gg::full({n}, 0.1);
  const double want = static_cast<double>(0.1f) * static_cast<double>(n);
  CHECK(gg::sum(tenths).item() == Approx(want).epsilon(1e-7));
  CHECK(gg::mean(tenths.reshape({1024, 1024}), {0}).to_vector<double>()[17] == Approx(0.1f).epsilon(1e-7));
}

TEST_CASE("reductions of 0-d and empty tensors", "[core][reduce]") {
  auto s = gg::scalar_tensor(2.5, {.dtype = DType::Float64});
  CHECK(gg::sum(s).item() == 2.5);
  CHECK(gg::sum(s, {0}).item() == 2.5);
  CHECK(gg::sum(s, {-1}, true).dim() == 0);
  CHECK(gg::mean(s, {0}).item() == 2.5);
  CHECK(gg::var(s, {0}, 0).item() == 0);
  auto e = gg::zeros({3, 0});
  check_values(gg::sum(e, {1}), {3}, {0, 0, 0}, "sum over an empty dim");
  CHECK(gg::sum(e, {0}).shape() == Shape{0});
  CHECK(gg::sum(e).item() == 0);
}

TEST_CASE("reduction dims are checked", "[core][reduce]") {
  auto x = gg::zeros({2, 3});
  REQUIRE_THROWS_WITH(gg::sum(x, {2}), Catch::Contains("sum") && Catch::Contains("dim 2") &&
                                           Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(gg::sum(x, {-3}), Catch::Contains("sum") && Catch::Contains("-3"));
  REQUIRE_THROWS_WITH(gg::sum(x, {1, -1}), Catch::Contains("sum") && Catch::Contains("more than once"));
  REQUIRE_THROWS_WITH(gg::mean(x, {0, 0}), Catch::Contains("mean"));
}

TEST_CASE("kernel::sum_to undoes a broadcast", "[core][reduce]") {
  auto x = gg::testing::iota({2, 3, 4});  // x[i][j][k] = 12 i + 4 j + k
  // -> [3, 1]: sum over i and k.
  std::vector<double> want31;
  for (int j = 0; j < 3; ++j) {
    double s = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) s += 12 * i + 4 * j + k;
    want31.push_back(s);
  }
  check_values(gg::kernel::sum_to(x, {3, 1}), {3, 1}, want31, "sum_to [3, 1]");
  // -> [1, 4]: sum over i and j.
  std::vector<double> want14;
  for (int k = 0; k < 4; ++k) {
    double s = 0;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) s += 12 * i + 4 * j + k;
    want14.push_back(s);
  }
  check_values(gg::kernel::sum_to(x, {1, 4}), {1, 4}, want14, "sum_to [1, 4]");
  check_values(gg::kernel::sum_to(x, {4}), {4}, want14, "sum_to [4]");
  check_values(gg::kernel::sum_to(x, {}), {}, {276}, "sum_to []");
  check_values(gg::kernel::sum_to(x, {2, 1, 1}), {2, 1, 1}, {66, 210}, "sum_to [2, 1, 1]");
  // Non-contiguous input.
  check_values(gg::kernel::sum_to(x.transpose(0, 2), {4, 1, 1}), {4, 1, 1}, want14, "sum_to of transposed");
  auto same = gg::kernel::sum_to(x, {2, 3, 4});
  CHECK(same.shares_storage_with(x));
  // The round trip of a broadcast: expand then sum_to multiplies by the copies.
  auto row = gg::tensor({1, 2, 3}, {.dtype = DType::Float64});
  check_values(gg::kernel::sum_to(row.expand({5, 3}), {3}), {3}, {5, 10, 15}, "sum_to(expand)");
  REQUIRE_THROWS_WITH(gg::kernel::sum_to(x, {3, 4, 1}), Catch::Contains("sum_to") && Catch::Contains("[3, 4, 1]"));
  REQUIRE_THROWS_WITH(gg::kernel::sum_to(row, {2, 3}), Catch::Contains("sum_to"));
}
