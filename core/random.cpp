#include "core/random.h"

#include <cmath>
#include <numbers>

namespace gg {

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

uint64_t Generator::below(uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the uneven tail
  uint64_t x;
  do x = engine_();
  while (x >= limit);
  return x % n;
}

Generator& global_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { global_generator().seed(seed); }

}  // namespace gg
