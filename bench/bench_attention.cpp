// Efficient (linear) attention against softmax attention as the sequence grows.
//
//   build/bin/bench_attention [--max-len N] [--threads T]
//
// One head, batch 1, d = 64, self-attention over L positions, forward only (no graph).
// Peak memory is what tensor storages held at most during one call (gg::memory_stats).
#include <fmt/core.h>

#include <string>

#include "bench/timer.h"
#include "glassgrad.h"

int main(int argc, char** argv) try {
  int64_t max_len = 8192;
  int threads = gg::num_threads();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--max-len" && i + 1 < argc) max_len = std::stoll(argv[++i]);
    else if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else throw gg::Error(fmt::format("bench_attention: unknown option '{}'; usage: bench_attention [--max-len N] [--threads T]", arg));
  }
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  gg::NoGradGuard no_grad;
  const int64_t d = 64;
  fmt::print("self-attention, batch 1, one head, d = {}, forward, {} thread(s); medians\n\n", d, threads);
  fmt::print("{:>6} | {:>12} {:>12} | {:>12} {:>12} | {:>8}\n", "L", "softmax ms", "softmax MiB", "efficient ms",
             "efficient MiB", "speedup");
  for (int64_t L = 128; L <= max_len; L *= 2) {
    gg::Tensor q = gg::randn({1, L, d}), k = gg::randn({1, L, d}), v = gg::randn({1, L, d});
    auto peak_of = [](auto&& f) {
      gg::reset_peak_memory();
      const int64_t before = gg::memory_stats().live_bytes;
      f();
      return static_cast<double>(gg::memory_stats().peak_bytes - before) / (1 << 20);
    };
    auto softmax_attention = [&] { gg::nn::functional::scaled_dot_product_attention(q, k, v); };
    auto efficient_attention = [&] { gg::nn::functional::efficient_attention(q, k, v); };
    const int batches = L >= 4096 ? 3 : 7;
    double t_soft = gg::bench::seconds_per_call(softmax_attention, batches, 0.05);
    double t_eff = gg::bench::seconds_per_call(efficient_attention, batches, 0.05);
    double m_soft = peak_of(softmax_attention), m_eff = peak_of(efficient_attention);
    fmt::print("{:>6} | {:>12.3f} {:>12.2f} | {:>12.3f} {:>12.2f} | {:>7.1f}x\n", L, t_soft * 1e3, m_soft, t_eff * 1e3,
               m_eff, t_soft / t_eff);
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
