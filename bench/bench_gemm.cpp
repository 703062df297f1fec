// Matrix products of the benchmark workloads (bench/workloads.h), float32: glassgrad's matmul
// (core/matmul.cpp's rules on the library it was built with) against one call of OpenBLAS and
// one call of oneDNN, each threading the product itself, and the machine's measured peak.
// This is the measurement behind every rule in core/matmul.cpp (docs/PERFORMANCE.md).
//
//   build/bin/bench_gemm [--threads T]
//
// Each figure is the median of 9 timed batches, the three sides alternating batch by batch.
#include <cblas.h>
#include <fmt/core.h>
#if GG_GEMM_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bench/peak.h"
#include "core/kernels.h"
#include "glassgrad.h"

namespace {

struct Shape {
  const char* what;
  int64_t M, N, K;
  bool ta, tb;  // a stored [K, M] (read transposed), b stored [N, K]
  int64_t batch = 1;
};

// Medium LSTM-attention: B = 64, S = T = 24 (1,536 tokens), E = 256, H = 512, V = 8000;
// the small one: B = 32, H = 128, V = 1000. x W^T is NT, a gradient through W is NN, a weight
// gradient dY^T X is TN.
const std::vector<Shape> kShapes = {
    {"decoder step x W_ih^T", 64, 2048, 768, false, true},
    {"decoder step dG W_ih", 64, 768, 2048, false, false},
    {"decoder step h W_hh^T", 64, 2048, 512, false, true},
    {"40 sequences left x W^T", 40, 2048, 768, false, true},
    {"20 sequences left dG W", 20, 768, 2048, false, false},
    {"output layer forward", 1536, 8000, 1024, false, true},
    {"output layer dX", 1536, 1024, 8000, false, false},
    {"output layer dW", 8000, 1024, 1536, true, false},
    {"encoder x W^T", 1536, 1024, 256, false, true},
    {"encoder dW", 1024, 256, 1536, true, false},
    {"decoder dW", 2048, 768, 1152, true, false},
    {"small decoder step x W^T", 32, 512, 192, false, true},
    {"small decoder step dG W", 32, 192, 512, false, false},
    {"small, 24 sequences left", 24, 512, 192, false, true},
    {"small encoder x W^T", 512, 256, 64, false, true},
    {"small output layer forward", 512, 1000, 64, false, true},
    {"small output layer dW", 1000, 64, 512, true, false},
    {"decoding 1 x W_out^T", 1, 8000, 1024, false, true},
    {"decoding 1 x W_ih^T", 1, 2048, 768, false, true},
    {"attention backward, K = 1", 24, 512, 1, false, false},
    {"256 products 24x32x24", 24, 32, 24, false, false, 256},
    {"256 products 16x16x16", 16, 16, 16, false, true, 256},
};

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  int threads = gg::num_threads();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else throw gg::Error(fmt::format("bench_gemm: unknown option '{}'; usage: bench_gemm [--threads T]", arg));
  }
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  double peak = gg::bench::fma_peak_gflops(threads);
  std::vector<std::string> lines;
  std::vector<double> ours_gflops;
  for (const Shape& s : kShapes) {
    const int64_t B = s.batch;
    gg::Tensor a = s.ta ? gg::randn({B, s.K, s.M}) : gg::randn({B, s.M, s.K});
    gg::Tensor b = s.tb ? gg::randn({B, s.N, s.K}) : gg::randn({B, s.K, s.N});
    gg::Tensor c = gg::Tensor::empty({B, s.M, s.N});
    gg::Tensor av = s.ta ? a.transpose(1, 2) : a, bv = s.tb ? b.transpose(1, 2) : b;
    if (B == 1) av = av.select(0, 0), bv = bv.select(0, 0);
    const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = c.data<float>();
    auto openblas = [&] {
      for (int64_t i = 0; i < B; ++i)
        cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.M, s.N, s.K,
                    1.0f, pa + i * s.M * s.K, lda, pb + i * s.K * s.N, ldb, 0.0f, pc + i * s.M * s.N, s.N);
    };
#if GG_GEMM_ONEDNN
    auto onednn = [&] {
      for (int64_t i = 0; i < B; ++i)
        dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.M, s.N, s.K, 1.0f, pa + i * s.M * s.K, lda,
                   pb + i * s.K * s.N, ldb, 0.0f, pc + i * s.M * s.N, s.N);
    };
#else
    auto onednn = [] {};
#endif
    auto glassgrad = [&] { gg::kernel::matmul(av, bv); };
    const auto seconds = [](auto& f, long n) {
      const auto start = std::chrono::steady_clock::now();
      for (long i = 0; i < n; ++i) f();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(n);
    };
    long n = 1;
    while (seconds(openblas, n) * static_cast<double>(n) < 0.02) n *= 2;  // ~20 ms a batch; also the warm-up
    seconds(onednn, n), seconds(glassgrad, n);
    std::vector<double> t_openblas, t_onednn, t_glassgrad;
    for (int r = 0; r < 9; ++r) {
      t_openblas.push_back(seconds(openblas, n));
      t_onednn.push_back(seconds(onednn, n));
      t_glassgrad.push_back(seconds(glassgrad, n));
    }
    const double gflop = 2.0 * static_cast<double>(B * s.M * s.N * s.K) / 1e9;
    const std::string shape = B > 1 ? fmt::format("{} x {}x{}x{}", B, s.M, s.N, s.K)
                                    : fmt::format("{}x{}x{} {}{}", s.M, s.N, s.K, s.ta ? 'T' : 'N', s.tb ? 'T' : 'N');
    const std::string dnnl = GG_GEMM_ONEDNN ? fmt::format("{:.1f}", gflop / median(t_onednn)) : "-";
    const double ours = gflop / median(t_glassgrad);
    peak = std::max({peak, ours, gflop / median(t_openblas), GG_GEMM_ONEDNN ? gflop / median(t_onednn) : 0.0});
    lines.push_back(fmt::format("{:<28} {:>18} {:>9.1f} {:>9} {:>9.1f}", s.what, shape, gflop / median(t_openblas),
                                dnnl, ours));
    ours_gflops.push_back(ours);
  }
  // The peak is the best of the FMA loop and of every product above: a shared machine's
  // FMA loop can have had a slow moment.
  fmt::print("float32 products, {} thread(s); machine peak {:.1f} GFLOP/s\n", threads, peak);
  fmt::print("{:<28} {:>18} {:>9} {:>9} {:>9} {:>10}\n", "GFLOP/s (median)", "M x N x K", "OpenBLAS", "oneDNN",
             "glassgrad", "% machine");
  for (size_t i = 0; i < lines.size(); ++i) fmt::print("{} {:>9.0f}%\n", lines[i], 100 * ours_gflops[i] / peak);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
