#pragma once
// The machine's float32 peak, measured rather than looked up: the best of a tight loop of
// fused multiply-adds on every thread and of the GEMM library's large product, in the same
// run as the benchmark that divides by it. "% of machine" in bench/ is a share of this.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench/timer.h"

namespace gg::bench {

// `iters` rounds of 12 independent vector FMAs (12 chains hide the FMA latency on every x86
// core of the last decade), with 16-float (AVX-512) or 8-float (AVX2) vectors.
constexpr int kFmaChains = 12;

#define GG_FMA_CHAINS(V, SET1, FMA, STORE, LANES)                           \
  V acc[kFmaChains];                                                        \
  const V x = SET1(1.0000001f), y = SET1(1e-8f);                            \
  for (int c = 0; c < kFmaChains; ++c) acc[c] = SET1(static_cast<float>(c)); \
  for (long i = 0; i < iters; ++i) {                                        \
    _Pragma("GCC unroll 12") /* the chains in registers, not in memory */   \
    for (int c = 0; c < kFmaChains; ++c) acc[c] = FMA(acc[c], x, y);        \
  }                                                                         \
  float sum = 0, lanes[LANES];                                              \
  for (int c = 0; c < kFmaChains; ++c) {                                    \
    STORE(lanes, acc[c]);                                                   \
    for (float l : lanes) sum += l;                                         \
  }                                                                         \
  return sum;

__attribute__((target("avx512f"))) inline float fma_chains_512(long iters) {
  GG_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16)
}
__attribute__((target("avx2,fma"))) inline float fma_chains_256(long iters) {
  GG_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8)
}
#undef GG_FMA_CHAINS

// Peak GFLOP/s of the FMA loop on `threads` threads (median of 5 runs).
inline double fma_peak_gflops(int threads) {
  const bool wide = __builtin_cpu_supports("avx512f");
  if (!wide && !__builtin_cpu_supports("fma")) return 0;
  const int lanes = wide ? 16 : 8;
  const long iters = 50'000'000;  // ~0.1 s: long enough for the core to settle at its AVX-512 clock
  std::vector<double> rates;
  float sink = 0;
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const float s = wide ? fma_chains_512(iters) : fma_chains_256(iters);
#pragma omp atomic
      sink += s;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(2.0 * lanes * 12 * static_cast<double>(iters) * threads / seconds / 1e9);
  }
  if (sink == 0) return 0;  // never: uses the sums, so that the loops are not optimized away
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace gg::bench
