// Greedy decoding latency: batch 1, the medium LSTM-attention model (bench/workloads.h),
// a source of 20 tokens, exactly 25 decode steps, no graph recorded.
//
//   build/bin/bench_decode [--threads T] [--sentences N] [--int8] [--precision fp32|bf16] [--profile]
//
// Prints the median over N sentences; the last line ends with "<number> ms/sentence".
// --int8 scores the vocabulary through an Int8Screen (models/decode.h), built once before the
// timed sentences: the same tokens as float32, checked here on every sentence.
// --precision bf16 decodes with bfloat16 products (DecodeOptions::precision): the weights read
// in half the bytes. Its tokens may differ from float32's in a near-tie; how many did is
// printed (bfloat16 runs whether or not the CPU has AVX512_BF16: decoding is bound by memory).
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
  bool profile = false, int8 = false;
  std::string precision = "fp32";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (arg == "--sentences" && i + 1 < argc) sentences = std::stoi(argv[++i]);
    else if (arg == "--profile") profile = true;
    else if (arg == "--int8") int8 = true;
    else if (arg == "--precision" && i + 1 < argc) precision = argv[++i];
    else
      throw gg::Error(fmt::format("bench_decode: unknown option '{}'; usage: bench_decode [--threads T] [--sentences N] "
                                  "[--int8] [--precision fp32|bf16] [--profile]", arg));
  }
  const bool bf16 = gg::parse_precision(precision, "bench_decode: --precision") == gg::Precision::BFloat16;
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  const gg::bench::WorkloadSize w = gg::bench::workload_size("medium");
  auto model = gg::bench::make_model("lstm-attn", w);
  model->eval();
  const int64_t S = 20, steps = 25;
  // Exactly `steps` steps: <eos> is barred until the last one, which the length limit forces.
  gg::models::DecodeOptions options{.bos = 1, .eos = 2, .max_len_ratio = 0.0, .max_len_extra = steps,
                                    .min_len = steps - 1};
  std::unique_ptr<gg::models::Int8Screen> screen;
  if (int8) screen = std::make_unique<gg::models::Int8Screen>(*model);
  auto source = [&](int n) {
    gg::bench::Lcg rng(static_cast<uint64_t>(n + 100));
    std::vector<int64_t> ids(S);
    for (auto& id : ids) id = rng.uniform(3, w.V);
    return gg::from_vector(ids, {1, S});
  };
  const gg::Tensor lengths = gg::from_vector(std::vector<int64_t>{S});
  // With the screen or in bf16, first the float32 tokens of every sentence (untimed): the screen
  // must match them, bf16 is compared with them.
  std::vector<std::vector<int64_t>> reference;
  for (int n = 0; (screen || bf16) && n < sentences; ++n)
    reference.push_back(gg::models::greedy_decode(*model, source(n), lengths, options)[0].tokens);
  options.screen = screen.get();
  if (bf16) options.precision = gg::Precision::BFloat16;
  int64_t same_sentences = 0, same_tokens = 0;
  std::vector<double> ms;
  std::unique_ptr<gg::Profiler> profiler;
  for (int n = -2; n < sentences; ++n) {  // two warm-up sentences
    if (n == 0 && profile) profiler = std::make_unique<gg::Profiler>();
    const gg::Tensor src = source(n);
    const auto start = std::chrono::steady_clock::now();
    auto hyp = gg::models::greedy_decode(*model, src, lengths, options);
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    GG_CHECK(hyp[0].tokens.size() + 1 == static_cast<size_t>(steps), "bench_decode: decoded {} steps, expected {}",
             hyp[0].tokens.size() + 1, steps);
    GG_CHECK(!screen || bf16 || n < 0 || hyp[0].tokens == reference[n],
             "bench_decode: sentence {}: the int8 screen chose other tokens than float32", n);
    if (bf16 && n >= 0) {
      same_sentences += hyp[0].tokens == reference[n];
      for (int64_t i = 0; i + 1 < steps; ++i) same_tokens += hyp[0].tokens[i] == reference[n][i];
    }
    if (n >= 0) ms.push_back(t);
  }
  if (profiler) fmt::print("{}", profiler->table(25));
  if (bf16)
    fmt::print("bf16 (CPU AVX512_BF16: {}): {} of {} sentences decoded exactly as in float32, {} of {} tokens at their "
               "position\n", gg::cpu_has_bf16() ? "yes" : "no, emulated", same_sentences, sentences, same_tokens,
               sentences * (steps - 1));
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  fmt::print("glassgrad greedy decode lstm-attn medium{}{} threads={} src_len={} steps={} {:.3f} ms/sentence\n",
             int8 ? " int8-screen" : "", bf16 ? " bf16" : "", threads, S, steps, ms[ms.size() / 2]);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
