#pragma once
// Timing helpers for the benchmarks: medians of repeated runs, because the machines are
// shared and noisy.
#include <algorithm>
#include <chrono>
#include <vector>

namespace gg::bench {

// Seconds per call of f: runs f in batches sized to take ~`batch_seconds` each and
// returns the median over `batches` batches (after one warm-up batch).
template <class F>
double seconds_per_call(F&& f, int batches = 7, double batch_seconds = 0.05) {
  using clock = std::chrono::steady_clock;
  auto time = [&](long n) {
    auto start = clock::now();
    for (long i = 0; i < n; ++i) f();
    return std::chrono::duration<double>(clock::now() - start).count();
  };
  long n = 1;
  while (time(n) < batch_seconds / 4 && n < (1L << 30)) n *= 4;  // also the warm-up
  n = std::max(1L, static_cast<long>(static_cast<double>(n) * batch_seconds / std::max(1e-9, time(n))));
  std::vector<double> samples;
  for (int b = 0; b < batches; ++b) samples.push_back(time(n) / static_cast<double>(n));
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

}  // namespace gg::bench
