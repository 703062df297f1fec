// Core benchmark: the machine's float32 peak, matmul throughput against raw OpenBLAS and raw
// oneDNN in the same run, and what a tiny op costs in overhead.
//
//   build/bin/bench_core [--threads T]
//
// Prints medians of repeated runs (bench/timer.h).
#include <cblas.h>
#include <fmt/core.h>
#if GG_GEMM_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include <string>

#include "bench/peak.h"
#include "bench/timer.h"
#include "core/kernels.h"
#include "glassgrad.h"

namespace {

// Returns the best GFLOP/s any side reached, a lower bound on the machine's peak.
double matmul_table() {
  fmt::print("\nmatmul, float32, [n, n] @ [n, n] (median GFLOP/s)\n");
  fmt::print("{:>6} {:>14} {:>14} {:>14} {:>14}\n", "n", "glassgrad", "glassgrad A^T", "OpenBLAS", "oneDNN");
  double best = 0;
  for (int64_t n : {256, 512, 1024, 2048}) {
    gg::Tensor a = gg::randn({n, n}), b = gg::randn({n, n}), c = gg::Tensor::empty({n, n});
    gg::Tensor at = a.t();  // a transposed view: the library reads it with its transpose flag, no copy
    const double gflop = 2.0 * static_cast<double>(n * n * n) / 1e9;
    const double ours = gflop / gg::bench::seconds_per_call([&] { gg::matmul(a, b); });
    const double ours_t = gflop / gg::bench::seconds_per_call([&] { gg::matmul(at, b); });
    const double openblas = gflop / gg::bench::seconds_per_call([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n,
                  0.0f, c.data<float>(), n);
    });
    double onednn = 0;
#if GG_GEMM_ONEDNN
    onednn = gflop / gg::bench::seconds_per_call([&] {
      dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f, c.data<float>(), n);
    });
#endif
    fmt::print("{:>6} {:>14.1f} {:>14.1f} {:>14.1f} {:>14}\n", n, ours, ours_t, openblas,
               onednn > 0 ? fmt::format("{:.1f}", onednn) : "-");
    best = std::max({best, ours, ours_t, openblas, onednn});
  }
  return best;
}

void overhead_table() {
  fmt::print("\ntiny op overhead: add of two float32 [4] tensors (median microseconds per call)\n");
  gg::Tensor a = gg::randn({4}), b = gg::randn({4});
  gg::Tensor w = gg::randn({4}, {.requires_grad = true});
  float out[4];
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  struct Row {
    const char* what;
    double seconds;
  };
  Row rows[] = {
      {"raw loop over 4 floats", gg::bench::seconds_per_call([&] {
         for (int i = 0; i < 4; ++i) out[i] = pa[i] + pb[i];
         asm volatile("" : : "r"(out) : "memory");
       })},
      {"gg::kernel::binary (no autograd)", gg::bench::seconds_per_call([&] { gg::kernel::binary(gg::kernel::Binary::Add, a, b); })},
      {"gg::add, inputs need no grad", gg::bench::seconds_per_call([&] { gg::add(a, b); })},
      {"gg::add, recording the graph", gg::bench::seconds_per_call([&] { gg::add(w, b); })},
      {"gg::add + backward", gg::bench::seconds_per_call([&] { gg::sum(gg::add(w, b)).backward(); })},
  };
  for (const Row& r : rows) fmt::print("  {:<36} {:>8.3f} us\n", r.what, r.seconds * 1e6);
}

void lstm_cell_table() {
  fmt::print("\nLSTM cell forward + backward, B=64, input 256, hidden 512, float32 (median milliseconds)\n");
  gg::nn::LSTMCell cell(256, 512);
  gg::Tensor x = gg::randn({64, 256}, {.requires_grad = true});
  gg::Tensor h = gg::randn({64, 512}), c = gg::randn({64, 512}), r = gg::randn({64, 512});
  double t = gg::bench::seconds_per_call([&] {
    auto s = cell.forward(x, {h, c});
    gg::sum(s.h * r + s.c).backward();
    cell.zero_grad();
    x.zero_grad();
  });
  fmt::print("  {:<36} {:>8.3f} ms\n", "LSTMCell step, forward + backward", t * 1e3);
}

}  // namespace

int main(int argc, char** argv) try {
  int threads = gg::num_threads();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else throw gg::Error(fmt::format("bench_core: unknown option '{}'; usage: bench_core [--threads T]", arg));
  }
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  fmt::print("glassgrad core benchmark, {} thread(s), OpenBLAS {}\n", threads, openblas_get_config());
  const double fma = gg::bench::fma_peak_gflops(threads);
  const double product = matmul_table();
  overhead_table();
  lstm_cell_table();
  // bench/run.py reads this line: "% of machine" is a share of it.
  fmt::print("\nmachine peak, float32, {} thread(s): {:.1f} GFLOP/s (FMA loop {:.1f}, best product {:.1f})\n", threads,
             std::max(fma, product), fma, product);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
