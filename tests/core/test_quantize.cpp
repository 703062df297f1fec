// Int8 rows (core/quantize.h): every element within half a step of its row's scale, the
// stored error norms exact, and every approximate product within the bound it reports, for
// inputs of any scale, including zero rows, a zero input and one that spans nine decades.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/kernels.h"
#include "core/quantize.h"
#include "glassgrad.h"

using gg::DType;
using gg::Tensor;

namespace {

// A float32 [R, C] matrix with a zero row (0) and a row dominated by one large value (1).
Tensor test_matrix(int64_t R, int64_t C) {
  Tensor w = gg::randn({R, C});
  float* p = w.data<float>();
  for (int64_t c = 0; c < C; ++c) p[c] = 0;
  p[C + C / 2] = 1e4f;
  return w;
}

}  // namespace

TEST_CASE("quantize_rows: each element within half a step, error norms and |q| sums exact", "[core][quantize]") {
  gg::manual_seed(3);
  const Tensor w = test_matrix(37, 53);
  for (const Tensor& input : {w, w.t().contiguous().t()}) {  // contiguous, and a transposed layout
    const auto q = gg::kernel::quantize_rows(input);
    REQUIRE(q.rows == 37);
    REQUIRE(q.cols == 53);
    CHECK(q.scale[0] == 0);
    for (int64_t r = 0; r < q.rows; ++r) {
      const float* row = w.data<float>() + r * q.cols;
      double amax = 0, err2 = 0;
      int64_t abs_sum = 0;
      for (int64_t c = 0; c < q.cols; ++c) {
        amax = std::max(amax, std::fabs(static_cast<double>(row[c])));
        const int qv = q.q[r * q.cols + c];
        const double e = row[c] - q.scale[r] * qv;
        INFO("row " << r << " column " << c << ": w " << row[c] << " q " << qv << " scale " << q.scale[r]);
        CHECK(std::abs(qv) <= 127);
        CHECK(std::fabs(e) <= 0.5 * q.scale[r] * (1 + 1e-12));
        err2 += e * e;
        abs_sum += std::abs(qv);
      }
      CHECK(q.scale[r] == Approx(amax / 127).epsilon(1e-15));
      CHECK(q.error_norm[r] == Approx(std::sqrt(err2)).epsilon(1e-12).margin(1e-300));
      CHECK(q.q_abs_sum[r] == abs_sum);
    }
  }
}

TEST_CASE("int8_matvec: every product within its bound, and the bound tight enough to use", "[core][quantize]") {
  gg::manual_seed(4);
  for (int64_t C : {1, 7, 300, 5000}) {  // 5000 columns: the int16 input scale shrinks to keep int32 sums
    const Tensor w = test_matrix(41, C);
    const auto q = gg::kernel::quantize_rows(w);
    std::vector<std::pair<std::string, Tensor>> inputs = {{"normal", gg::randn({C})},
                                                          {"zero", gg::zeros({C})},
                                                          {"one-hot", gg::zeros({C})}};
    inputs[2].second.data<float>()[C - 1] = -2.5f;
    Tensor wide = gg::randn({C});  // magnitudes from 1e-6 to 1e3
    for (int64_t c = 0; c < C; ++c) wide.data<float>()[c] *= static_cast<float>(std::pow(10.0, -6.0 + 9.0 * c / C));
    inputs.emplace_back("nine decades", wide);
    for (const auto& [name, x] : inputs) {
      std::vector<double> y(q.rows), bound(q.rows);
      gg::kernel::int8_matvec(q, x.data<float>(), y.data(), bound.data());
      for (int64_t r = 0; r < q.rows; ++r) {
        const float* row = w.data<float>() + r * C;
        const double exact = gg::kernel::dot_exact(row, x.data<float>(), C);
        const double w_norm = std::sqrt(gg::kernel::dot_exact(row, row, C));
        const double x_norm = std::sqrt(gg::kernel::dot_exact(x.data<float>(), x.data<float>(), C));
        INFO(name << " input, C = " << C << ", row " << r << ": int8 " << y[r] << " exact " << exact << " bound "
                  << bound[r]);
        CHECK(std::fabs(y[r] - exact) <= bound[r]);
        if (name == "zero" || r == 0) {  // nothing to round: exact, and known to be
          CHECK(y[r] == 0);
          CHECK(bound[r] == 0);
        }
        // Useful: a small fraction of the largest the product could be, ||w|| ||x|| (a random
        // row's int8 error is about 1% of ||w||; a bug in a scale would make it far larger).
        CHECK(bound[r] <= 2e-2 * w_norm * x_norm);
      }
    }
  }
}

TEST_CASE("quantize_rows: bad input is an error that says what is wrong", "[core][quantize]") {
  REQUIRE_THROWS_WITH(gg::kernel::quantize_rows(gg::ones({4})),
                      Catch::Contains("quantize_rows") && Catch::Contains("[R, C]") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(gg::kernel::quantize_rows(gg::ones({2, 2}, {.dtype = DType::Float64})),
                      Catch::Contains("quantize_rows") && Catch::Contains("float64"));
  Tensor bad = gg::ones({3, 2});
  bad.data<float>()[5] = std::nanf("");
  REQUIRE_THROWS_WITH(gg::kernel::quantize_rows(bad), Catch::Contains("row 2") && Catch::Contains("non-finite"));
  const auto q = gg::kernel::quantize_rows(gg::ones({3, 2}));
  std::vector<double> y(3), bound(3);
  const float x[2] = {1.0f, std::numeric_limits<float>::infinity()};
  REQUIRE_THROWS_WITH(gg::kernel::int8_matvec(q, x, y.data(), bound.data()),
                      Catch::Contains("int8_matvec") && Catch::Contains("non-finite"));
}
