#pragma once
// Seeded random numbers. The same seed gives the same tensors on every platform: the
// engine is std::mt19937_64 (fully specified by the standard) and the normal and uniform
// draws are computed here, not by the implementation-defined std::*_distribution.
#include <cstdint>
#include <random>

namespace gg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 5489) : engine_(seed) {}
  void seed(uint64_t seed) {
    engine_.seed(seed);
    has_spare_ = false;
  }
  double uniform();              // [0, 1), 53 random bits
  double normal();               // mean 0, stddev 1 (Box-Muller; the pair's second value is kept)
  uint64_t below(uint64_t n);    // uniform integer in [0, n), without modulo bias
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

// splitmix64: spreads structured seeds (seed, epoch, step, rank) over the generator's seed
// space, so that nearby inputs give unrelated streams.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The generator behind randn, uniform, randint, dropout masks and initializers.
Generator& global_generator();
void manual_seed(uint64_t seed);

}  // namespace gg
