// Greedy decoding speed of a medium model (bench/workloads.h): sources of 20 tokens, exactly
// 25 decode steps, no graph recorded.
//
//   build/bin/bench_decode [--model lstm-attn|transformer] [--batch B] [--threads T] [--sentences N]
//                          [--int8] [--precision fp32|bf16] [--no-cache] [--profile]
//
// Prints the median over N calls of greedy_decode on B sentences each; the last line ends with
// "<number> ms/sentence <number> sentences/s" (ms per call / B, and B per second of a call).
// --int8 scores the vocabulary through an Int8Screen (models/decode.h), built once before the
// timed sentences: the same tokens as float32, checked here on every sentence.
// --precision bf16 decodes with bfloat16 products (DecodeOptions::precision): the weights read
// in half the bytes. Its tokens may differ from float32's in a near-tie; how many did is
// printed (bfloat16 runs whether or not the CPU has AVX512_BF16: decoding is bound by memory).
// --no-cache (Transformer): re-run the decoder over the whole prefix at every step instead of
// keeping each layer's keys and values (TransformerSeq2Seq::kv_cache), the reference.
// --profile prints the op profiler's table over the timed sentences.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "bench/workloads.h"
#include "core/profiler.h"
#include "models/decode.h"
#include "models/transformer_seq2seq.h"

int main(int argc, char** argv) try {
  int threads = gg::num_threads(), sentences = 20;
  int64_t batch = 1;
  bool profile = false, int8 = false, cache = true;
  std::string precision = "fp32", model_name = "lstm-attn";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (arg == "--sentences" && i + 1 < argc) sentences = std::stoi(argv[++i]);
    else if (arg == "--batch" && i + 1 < argc) batch = std::stoll(argv[++i]);
    else if (arg == "--model" && i + 1 < argc) model_name = argv[++i];
    else if (arg == "--profile") profile = true;
    else if (arg == "--int8") int8 = true;
    else if (arg == "--no-cache") cache = false;
    else if (arg == "--precision" && i + 1 < argc) precision = argv[++i];
    else
      throw gg::Error(fmt::format("bench_decode: unknown option '{}'; usage: bench_decode [--model lstm-attn|transformer] "
                                  "[--batch B] [--threads T] [--sentences N] [--int8] [--precision fp32|bf16] "
                                  "[--no-cache] [--profile]", arg));
  }
  GG_CHECK(batch >= 1 && sentences >= 1, "bench_decode: --batch and --sentences must be at least 1");
  const bool bf16 = gg::parse_precision(precision, "bench_decode: --precision") == gg::Precision::BFloat16;
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  const gg::bench::WorkloadSize w = gg::bench::workload_size("medium");
  auto model = gg::bench::make_model(model_name, w);
  model->eval();
  if (auto* transformer = dynamic_cast<gg::models::TransformerSeq2Seq*>(model.get())) transformer->kv_cache = cache;
  else GG_CHECK(cache, "bench_decode: --no-cache is for --model transformer");
  const int64_t S = 20, steps = 25;
  // Exactly `steps` steps: <eos> is barred until the last one, which the length limit forces.
  gg::models::DecodeOptions options{.bos = 1, .eos = 2, .max_len_ratio = 0.0, .max_len_extra = steps,
                                    .min_len = steps - 1};
  std::unique_ptr<gg::models::Int8Screen> screen;
  if (int8) screen = std::make_unique<gg::models::Int8Screen>(*model);
  // Call n decodes `batch` sentences; the first of them is the same at every batch size.
  auto source = [&](int n) {
    gg::bench::Lcg rng(static_cast<uint64_t>(n + 100));
    std::vector<int64_t> ids(batch * S);
    for (auto& id : ids) id = rng.uniform(3, w.V);
    return gg::from_vector(ids, {batch, S});
  };
  const gg::Tensor lengths = gg::full({batch}, static_cast<double>(S), {.dtype = gg::DType::Int64});
  // With the screen or in bf16, first the float32 tokens of every sentence (untimed): the screen
  // must match them, bf16 is compared with them.
  std::vector<std::vector<int64_t>> reference;
  for (int n = 0; (screen || bf16) && n < sentences; ++n)
    for (const auto& hyp : gg::models::greedy_decode(*model, source(n), lengths, options)) reference.push_back(hyp.tokens);
  options.screen = screen.get();
  if (bf16) options.precision = gg::Precision::BFloat16;
  int64_t same_sentences = 0, same_tokens = 0;
  std::vector<double> ms;
  std::unique_ptr<gg::Profiler> profiler;
  for (int n = -2; n < sentences; ++n) {  // two warm-up sentences
    if (n == 0 && profile) profiler = std::make_unique<gg::Profiler>();
    const gg::Tensor src = source(n);
    const auto start = std::chrono::steady_clock::now();
    auto hyps = gg::models::greedy_decode(*model, src, lengths, options);
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (int64_t b = 0; b < batch; ++b) {
      const auto& tokens = hyps[b].tokens;
      GG_CHECK(tokens.size() + 1 == static_cast<size_t>(steps), "bench_decode: decoded {} steps, expected {}",
               tokens.size() + 1, steps);
      if (n < 0) continue;
      const auto& expected = reference.empty() ? tokens : reference[n * batch + b];
      GG_CHECK(!screen || bf16 || tokens == expected,
               "bench_decode: sentence {}: the int8 screen chose other tokens than float32", n * batch + b);
      same_sentences += tokens == expected;
      for (int64_t i = 0; i + 1 < steps; ++i) same_tokens += tokens[i] == expected[i];
    }
    if (n >= 0) ms.push_back(t);
  }
  if (profiler) fmt::print("{}", profiler->table(25));
  if (bf16)
    fmt::print("bf16 (CPU AVX512_BF16: {}): {} of {} sentences decoded exactly as in float32, {} of {} tokens at their "
               "position\n", gg::cpu_has_bf16() ? "yes" : "no, emulated", same_sentences, sentences * batch, same_tokens,
               sentences * batch * (steps - 1));
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  const double per_call = ms[ms.size() / 2];
  fmt::print("glassgrad greedy decode {} medium{}{}{} batch={} threads={} src_len={} steps={} {:.3f} ms/sentence "
             "{:.1f} sentences/s\n", model_name, int8 ? " int8-screen" : "", bf16 ? " bf16" : "",
             cache ? "" : " no-cache", batch, threads, S, steps, per_call / static_cast<double>(batch),
             1e3 * static_cast<double>(batch) / per_call);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
