// Products of a few rows against a large b through packed panels (core/panel_gemm.h): against
// a float64 reference in every layout, the cache of panels (kept for a b that comes back,
// never used once b has changed or died), and results that depend on neither the cache nor
// the number of threads.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <omp.h>

#include "core/panel_gemm.h"
#include "core_testing.h"
#include "glassgrad.h"

using gg::Shape;
using gg::Tensor;
using gg::testing::check_values;
using gg::testing::values;
namespace kernel = gg::kernel;

namespace {

// a [M, K] @ b [K, N] in double, from the views' own elements.
std::vector<double> reference(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const auto av = values(a), bv = values(b);
  std::vector<double> out(static_cast<size_t>(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) out[m * N + n] += av[m * K + k] * bv[k * N + n];
  return out;
}

void check_product(const Tensor& got, const Tensor& a, const Tensor& b, const std::vector<double>& plus,
                   const std::string& what) {
  auto want = reference(a, b);
  double scale = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!plus.empty()) want[i] += plus[i];
    scale = std::max(scale, std::fabs(want[i]));
  }
  check_values(got, {a.size(0), b.size(1)}, want, what, 1e-5, 1e-5 * scale);
}

bool bitwise_equal(const Tensor& x, const Tensor& y) { return values(x) == values(y); }

}  // namespace

TEST_CASE("products of a few rows against a large b go through panels, in every layout", "[core][matmul]") {
  // Rows: a tile's 6 and fewer left over; columns: whole panels of 16 and a last one cut short.
  const std::vector<std::array<int64_t, 3>> sizes = {{2, 256, 256}, {6, 300, 250}, {13, 257, 270}, {64, 96, 700},
                                                      {37, 1024, 64}};
  gg::manual_seed(11);
  for (auto [M, K, N] : sizes) {
    REQUIRE(kernel::panels_pay(M, N, K));
    const std::vector<std::pair<Tensor, std::string>> as = {
        {gg::randn({M, K}), "a"},
        {gg::randn({K, M}).t(), "a^T"},
        {gg::randn({M + 1, K + 5}).narrow(0, 1, M).narrow(1, 3, K), "narrowed a"},
        {gg::randn({M, K, 2}).select(2, 1), "a strided both ways"}};
    const std::vector<std::pair<Tensor, std::string>> bs = {
        {gg::randn({K, N}), "b"},
        {gg::randn({N, K}).t(), "b^T (x W^T)"},
        {gg::randn({K + 2, N + 7}).narrow(0, 2, K).narrow(1, 5, N), "narrowed b"},
        {gg::randn({N, K + 3}).narrow(1, 1, K).t(), "narrowed b^T"},
        {gg::randn({K, N, 2}).select(2, 0), "b strided both ways"}};
    for (const auto& [a, an] : as)
      for (const auto& [b, bn] : bs) {
        const std::string what = fmt::format("[{}, {}] @ [{}, {}], {} @ {}", M, K, K, N, an, bn);
        INFO(what);
        for (int pass = 0; pass < 3; ++pass)  // packed for one call, then packed and kept, then kept
          check_product(kernel::matmul(a, b), a, b, {}, fmt::format("matmul, pass {}", pass));
        auto wide = gg::randn({M, N + 3});
        auto c = wide.narrow(1, 1, N);  // row stride N + 3
        const auto before = values(c);
        kernel::matmul_into(c, a, b, 1.0);
        check_product(c, a, b, before, "matmul_into beta 1");
        kernel::fill(c, std::nan(""));  // beta 0 never reads c
        kernel::matmul_into(c, a, b, 0.0);
        check_product(c, a, b, {}, "matmul_into beta 0");
      }
  }
  CHECK_FALSE(kernel::panels_pay(1, 2048, 768));   // one row: a matrix-vector product
  CHECK_FALSE(kernel::panels_pay(65, 2048, 768));  // many rows: OpenBLAS packs for them all
  CHECK_FALSE(kernel::panels_pay(64, 64, 64));     // a small b: little to save
}

TEST_CASE("panels are kept for a b that comes back, and never used once it has changed", "[core][matmul]") {
  kernel::clear_panel_cache();
  gg::manual_seed(12);
  Tensor w = gg::randn({512, 256});  // a linear layer's weight [out, in]; x W^T reads it as W^T
  const Tensor x = gg::randn({8, 256});
  const Tensor y1 = kernel::matmul(x, w.t());
  check_product(y1, x, w.t(), {}, "first call");
  auto stats = kernel::panel_cache_stats();
  CHECK(stats.packs == 1);
  CHECK(stats.storages == 1);
  CHECK(stats.kept == 0);  // met once: not kept
  const Tensor y2 = kernel::matmul(x, w.t());
  stats = kernel::panel_cache_stats();
  CHECK(stats.packs == 2);
  CHECK(stats.kept == 1);  // came back: kept
  CHECK(stats.bytes == 512 * 256 * 4);
  const Tensor y3 = kernel::matmul(x, w.t());
  CHECK(kernel::panel_cache_stats().hits == 1);
  CHECK(kernel::panel_cache_stats().packs == 2);
  CHECK(bitwise_equal(y1, y2));  // the same sums in the same order, cached or not
  CHECK(bitwise_equal(y1, y3));

  SECTION("an in-place write repacks") {
    kernel::scale(w, 2.0);  // what an optimizer step does to the weight: bumps its version
    const Tensor y4 = kernel::matmul(x, w.t());
    CHECK(kernel::panel_cache_stats().packs == 3);
    check_values(y4, {8, 512}, [&] {
      auto v = values(y1);
      for (double& e : v) e *= 2;  // exact in float: every product and sum doubles
      return v;
    }(), "after w *= 2", 0, 0);
    kernel::copy(w.narrow(0, 0, 1), gg::zeros({1, 256}));  // through a view: the same storage
    check_product(kernel::matmul(x, w.t()), x, w.t(), {}, "after zeroing row 0 through a view");
    kernel::matmul_into(w, gg::randn({512, 3}), gg::randn({3, 256}), 1.0);
    check_product(kernel::matmul(x, w.t()), x, w.t(), {}, "after matmul_into w");
  }
  SECTION("another view of the same storage has panels of its own") {
    const Tensor x2 = gg::randn({8, 512});
    for (int pass = 0; pass < 2; ++pass) {
      check_product(kernel::matmul(x2, w), x2, w, {}, "x2 @ w");
      const Tensor part = w.narrow(0, 16, 256).t();  // another offset and shape
      check_product(kernel::matmul(x, part), x, part, {}, "x @ w[16:272]^T");
      check_product(kernel::matmul(x, w.t()), x, w.t(), {}, "x @ w^T again");
    }
    CHECK(kernel::panel_cache_stats().hits >= 3);
  }
  SECTION("a new tensor in the storage's old memory is not taken for it") {
    const void* old_address = w.storage()->data();
    w = Tensor();  // the storage dies; the caching allocator hands its block to the next tensor of its size
    Tensor w2 = gg::randn({512, 256});
    INFO(fmt::format("same address: {}", w2.storage()->data() == old_address));
    check_product(kernel::matmul(x, w2.t()), x, w2.t(), {}, "x @ w2^T");
    check_product(kernel::matmul(x, w2.t()), x, w2.t(), {}, "x @ w2^T, kept");
    CHECK(kernel::panel_cache_stats().storages == 1);  // the dead storage was forgotten
  }
  kernel::clear_panel_cache();
  stats = kernel::panel_cache_stats();
  CHECK(stats.storages == 0);
  CHECK(stats.bytes == 0);
  CHECK(stats.hits == 0);
}

TEST_CASE("products through panels are the same on one thread and on two", "[core][matmul]") {
  gg::manual_seed(13);
  const Tensor a = gg::randn({48, 512}), w = gg::randn({1024, 512});
  const int threads = gg::num_threads();
  gg::set_num_threads(1);
  const Tensor one = kernel::matmul(a, w.t());
  gg::set_num_threads(2);
  const Tensor two = kernel::matmul(a, w.t());
  gg::set_num_threads(threads);
  CHECK(bitwise_equal(one, two));
  check_product(two, a, w.t(), {}, "two threads");
}

TEST_CASE("two threads multiplying by panels at once, each its own b", "[core][matmul]") {
  // What the two directions of a bidirectional LSTM do, each on its own thread.
  kernel::clear_panel_cache();
  gg::manual_seed(14);
  const std::array<Tensor, 2> w = {gg::randn({1024, 256}), gg::randn({1024, 256})};
  const std::array<Tensor, 2> x = {gg::randn({32, 256}), gg::randn({20, 256})};
  std::array<std::vector<Tensor>, 2> got;
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    for (int i = 0; i < 4; ++i) got[t].push_back(kernel::matmul(x[t], w[t].t()));
  }
  for (int t = 0; t < 2; ++t) {
    INFO("thread " << t);
    REQUIRE(got[t].size() == 4);
    for (const Tensor& y : got[t]) check_product(y, x[t], w[t].t(), {}, "per thread");
  }
  CHECK(kernel::panel_cache_stats().kept == 2);
}

TEST_CASE("the kept panels stay within their budget", "[core][matmul]") {
  kernel::clear_panel_cache();
  gg::manual_seed(15);
  const Tensor x = gg::randn({4, 512});
  std::vector<Tensor> weights;
  for (int i = 0; i < 20; ++i) {  // 20 x 4 MiB of panels wanted, 64 MiB allowed
    weights.push_back(gg::randn({2048, 512}));
    for (int pass = 0; pass < 2; ++pass) kernel::matmul(x, weights.back().t());
    CHECK(kernel::panel_cache_stats().bytes <= kernel::kPanelCacheBytes);
  }
  const auto stats = kernel::panel_cache_stats();
  CHECK(stats.kept == kernel::kPanelCacheBytes / (2048 * 512 * 4));
  CHECK(stats.storages == 20);
  // The most recent weight is among the kept: its third call is a hit.
  kernel::matmul(x, weights.back().t());
  CHECK(kernel::panel_cache_stats().hits == stats.hits + 1);
  kernel::clear_panel_cache();
}
