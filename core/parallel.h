#pragma once
// Threads. glassgrad's kernels, oneDNN and OpenBLAS share one OpenMP thread pool (Debian's
// libdnnl and libopenblas-openmp), so a library call made inside one of our parallel regions
// runs on one thread instead of oversubscribing the cores.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "core/autocast.h"

namespace gg {

// Below this many elements a kernel runs on one thread: starting a team costs a few
// microseconds, more than a small loop saves (measured by bench/bench_core).
constexpr int64_t kParallelGrain = 1 << 15;
// The same for matrix products, counted in multiply-adds: below, one thread does it faster.
constexpr int64_t kParallelMinMacs = 1 << 18;

int num_threads();
// Sets the threads used by glassgrad's kernels and by OpenBLAS.
void set_num_threads(int threads);

// Runs f(begin, end) over [0, n), split across threads when n is at least `grain`. Every
// thread runs with the caller's gg::autocast setting (a thread-local one).
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  if (n < grain || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(int64_t{0}, n);
    return;
  }
  const Precision precision = matmul_precision();
#pragma omp parallel
  {
    autocast same_precision(precision);
    int64_t threads = omp_get_num_threads();
    int64_t t = omp_get_thread_num();
    int64_t chunk = (n + threads - 1) / threads;
    int64_t begin = std::min(n, t * chunk);
    int64_t end = std::min(n, begin + chunk);
    if (begin < end) f(begin, end);
  }
}

}  // namespace gg
