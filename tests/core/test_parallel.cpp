// Tensors above gg::kParallelGrain elements, so the OpenMP paths run: results must equal a
// serial naive loop, and one thread and two threads must give identical bits.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Tensor;
using gg::testing::at;
using gg::testing::check_values;
using gg::testing::naive_binary;
using gg::testing::naive_unary;
using gg::testing::unravel;

namespace {

// Sets the thread count for a scope and restores it after.
class Threads {
 public:
  explicit Threads(int n) : previous_(gg::num_threads()) { gg::set_num_threads(n); }
  ~Threads() { gg::set_num_threads(previous_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int previous_;
};

// Odd sizes, so that thread chunks start in the middle of a row.
constexpr int64_t R = 301, C = 199;
static_assert(R * C > gg::kParallelGrain);

}  // namespace

TEST_CASE("large elementwise ops equal a serial loop", "[core][parallel]") {
  Threads threads(2);
  REQUIRE(gg::num_threads() == 2);
  gg::manual_seed(30);
  auto x = gg::randn({R, C}, {.dtype = DType::Float64});
  auto xt = gg::randn({C, R}, {.dtype = DType::Float64}).t();  // [R, C], column-major
  auto row = gg::randn({C}, {.dtype = DType::Float64});
  auto col = gg::randn({R, 1}, {.dtype = DType::Float64});
  // Elementwise ops round the same way in any order: the results must be bit-identical.
  auto plus = [](double a, double b) { return a + b; };
  auto times = [](double a, double b) { return a * b; };
  check_values(x + xt, {R, C}, naive_binary(x, xt, {R, C}, plus), "x + x^T-layout");
  check_values(x * row, {R, C}, naive_binary(x, row, {R, C}, times), "x * row");
  check_values(xt - col, {R, C}, naive_binary(xt, col, {R, C}, [](double a, double b) { return a - b; }), "xt - col");
  check_values(col * row, {R, C}, naive_binary(col, row, {R, C}, times), "col * row (outer)");
  auto big3 = gg::randn({2, R, C}, {.dtype = DType::Float64});
  check_values(big3 / (col + 10.0), {2, R, C},
               naive_binary(big3, col + 10.0, {2, R, C}, [](double a, double b) { return a / b; }), "3-D / col");
  check_values(gg::exp(xt), {R, C}, naive_unary(xt, [](double v) { return std::exp(v); }), "exp of x^T-layout");
  check_values(gg::tanh(x.narrow(1, 3, C - 5)), {R, C - 5},
               naive_unary(x.narrow(1, 3, C - 5), [](double v) { return std::tanh(v); }), "tanh of narrowed");
  check_values(gg::gt(x, xt), {R, C}, naive_binary(x, xt, {R, C}, [](double a, double b) { return a > b ? 1.0 : 0.0; }),
               "gt");
  check_values(gg::where(gg::gt(x, xt), x, xt), {R, C},
               naive_binary(x, xt, {R, C}, [](double a, double b) { return std::max(a, b); }), "where");
  check_values(gg::masked_fill(x, gg::lt(row, 0.0), 7), {R, C},
               naive_binary(x, row, {R, C}, [](double a, double r) { return r < 0 ? 7.0 : a; }), "masked_fill");
  // In-place writes through a transposed view, and a cast, over the same sizes.
  auto y = gg::zeros({C, R}, {.dtype = DType::Float64});
  y.t().copy_(x);
  y.t().add_(xt, 0.5);
  check_values(y.t(), {R, C}, naive_binary(x, xt, {R, C}, [](double a, double b) { return a + 0.5 * b; }),
               "copy_ and add_ through a transpose");
  check_values(xt.to(DType::Float32), {R, C}, naive_unary(xt, [](double v) { return double(float(v)); }), "cast");
}

TEST_CASE("large reductions equal a serial loop", "[core][parallel]") {
  Threads threads(2);
  gg::manual_seed(31);
  auto x = gg::randn({R, C}, {.dtype = DType::Float64});
  auto xt = gg::randn({C, R}, {.dtype = DType::Float64}).t();
  for (const auto& [kind, t] : std::vector<std::pair<const char*, Tensor>>{{"contiguous", x}, {"transposed", xt}}) {
    std::vector<double> rows(R, 0), cols(C, 0), row_max(R, -INFINITY), row_arg(R, 0);
    double all = 0;
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) {
        const double v = at(t, {i, j});
        rows[i] += v;
        cols[j] += v;
        all += v;
        if (v > row_max[i]) row_max[i] = v, row_arg[i] = static_cast<double>(j);
      }
    // Summation order may differ from this loop's, so sums get a rounding tolerance.
    check_values(gg::sum(t, {1}), {R}, rows, fmt::format("sum dim 1 {}", kind), 1e-12, 1e-12);
    check_values(gg::sum(t, {0}), {C}, cols, fmt::format("sum dim 0 {}", kind), 1e-12, 1e-12);
    check_values(gg::sum(t), {}, {all}, fmt::format("sum all {}", kind), 1e-12, 1e-10);
    std::vector<double> means = cols;
    for (double& m : means) m /= R;
    check_values(gg::mean(t, {-2}, true), {1, C}, means, fmt::format("mean dim 0 {}", kind), 1e-12, 1e-12);
    auto [values, indices] = gg::max(t, 1);
    check_values(values, {R}, row_max, fmt::format("max values {}", kind));
    check_values(indices, {R}, row_arg, fmt::format("max indices {}", kind));
  }
  // float32 sums of 60k elements still agree with a double loop (the kernel accumulates in double).
  auto f = x.to(DType::Float32);
  double all = 0;
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) all += at(f, {i, j});
  CHECK(gg::sum(f).item() == Approx(all).epsilon(1e-6));
}

TEST_CASE("large softmax equals a serial loop", "[core][parallel]") {
  Threads threads(2);
  gg::manual_seed(32);
  auto x = gg::randn({R, C}, {.dtype = DType::Float64}) * 5.0;
  for (int64_t dim : {0, 1}) {
    std::vector<double> want(static_cast<size_t>(R * C));
    const int64_t n = x.shape()[dim], other = x.shape()[1 - dim];
    for (int64_t o = 0; o < other; ++o) {
      auto idx = [&](int64_t k) { return dim == 1 ? std::vector<int64_t>{o, k} : std::vector<int64_t>{k, o}; };
      double mx = -INFINITY, total = 0;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, at(x, idx(k)));
      for (int64_t k = 0; k < n; ++k) total += std::exp(at(x, idx(k)) - mx);
      for (int64_t k = 0; k < n; ++k) {
        auto i = idx(k);
        want[i[0] * C + i[1]] = std::exp(at(x, i) - mx) / total;
      }
    }
    check_values(gg::softmax(x, dim), {R, C}, want, fmt::format("softmax dim {}", dim), 1e-12, 1e-300);
    check_values(gg::softmax(x.t(), 1 - dim), {C, R}, gg::testing::values(gg::softmax(x, dim).t()),
                 fmt::format("softmax of transposed, dim {}", 1 - dim), 1e-12, 1e-300);
  }
}

TEST_CASE("large matmul equals the naive kernel", "[core][parallel]") {
  Threads threads(2);
  gg::manual_seed(33);
  for (DType dt : {DType::Float32, DType::Float64}) {
    auto a = gg::randn({R, 64}, {.dtype = dt});
    auto b = gg::randn({C, 64}, {.dtype = dt}).t();
    auto want = gg::kernel::matmul_naive(a, b);
    const double tol = dt == DType::Float32 ? 1e-4 : 1e-11;  // |entries| ~ 8: 1e-5 of scale in float32
    check_values(gg::kernel::matmul(a, b), {R, C}, gg::testing::values(want),
                 fmt::format("matmul {}", gg::dtype_name(dt)), tol, tol);
    // float32 products of this size are split by blocks of columns over the threads
    // (core/matmul.cpp), unless a is read transposed (left to the library): matmul_into's beta
    // and row stride apply per block.
    auto at = gg::randn({64, R}, {.dtype = dt}).t();
    check_values(gg::kernel::matmul(at, b), {R, C}, gg::testing::values(gg::kernel::matmul_naive(at, b)),
                 fmt::format("matmul, a transposed {}", gg::dtype_name(dt)), tol, tol);
    for (const auto& [x, name] : {std::pair{a, "a"}, std::pair{at, "a^T"}}) {
      auto wide = gg::randn({R, C + 5}, {.dtype = dt});
      auto c = wide.narrow(1, 2, C);
      auto into_want = gg::testing::values(gg::kernel::matmul_naive(x, b) + c * 0.5);
      gg::kernel::matmul_into(c, x, b, 0.5);
      check_values(c, {R, C}, into_want,
                   fmt::format("matmul_into {}, beta 0.5, row stride {} {}", name, C + 5, gg::dtype_name(dt)), tol, tol);
    }
    // Few rows against a wide b: b is offset by columns (stored [K, N]) or by rows (stored
    // [N, K], transposed), c by columns, and N = 301 leaves a block shorter than the others.
    constexpr int64_t kWide = 1000;  // M * N * K above 2^18: split
    auto few = gg::randn({48, kWide}, {.dtype = dt});
    for (bool bt : {false, true}) {
      auto wide_b = bt ? gg::randn({R, kWide}, {.dtype = dt}).t() : gg::randn({kWide, R}, {.dtype = dt});
      auto cw = gg::randn({48, R + 3}, {.dtype = dt}).narrow(1, 1, R);
      auto want_cols = gg::testing::values(gg::kernel::matmul_naive(few, wide_b) + cw * 0.5);
      check_values(gg::kernel::matmul(few, wide_b), {48, R}, gg::testing::values(gg::kernel::matmul_naive(few, wide_b)),
                   fmt::format("matmul by columns, b {} {}", bt ? "transposed" : "plain", gg::dtype_name(dt)), tol, tol);
      gg::kernel::matmul_into(cw, few, wide_b, 0.5);
      check_values(cw, {48, R}, want_cols, fmt::format("matmul_into by columns, beta 0.5, b {} {}",
                                                       bt ? "transposed" : "plain", gg::dtype_name(dt)), tol, tol);
    }
    // Under 32 rows.
    auto thin = gg::randn({20, 64}, {.dtype = dt});
    auto thin_b = gg::randn({R, 64}, {.dtype = dt}).t();  // [64, 301], transposed
    check_values(gg::kernel::matmul(thin, thin_b), {20, R}, gg::testing::values(gg::kernel::matmul_naive(thin, thin_b)),
                 fmt::format("matmul by columns, 20 rows {}", gg::dtype_name(dt)), tol, tol);
    // Many small products that add up to real work: spread over the threads, one per thread.
    auto p = gg::randn({64, 32, 24}, {.dtype = dt});
    auto q = gg::randn({64, 24, 40}, {.dtype = dt});
    check_values(gg::kernel::matmul(p, q), {64, 32, 40}, gg::testing::values(gg::kernel::matmul_naive(p, q)),
                 fmt::format("batched matmul {}", gg::dtype_name(dt)), tol, tol);
  }
}

TEST_CASE("one thread and two threads give identical results", "[core][parallel]") {
  gg::manual_seed(34);
  auto x = gg::randn({R, C});
  auto xt = gg::randn({C, R}).t();
  auto row = gg::randn({C});
  auto run = [&] {
    std::vector<std::vector<float>> out;
    out.push_back((x * xt + row).to_vector<float>());
    out.push_back(gg::sigmoid(xt).to_vector<float>());
    out.push_back(gg::sum(x, {0}).to_vector<float>());
    out.push_back(gg::sum(xt, {1}).to_vector<float>());
    out.push_back(gg::sum(x).to_vector<float>());
    out.push_back(gg::var(xt, {0}).to_vector<float>());
    out.push_back(gg::softmax(x, 0).to_vector<float>());
    out.push_back(gg::log_softmax(xt, 1).to_vector<float>());
    out.push_back(gg::kernel::matmul_naive(x.narrow(0, 0, 40), xt.t()).to_vector<float>());
    return out;
  };
  std::vector<std::vector<float>> one, two;
  {
    Threads t(1);
    REQUIRE(gg::num_threads() == 1);
    one = run();
  }
  {
    Threads t(2);
    REQUIRE(gg::num_threads() == 2);
    two = run();
  }
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("result " << i);
    CHECK(one[i] == two[i]);
  }
}

// A float32 product x w^T with one row is split over the threads by blocks of w's rows
// (core/matmul.cpp), each output summed by one library call in the same order whatever the
// block: a batch-1 decoder gives the same bits on any number of threads.
TEST_CASE("one-row float32 products give the same bits on one and two threads", "[core][parallel]") {
  gg::manual_seed(36);
  // 2003 rows of w (an odd block at the end); 512 x 768, whose 393,216 multiply-adds are above
  // the size that goes to oneDNN while each half is below it: both halves must go where the
  // whole goes.
  for (auto [N, K] : {std::pair<int64_t, int64_t>{2003, 1030}, {512, 768}}) {
    INFO("x [1, " << K << "] w^T [" << K << ", " << N << "]");
    auto x = gg::randn({1, K});
    auto w = gg::randn({N, K});
    auto bias = gg::randn({N});
    auto run = [&] {
      auto c = bias.reshape({1, N}).clone();
      gg::kernel::matmul_into(c, x, w.t(), 1.0);
      return std::vector<std::vector<float>>{gg::kernel::matmul(x, w.t()).to_vector<float>(), c.to_vector<float>()};
    };
    std::vector<std::vector<float>> one, two;
    {
      Threads t(1);
      one = run();
    }
    {
      Threads t(2);
      two = run();
    }
    CHECK(one == two);
  }
}

// OpenBLAS blocks a product differently for 1 and 2 threads, so its float rounding differs
// between them (by ~1e-6 of scale in float32); for a fixed thread count it is repeatable.
TEST_CASE("BLAS matmul is repeatable per thread count and agrees across counts", "[core][parallel]") {
  gg::manual_seed(35);
  for (DType dt : {DType::Float32, DType::Float64}) {
    auto x = gg::randn({R, C}, {.dtype = dt});
    auto w = gg::randn({C, 50}, {.dtype = dt});
    auto run = [&] {
      return std::vector<std::vector<double>>{gg::kernel::matmul(x, w).to_vector<double>(),
                                              gg::kernel::matmul(x.reshape({7, 43, C}), w).to_vector<double>(),
                                              gg::kernel::matmul(x.t().narrow(1, 0, 64), x.narrow(0, 0, 64)).to_vector<double>()};
    };
    std::vector<std::vector<double>> one, two, two_again;
    {
      Threads t(1);
      one = run();
    }
    {
      Threads t(2);
      two = run();
      two_again = run();
    }
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (size_t i = 0; i < one.size(); ++i) {
      INFO(fmt::format("{} product {}", gg::dtype_name(dt), i));
      CHECK(two[i] == two_again[i]);
      double scale = 0, worst = 0;
      for (double v : one[i]) scale = std::max(scale, std::fabs(v));
      for (size_t k = 0; k < one[i].size(); ++k) worst = std::max(worst, std::fabs(one[i][k] - two[i][k]));
      CHECK(worst <= tol * scale);
    }
  }
}
