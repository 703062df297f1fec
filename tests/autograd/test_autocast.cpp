// Backward under gg::autocast (core/autocast.h): a node remembers the precision of the
// products its forward ran, and its backward's products run in it, also when backward() is
// called outside the scope, as in PyTorch; so do the weight gradients the engine defers and
// sums over every use of a weight.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/core_testing.h"
#include "core/kernels.h"
#include "glassgrad.h"

using gg::Tensor;
using gg::testing::bf16_rounded;

namespace {

// got equals want to float32's summing error, and differs from exact by more than that.
void check_bf16(const Tensor& got, const Tensor& want, const Tensor& exact, const std::string& what) {
  INFO(what);
  const auto g = got.to(gg::DType::Float64).to_vector<double>(), w = want.contiguous().to_vector<double>(),
             e = exact.contiguous().to_vector<double>();
  REQUIRE(g.size() == w.size());
  double off_want = 0, off_exact = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    off_want = std::max(off_want, std::fabs(g[i] - w[i]));
    off_exact = std::max(off_exact, std::fabs(g[i] - e[i]));
  }
  CHECK(off_want < 1e-4);
  CHECK(off_exact > 1e-3);
}

}  // namespace

TEST_CASE("the backward of a product made under autocast runs in bfloat16 outside the scope", "[autograd][autocast]") {
  gg::manual_seed(11);
  Tensor x = gg::randn({7, 40}, {.requires_grad = true});
  Tensor w = gg::randn({5, 40}, {.requires_grad = true});
  const Tensor r = gg::randn({7, 5});
  Tensor loss;
  {
    gg::autocast bf16;
    loss = gg::sum(gg::matmul(x, w.t()) * r);
  }
  gg::Profiler profiler;
  loss.backward();  // dy = r: dX = r W, dW = r^T X, both products in bfloat16
  const Tensor x64 = x.detach().to(gg::DType::Float64), w64 = w.detach().to(gg::DType::Float64),
               r64 = r.to(gg::DType::Float64);
  using gg::kernel::matmul_naive;
  check_bf16(x.grad(), matmul_naive(bf16_rounded(r), bf16_rounded(w64)), matmul_naive(r64, w64), "dX");
  check_bf16(w.grad(), matmul_naive(bf16_rounded(r).t(), bf16_rounded(x64)), matmul_naive(r64.t(), x64),
             "dW");
  const auto& entries = profiler.entries();
  CHECK(entries.count({"matmul bf16", "backward"}) == 1);
  CHECK(entries.count({"matmul", "backward"}) == 0);
}

TEST_CASE("a weight gradient the engine defers runs in the precision of the uses it sums", "[autograd][autocast]") {
  gg::manual_seed(12);
  Tensor w = gg::randn({6, 30}, {.requires_grad = true});
  Tensor b = gg::randn({6}, {.requires_grad = true});
  const Tensor x1 = gg::randn({4, 30}), x2 = gg::randn({3, 30}), r1 = gg::randn({4, 6}), r2 = gg::randn({3, 6});
  // Two uses of one leaf weight, as an RNN's steps: the engine sums r1^T x1 + r2^T x2 in one GEMM.
  auto run = [&](gg::Precision precision) {
    w.zero_grad();
    b.zero_grad();
    Tensor loss;
    {
      gg::autocast scope(precision);
      loss = gg::sum(gg::linear(x1, w, b) * r1) + gg::sum(gg::linear(x2, w, b) * r2);
    }
    loss.backward();
    return w.grad().clone();
  };
  const Tensor dw_bf16 = run(gg::Precision::BFloat16), dw_fp32 = run(gg::Precision::Float32);
  const Tensor xs = gg::cat({x1, x2}, 0).to(gg::DType::Float64), rs = gg::cat({r1, r2}, 0).to(gg::DType::Float64);
  using gg::kernel::matmul_naive;
  check_bf16(dw_bf16, matmul_naive(bf16_rounded(rs).t(), bf16_rounded(xs)), matmul_naive(rs.t(), xs), "dW under autocast");
  const auto fp32 = dw_fp32.to(gg::DType::Float64).to_vector<double>(),
             exact = gg::kernel::matmul_naive(rs.t(), xs).to_vector<double>();
  for (size_t i = 0; i < fp32.size(); ++i) CHECK(std::fabs(fp32[i] - exact[i]) < 1e-4);  // float32 outside it
}
