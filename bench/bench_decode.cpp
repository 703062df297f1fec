// Greedy decoding latency: batch 1, the medium LSTM-attention model (bench/workloads.h),
// a source of 20 tokens, exactly 25 decode steps, no graph recorded.
//
//   build/bin/bench_decode [--threads T] [--sentences N] [--profile]
//
// Prints the median over N sentences; the last line ends with "<number> ms/sentence".
// --profile prints the op profiler's table over the timed sentences.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "bench/workloads.h"
#include "core/profiler.h"
#include "models/decode.h"

int main(int argc, char** argv) try {
  int threads = gg::num_threads(), sentences = 20;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (arg == "--sentences" && i + 1 < argc) sentences = std::stoi(argv[++i]);
    else if (arg == "--profile") profile = true;
    else
      throw gg::Error(fmt::format(
          "bench_decode: unknown option '{}'; usage: bench_decode [--threads T] [--sentences N] [--profile]", arg));
  }
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  const gg::bench::WorkloadSize w = gg::bench::workload_size("medium");
  auto model = gg::bench::make_model("lstm-attn", w);
  model->eval();
  const int64_t S = 20, steps = 25;
  // Exactly `steps` steps: <eos> is barred until the last one, which the length limit forces.
  const gg::models::DecodeOptions options{.bos = 1, .eos = 2, .max_len_ratio = 0.0, .max_len_extra = steps,
                                          .min_len = steps - 1};
  std::vector<double> ms;
  std::unique_ptr<gg::Profiler> profiler;
  for (int n = -2; n < sentences; ++n) {  // two warm-up sentences
    if (n == 0 && profile) profiler = std::make_unique<gg::Profiler>();
    gg::bench::Lcg rng(static_cast<uint64_t>(n + 100));
    std::vector<int64_t> ids(S);
    for (auto& id : ids) id = rng.uniform(3, w.V);
    gg::Tensor src = gg::from_vector(ids, {1, S});
    gg::Tensor lengths = gg::from_vector(std::vector<int64_t>{S});
    const auto start = std::chrono::steady_clock::now();
    auto hyp = gg::models::greedy_decode(*model, src, lengths, options);
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    GG_CHECK(hyp[0].tokens.size() + 1 == static_cast<size_t>(steps), "bench_decode: decoded {} steps, expected {}",
             hyp[0].tokens.size() + 1, steps);
    if (n >= 0) ms.push_back(t);
  }
  if (profiler) fmt::print("{}", profiler->table(25));
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  fmt::print("glassgrad greedy decode lstm-attn medium threads={} src_len={} steps={} {:.3f} ms/sentence\n", threads, S,
             steps, ms[ms.size() / 2]);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
