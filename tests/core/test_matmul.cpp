// matmul: the BLAS kernel and the naive kernel against a triple loop written here, over
// transposed, narrowed and unBLASable layouts, broadcast batch dims, every dtype, K = 0,
// and 1-D operands through gg::matmul.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Tensor;
using gg::testing::at;
using gg::testing::check_values;
using gg::testing::unravel;

namespace {

// out[batch..., m, n] = sum_k a[batch..., m, k] * b[batch..., k, n], batch dims broadcast
// (aligned from the right, size-1 dims read index 0), in double.
std::vector<double> reference(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  const int64_t K = a.shape().back();
  const size_t nb = out_shape.size() - 2;
  auto index = [&](const Tensor& t, const std::vector<int64_t>& batch, int64_t r, int64_t c) {
    const size_t tb = t.shape().size() - 2;
    std::vector<int64_t> idx(t.shape().size());
    for (size_t d = 0; d < tb; ++d) idx[d] = t.shape()[d] == 1 ? 0 : batch[nb - tb + d];
    idx[tb] = r;
    idx[tb + 1] = c;
    return at(t, idx);
  };
  std::vector<double> out(static_cast<size_t>(out_shape.numel()));
  for (int64_t i = 0; i < out_shape.numel(); ++i) {
    auto idx = unravel(i, out_shape);
    std::vector<int64_t> batch(idx.begin(), idx.begin() + static_cast<int64_t>(nb));
    const int64_t m = idx[nb], n = idx[nb + 1];
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += index(a, batch, m, k) * index(b, batch, k, n);
    out[i] = s;
  }
  return out;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

// Both kernels against the reference. Float64 is exact to rounding; float32 is held to 1e-5
// of the output's scale (BLAS sums in float32).
void check_both(const Tensor& a, const Tensor& b, const Shape& out_shape, const std::string& what) {
  const auto want = reference(a, b, out_shape);
  const bool f32 = a.dtype() == DType::Float32;
  const double rtol = f32 ? 1e-5 : 1e-12;
  const double atol = (f32 ? 1e-5 : 1e-12) * std::max(1.0, max_abs(want));
  auto blas = gg::kernel::matmul(a, b);
  CHECK(blas.dtype() == a.dtype());
  check_values(blas, out_shape, want, "matmul " + what, rtol, atol);
  check_values(gg::kernel::matmul_naive(a, b), out_shape, want, "matmul_naive " + what, rtol, atol);
  check_values(gg::matmul(a, b), out_shape, want, "gg::matmul " + what, rtol, atol);
}

}  // namespace

TEST_CASE("matmul by hand", "[core][matmul]") {
  auto a = gg::tensor({1, 2, 3, 4}, {.dtype = DType::Float64}).reshape({2, 2});
  auto b = gg::tensor({5, 6, 7, 8}, {.dtype = DType::Float64}).reshape({2, 2});
  check_values(gg::kernel::matmul(a, b), {2, 2}, {19, 22, 43, 50}, "blas");
  check_values(gg::kernel::matmul_naive(a, b), {2, 2}, {19, 22, 43, 50}, "naive");
  check_values(gg::kernel::matmul(a.t(), b), {2, 2}, {26, 30, 38, 44}, "blas a^T b");
  check_values(gg::kernel::matmul(a, b.t()), {2, 2}, {17, 23, 39, 53}, "blas a b^T");
  auto r = gg::tensor({1, 0, -1}).reshape({1, 3});
  auto c = gg::tensor({2, 3, 4}).reshape({3, 1});
  check_values(gg::kernel::matmul(r, c), {1, 1}, {-2}, "row @ column");
  check_values(gg::kernel::matmul(c, r), {3, 3}, {2, 0, -2, 3, 0, -3, 4, 0, -4}, "column @ row");
}

TEST_CASE("2-D matmul in every layout, float32 and float64", "[core][matmul]") {
  const std::vector<std::array<int64_t, 3>> sizes = {{1, 1, 1}, {1, 7, 1}, {1, 5, 4}, {6, 3, 1}, {5, 1, 7},
                                                      {7, 13, 5}, {16, 16, 16}, {33, 65, 17}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    gg::manual_seed(1);
    for (auto [M, K, N] : sizes) {
      auto what = [&](const char* layout) {
        return fmt::format("{} [{}, {}] @ [{}, {}] {}", gg::dtype_name(dt), M, K, K, N, layout);
      };
      auto a = gg::randn({M, K}, {.dtype = dt});
      auto b = gg::randn({K, N}, {.dtype = dt});
      auto at_ = gg::randn({K, M}, {.dtype = dt}).t();
      auto bt = gg::randn({N, K}, {.dtype = dt}).t();
      check_both(a, b, {M, N}, what("plain"));
      check_both(at_, b, {M, N}, what("a transposed"));
      check_both(a, bt, {M, N}, what("b transposed"));
      check_both(at_, bt, {M, N}, what("both transposed"));
      // Narrowed: a leading dimension larger than the row.
      auto an = gg::randn({M + 2, K + 3}, {.dtype = dt}).narrow(0, 1, M).narrow(1, 2, K);
      auto bn = gg::randn({K + 1, N + 4}, {.dtype = dt}).narrow(1, 3, N).narrow(0, 1, K);
      check_both(an, bn, {M, N}, what("narrowed"));
      check_both(an, bt, {M, N}, what("narrowed @ transposed"));
      // A step along both dims: no BLAS layout describes it, so the kernel copies first.
      auto as = gg::randn({M, K, 3}, {.dtype = dt}).select(2, 1);  // strides [3K, 3]
      auto bs = gg::randn({K, N, 2}, {.dtype = dt}).select(2, 0);  // strides [2N, 2]
      check_both(as, bs, {M, N}, what("strided both ways"));
      check_both(as, b, {M, N}, what("strided @ plain"));
      // An expanded (stride 0) operand.
      auto ae = gg::randn({1, K}, {.dtype = dt}).expand({M, K});
      check_both(ae, b, {M, N}, what("expanded rows"));
    }
  }
}

TEST_CASE("matmul_into adds beta * c, including one-row, one-column (gemv) and K = 1 (outer) products", "[core][matmul]") {
  // One row or one column is a matrix-vector product (OpenBLAS: gemv rather than gemm), and
  // K = 1 goes to an outer-product loop: every layout of those, into an output that is part of
  // a wider matrix, with beta 0 over NaN (overwritten) and beta 0.5. The last size (301 rows of
  // 1030) is split over the threads by blocks of columns.
  const std::vector<std::array<int64_t, 3>> sizes = {{1, 9, 6},  {5, 9, 1},   {1, 4, 1},   {5, 1, 7},
                                                     {4, 6, 3}, {1, 37, 70}, {70, 37, 1}, {1, 1030, 301}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    gg::manual_seed(2);
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (auto [M, K, N] : sizes) {
      const std::vector<std::pair<Tensor, std::string>> as = {
          {gg::randn({M, K}, {.dtype = dt}), "a"}, {gg::randn({K, M}, {.dtype = dt}).t(), "a^T"}};
      const std::vector<std::pair<Tensor, std::string>> bs = {
          {gg::randn({K, N}, {.dtype = dt}), "b"},
          {gg::randn({N, K}, {.dtype = dt}).t(), "b^T"},
          {gg::randn({K + 1, N + 2}, {.dtype = dt}).narrow(0, 1, K).narrow(1, 1, N), "narrowed b"},
          // b^T out of a wider matrix: for K = 1, a row of b with stride K + 2 (gathered first)
          {gg::randn({N, K + 2}, {.dtype = dt}).narrow(1, 1, K).t(), "narrowed b^T"}};
      for (const auto& [a, an] : as)
        for (const auto& [b, bn] : bs)
          for (double beta : {0.0, 0.5}) {
            INFO(fmt::format("{} [{}, {}] @ [{}, {}] {} @ {} beta {}", gg::dtype_name(dt), M, K, K, N, an, bn, beta));
            auto wide = gg::randn({M, N + 3}, {.dtype = dt});
            auto c = wide.narrow(1, 2, N);  // row stride N + 3
            const auto prev = gg::testing::values(c);  // read before c is written
            if (beta == 0) gg::kernel::fill(c, std::nan(""));
            gg::kernel::matmul_into(c, a, b, beta);
            auto want = reference(a, b, {M, N});
            for (size_t i = 0; i < want.size(); ++i) want[i] += beta * prev[i];
            check_values(c, {M, N}, want, "matmul_into", tol, tol * std::max(1.0, max_abs(want)));
          }
    }
  }
}

TEST_CASE("batched matmul with broadcast batch dims", "[core][matmul]") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    gg::manual_seed(4);
    auto r = [&](const Shape& s) { return gg::randn(s, {.dtype = dt}); };
    auto name = [&](const char* what) { return fmt::format("{} {}", gg::dtype_name(dt), what); };
    check_both(r({3, 4, 5}), r({3, 5, 2}), {3, 4, 2}, name("[3,4,5] @ [3,5,2]"));
    check_both(r({3, 5, 6}).narrow(2, 2, 1), r({3, 1, 4}), {3, 5, 4}, name("outer products [3,5,1] @ [3,1,4]"));
    check_both(r({2, 3, 4, 5}), r({2, 3, 5, 6}), {2, 3, 4, 6}, name("4-D"));
    check_both(r({2, 1, 3, 4}), r({5, 4, 2}), {2, 5, 3, 2}, name("[2,1,3,4] @ [5,4,2]"));
    check_both(r({3, 4}), r({6, 4, 2}), {6, 3, 2}, name("2-D @ 3-D"));
    check_both(r({6, 1, 3, 4}), r({4, 2}), {6, 1, 3, 2}, name("4-D @ 2-D"));
    check_both(r({1, 3, 4}), r({5, 1, 4, 2}), {5, 1, 3, 2}, name("[1,3,4] @ [5,1,4,2]"));
    // Transposed and permuted batches: the batch strides are not the contiguous ones.
    check_both(r({5, 3, 4}).transpose(-1, -2), r({3, 2, 5}).permute({2, 0, 1}), {5, 4, 2}, name("permuted batches"));
    check_both(r({4, 2, 3}).permute({1, 0, 2}), r({2, 3, 6}), {2, 4, 6}, name("batch dim with a large stride"));
    check_both(r({3, 4, 5, 2}).select(3, 0), r({3, 5, 2}), {3, 4, 2}, name("strided batch @ plain"));
    // An expanded batch, and one large enough that BLAS runs one product at a time.
    check_both(r({1, 4, 5}).expand({3, 4, 5}), r({3, 5, 2}), {3, 4, 2}, name("expanded batch"));
    check_both(r({2, 64, 64}), r({2, 64, 64}).transpose(1, 2), {2, 64, 64}, name("big batch"));
  }
}

TEST_CASE("float32 matmul agrees with float64", "[core][matmul]") {
  gg::manual_seed(8);
  auto a = gg::randn({3, 40, 70}, {.dtype = DType::Float64});
  auto b = gg::randn({70, 30}, {.dtype = DType::Float64});
  auto want = gg::kernel::matmul(a, b).to_vector<double>();
  auto got = gg::kernel::matmul(a.to(DType::Float32), b.to(DType::Float32)).to_vector<double>();
  const double scale = max_abs(want);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]) / scale);
  CHECK(worst < 1e-5);
}

TEST_CASE("int64 matmul takes the exact naive path", "[core][matmul]") {
  auto a = gg::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = gg::from_vector(std::vector<int64_t>{7, 8, 9, 10, 11, 12}, {3, 2});
  auto c = gg::kernel::matmul(a, b);
  CHECK(c.dtype() == DType::Int64);
  CHECK(c.to_vector<int64_t>() == std::vector<int64_t>{58, 64, 139, 154});
  CHECK(gg::kernel::matmul(b.t(), a.t()).to_vector<int64_t>() == std::vector<int64_t>{58, 139, 64, 154});
  const int64_t big = int64_t{1} << 30;
  auto x = gg::from_vector(std::vector<int64_t>{big, 1}, {1, 2});
  auto y = gg::from_vector(std::vector<int64_t>{big + 1, 3}, {2, 1});
  CHECK(gg::kernel::matmul(x, y).item<int64_t>() == big * (big + 1) + 3);  // 61 bits: a double would drop the 3
  gg::manual_seed(3);
  auto p = gg::randint(-5, 6, {2, 3, 4});
  auto q = gg::randint(-5, 6, {4, 5});
  check_values(gg::kernel::matmul(p, q), {2, 3, 5}, reference(p, q, {2, 3, 5}), "int64 batched");
  REQUIRE_THROWS_WITH(gg::kernel::matmul(gg::ones({2, 2}, {.dtype = DType::Bool}), gg::ones({2, 2}, {.dtype = DType::Bool})),
                      Catch::Contains("bool"));
}

TEST_CASE("matmul with K = 0 gives zeros, M or N = 0 gives an empty result", "[core][matmul]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
    INFO(gg::dtype_name(dt));
    auto a = gg::ones({3, 0}, {.dtype = dt});
    auto b = gg::ones({0, 2}, {.dtype = dt});
    check_values(gg::kernel::matmul(a, b), {3, 2}, std::vector<double>(6, 0), "K = 0");
    check_values(gg::kernel::matmul_naive(a, b), {3, 2}, std::vector<double>(6, 0), "naive K = 0");
    check_values(gg::kernel::matmul(gg::ones({2, 0, 4}, {.dtype = dt}), gg::ones({4, 5}, {.dtype = dt})),
                 {2, 0, 5}, {}, "M = 0");
    check_values(gg::kernel::matmul(gg::ones({0, 3, 4}, {.dtype = dt}), gg::ones({4, 5}, {.dtype = dt})),
                 {0, 3, 5}, {}, "empty batch");
  }
}

TEST_CASE("gg::matmul treats 1-D operands as vectors", "[core][matmul]") {
  auto v = gg::tensor({1, 2, 3}, {.dtype = DType::Float64});
  auto m = gg::tensor({1, 2, 3, 4, 5, 6}, {.dtype = DType::Float64}).reshape({3, 2});
  check_values(gg::matmul(v, m), {2}, {22, 28}, "[3] @ [3, 2]");
  check_values(gg::matmul(m.reshape({2, 3}), v), {2}, {14, 32}, "[2, 3] @ [3]");
  check_values(gg::matmul(m.t(), v), {2}, {22, 28}, "transposed [2, 3] @ [3]");
  auto batch = gg::stack({m, m * 2.0}, 0);  // [2, 3, 2]
  check_values(gg::matmul(v, batch), {2, 2}, {22, 28, 44, 56}, "[3] @ [2, 3, 2]");
  check_values(gg::matmul(batch.reshape({2, 2, 3}), v), {2, 2}, {14, 32, 28, 64}, "[2, 2, 3] @ [3]");
  REQUIRE_THROWS_WITH(gg::matmul(v, gg::ones({2, 2}, {.dtype = DType::Float64})),
                      Catch::Contains("matmul") && Catch::Contains("[2, 2]") && Catch::Contains("3 != 2"));
  REQUIRE_THROWS_WITH(gg::matmul(gg::scalar_tensor(1), gg::ones({1, 1})), Catch::Contains("matmul"));
}

TEST_CASE("gg::matmul of two vectors is their dot product", "[core][matmul]") {
  auto v = gg::tensor({1, 2, 3}, {.dtype = DType::Float64});
  auto w = gg::tensor({4, -5, 6}, {.dtype = DType::Float64});
  auto d = gg::matmul(v, w);
  CHECK(d.dim() == 0);
  CHECK(d.item() == 12);
}

TEST_CASE("matmul errors name the op and both shapes", "[core][matmul]") {
  REQUIRE_THROWS_AS(gg::matmul(gg::ones({2, 3}), gg::ones({4, 5})), gg::Error);
  REQUIRE_THROWS_WITH(gg::matmul(gg::ones({2, 3}), gg::ones({4, 5})),
                      Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]") &&
                          Catch::Contains("3 != 4"));
  REQUIRE_THROWS_WITH(gg::kernel::matmul_naive(gg::ones({2, 3}), gg::ones({4, 5})),
                      Catch::Contains("matmul_naive") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(gg::matmul(gg::ones({2, 3}), gg::ones({3, 5}, {.dtype = DType::Float64})),
                      Catch::Contains("matmul") && Catch::Contains("float32") && Catch::Contains("float64"));
  REQUIRE_THROWS_WITH(gg::kernel::matmul(gg::ones({3}), gg::ones({3, 5})),
                      Catch::Contains("matmul") && Catch::Contains("[3]") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(gg::matmul(gg::ones({2, 3, 4}), gg::ones({3, 4, 5})),
                      Catch::Contains("matmul") && Catch::Contains("[2, 3, 4]") && Catch::Contains("[3, 4, 5]"));
}
