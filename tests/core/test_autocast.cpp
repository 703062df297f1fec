// gg::autocast (core/autocast.h, core/matmul_bf16.h): inside the scope, float32 products read
// their inputs rounded to bfloat16 and sum in float32, in every layout matmul takes; the
// rounding itself; the scope's nesting per thread; weights converted once per version.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <thread>

#include "core/kernels.h"
#include "core/matmul_bf16.h"
#include "core_testing.h"
#include "glassgrad.h"

using gg::Precision;
using gg::Tensor;
using gg::testing::bf16_rounded;
using gg::testing::check_values;

namespace {

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Under autocast, a @ b is the float64 product of the rounded inputs to float32's summing
// error, and differs from float32's product by what rounding to bfloat16 costs.
void check_bf16_product(const Tensor& a, const Tensor& b, const std::string& what) {
  INFO(what);
  const Tensor got = [&] {
    gg::autocast bf16;
    return gg::kernel::matmul(a, b);
  }();
  const auto want = gg::testing::values(gg::kernel::matmul_naive(bf16_rounded(a), bf16_rounded(b)));
  const auto exact = gg::testing::values(gg::kernel::matmul_naive(a.to(gg::DType::Float64), b.to(gg::DType::Float64)));
  const int64_t K = a.size(-1);
  check_values(got, got.shape(), want, what, 1e-5, 1e-5 * std::sqrt(static_cast<double>(K)));
  // |x| ~ 1: each product's rounding error is ~2^-9 relative, far above float32's 2^-24.
  CHECK(max_abs_diff(gg::testing::values(got), exact) > 1e-4);
}

}  // namespace

TEST_CASE("bfloat16 rounding is to nearest even, exact on the way back, keeps NaN and infinity", "[core][autocast]") {
  CHECK(gg::to_bf16(1.0f) == 0x3f80);
  CHECK(gg::from_bf16(0x3f80) == 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1. 1 + 3 * 2^-8: up, to 1 + 2^-6.
  CHECK(gg::from_bf16(gg::to_bf16(1.0f + 0x1p-8f)) == 1.0f);
  CHECK(gg::from_bf16(gg::to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);
  CHECK(gg::from_bf16(gg::to_bf16(-2.5f)) == -2.5f);
  CHECK(std::isnan(gg::from_bf16(gg::to_bf16(std::nanf("")))));
  CHECK(gg::from_bf16(gg::to_bf16(INFINITY)) == INFINITY);
  CHECK(gg::from_bf16(gg::to_bf16(3.4e38f)) == INFINITY);  // past bfloat16's largest finite number
}

TEST_CASE("autocast sets the precision of products on its own thread and restores it", "[core][autocast]") {
  CHECK(gg::matmul_precision() == Precision::Float32);
  {
    gg::autocast bf16;
    CHECK(gg::matmul_precision() == Precision::BFloat16);
    std::thread([] { CHECK(gg::matmul_precision() == Precision::Float32); }).join();
    {
      gg::autocast fp32(Precision::Float32);
      CHECK(gg::matmul_precision() == Precision::Float32);
    }
    CHECK(gg::matmul_precision() == Precision::BFloat16);
  }
  CHECK(gg::matmul_precision() == Precision::Float32);
}

TEST_CASE("parallel_for runs every thread with the caller's autocast setting", "[core][autocast]") {
  const int before = gg::num_threads();
  gg::set_num_threads(2);
  for (Precision p : {Precision::BFloat16, Precision::Float32}) {
    gg::autocast scope(p);
    std::vector<Precision> seen(64, p == Precision::BFloat16 ? Precision::Float32 : Precision::BFloat16);
    gg::parallel_for(64, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)] = gg::matmul_precision();
    });
    for (Precision s : seen) CHECK(s == p);
  }
  gg::set_num_threads(before);
}

TEST_CASE("float32 products under autocast read bfloat16 inputs in every layout", "[core][autocast]") {
  gg::manual_seed(5);
  for (auto [M, K, N] : std::vector<std::array<int64_t, 3>>{{4, 7, 5}, {1, 300, 9}, {33, 64, 70}, {64, 256, 1}}) {
    const std::string size = fmt::format("[{}, {}] @ [{}, {}]", M, K, K, N);
    const Tensor a = gg::randn({M, K}), b = gg::randn({K, N});
    const Tensor at = gg::randn({K, M}).t(), bt = gg::randn({N, K}).t();
    check_bf16_product(a, b, size + " plain");
    check_bf16_product(at, b, size + " a transposed");
    check_bf16_product(a, bt, size + " b transposed");
    check_bf16_product(at, bt, size + " both transposed");
    check_bf16_product(gg::randn({M + 1, K + 2}).narrow(0, 1, M).narrow(1, 2, K), b, size + " a narrowed");
    check_bf16_product(gg::randn({M, K, 2}).select(2, 1), b, size + " a strided both ways");
  }
  check_bf16_product(gg::randn({3, 5, 40}), gg::randn({3, 40, 6}), "batched");
  check_bf16_product(gg::randn({2, 3, 5, 40}), gg::randn({40, 6}), "batch dims broadcast");
  // Float64 is never rounded.
  const Tensor a = gg::randn({4, 9}, {.dtype = gg::DType::Float64});
  const Tensor b = gg::randn({9, 3}, {.dtype = gg::DType::Float64});
  gg::autocast bf16;
  check_values(gg::kernel::matmul(a, b), {4, 3}, gg::testing::values(gg::kernel::matmul_naive(a, b)), "float64", 1e-12,
               1e-12);
}

TEST_CASE("matmul_into under autocast adds beta * c to the bfloat16 product", "[core][autocast]") {
  gg::manual_seed(6);
  const Tensor a = gg::randn({6, 50}), b = gg::randn({80, 50}).t();
  const auto product = gg::testing::values(gg::kernel::matmul_naive(bf16_rounded(a), bf16_rounded(b)));
  for (double beta : {0.0, 1.0, 0.5}) {
    INFO("beta " << beta);
    Tensor wide = gg::randn({6, 83});
    Tensor c = wide.narrow(1, 2, 80);  // row stride 83
    auto want = gg::testing::values(c);
    for (size_t i = 0; i < want.size(); ++i) want[i] = product[i] + beta * want[i];
    if (beta == 0) gg::kernel::fill(c, std::nan(""));  // beta 0 never reads c
    {
      gg::autocast bf16;
      gg::kernel::matmul_into(c, a, b, beta);
    }
    check_values(c, {6, 80}, want, "matmul_into bf16", 1e-5, 1e-4);
  }
}

TEST_CASE("under autocast a weight is converted once per version, not once per use", "[core][autocast]") {
  gg::kernel::clear_bf16_cache();
  gg::manual_seed(7);
  Tensor w = gg::randn({96, 64});
  gg::autocast bf16;
  // [48, 64] x [64, 96]: large enough for oneDNN where it multiplies bfloat16 (smaller products
  // go to sgemm on bfloat16-rounded floats, in a cache entry of their own).
  auto use = [&] { return gg::kernel::matmul(gg::randn({48, 64}), w.t()); };
  const Tensor first = use();
  // The weight (the right operand) is converted and remembered; the activation is converted
  // at every call and never remembered.
  CHECK(gg::kernel::bf16_cache_stats().conversions == 1);
  CHECK(gg::kernel::bf16_cache_stats().kept == 0);
  use();  // w met again: converted and kept
  CHECK(gg::kernel::bf16_cache_stats().conversions == 2);
  CHECK(gg::kernel::bf16_cache_stats().kept == 1);
  for (int i = 0; i < 5; ++i) use();  // kept
  auto stats = gg::kernel::bf16_cache_stats();
  CHECK(stats.hits == 5);
  CHECK(stats.conversions == 2);
  const bool bits = gg::kernel::bf16_products_native();  // bfloat16 bits; else bfloat16-rounded floats
  CHECK(stats.bytes == 96 * 64 * static_cast<int64_t>(bits ? sizeof(uint16_t) : sizeof(float)));
  // An in-place write (an optimizer step) makes the kept copy stale: converted again, once.
  gg::kernel::scale(w, 2.0);
  const Tensor x = gg::randn({48, 64});
  const Tensor after = gg::kernel::matmul(x, w.t());
  gg::kernel::matmul(x, w.t());
  stats = gg::kernel::bf16_cache_stats();
  CHECK(stats.hits == 6);
  CHECK(stats.conversions == 3);
  // A left operand rewritten in place without a new version (a recurrent layer's h, written
  // through its data pointer) is read afresh at every call.
  Tensor h = gg::randn({48, 64});
  gg::kernel::matmul(h, w.t());
  gg::kernel::matmul(h, w.t());
  h.data<float>()[0] += 1.0f;  // no version bump
  const auto want_h = gg::testing::values(gg::kernel::matmul_naive(bf16_rounded(h), bf16_rounded(w).t()));
  check_values(gg::kernel::matmul(h, w.t()), {48, 96}, want_h, "h after a raw write", 1e-5, 1e-4);
  // Slices of a batched product are not remembered either.
  const int64_t remembered = gg::kernel::bf16_cache_stats().conversions;
  for (int i = 0; i < 3; ++i) gg::kernel::matmul(gg::randn({4, 8, 64}), gg::randn({4, 64, 8}));
  CHECK(gg::kernel::bf16_cache_stats().conversions == remembered);
  check_values(after, {48, 96}, gg::testing::values(gg::kernel::matmul_naive(bf16_rounded(x), bf16_rounded(w).t())),
               "after the weight changed", 1e-5, 1e-4);
  gg::kernel::clear_bf16_cache();
  CHECK(gg::kernel::bf16_cache_stats().kept == 0);
}

TEST_CASE("bf16 products on two threads give the same bits every time, close to one thread's", "[core][autocast]") {
  // oneDNN's own scratchpad belongs to the thread that made a primitive; ours run on whichever
  // thread multiplies (a batch of products is split over the threads), so they bring their own.
  // Without that, results changed from run to run (and turned to NaN in training).
  gg::manual_seed(4);
  std::vector<std::pair<Tensor, Tensor>> batches;  // [8, M, K] x [8, K, N], thin and long products
  for (auto [M, K, N] : {std::array<int64_t, 3>{8, 2048, 16}, {30, 24, 96}, {64, 256, 512}, {7, 16, 24}})
    batches.emplace_back(gg::randn({8, M, K}), gg::randn({8, K, N}));
  auto products = [&] {
    std::vector<std::vector<float>> out;
    gg::autocast bf16;
    for (const auto& [a, b] : batches) out.push_back(gg::kernel::matmul(a, b).to_vector<float>());
    return out;
  };
  gg::set_num_threads(1);
  const auto alone = products();
  gg::set_num_threads(2);
  const auto first = products();
  int wrong = 0;
  for (int i = 0; i < 30; ++i) wrong += products() != first;
  gg::set_num_threads(1);
  CHECK(wrong == 0);
  float worst = 0;  // the library may split the sums differently on 2 threads
  for (size_t p = 0; p < first.size(); ++p)
    for (size_t i = 0; i < first[p].size(); ++i)
      worst = std::max(worst, std::abs(first[p][i] - alone[p][i]) / (1 + std::abs(alone[p][i])));
  CHECK(worst <= 1e-4f);
}

TEST_CASE("matmul_bias_into adds the bias to every row, under autocast inside the product's kernel", "[core][autocast]") {
  gg::manual_seed(8);
  for (auto [M, K, N] : {std::array<int64_t, 3>{96, 64, 80}, {6, 5, 7}}) {  // on oneDNN, and on sgemm
    INFO(M << " x " << K << " x " << N);
    const Tensor a = gg::randn({M, K}), w = gg::randn({N, K}), bias = gg::randn({N});
    for (bool bf16 : {false, true}) {
      gg::autocast scope(bf16 ? Precision::BFloat16 : Precision::Float32);
      Tensor got = Tensor::empty({M, N}), want = Tensor::empty({M, N});
      gg::kernel::matmul_bias_into(got, a, w.t(), bias);
      gg::kernel::copy(want, bias);
      gg::kernel::matmul_into(want, a, w.t(), 1.0);
      if (!bf16) CHECK(got.to_vector<float>() == want.to_vector<float>());  // the same two steps
      else check_values(got, {M, N}, gg::testing::values(want), "bias in the kernel", 1e-5, 1e-4);
    }
  }
  Tensor c = Tensor::empty({2, 3});
  CHECK_THROWS_WITH(gg::kernel::matmul_bias_into(c, gg::randn({2, 4}), gg::randn({4, 3}), gg::randn({4})),
                    Catch::Contains("expected a bias [3]"));
}
