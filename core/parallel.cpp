#include "core/parallel.h"

#include <cblas.h>

namespace gg {

int num_threads() { return omp_get_max_threads(); }

void set_num_threads(int threads) {
  threads = std::max(1, threads);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

}  // namespace gg
