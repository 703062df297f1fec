// core/fast_math.h: the vectorizable float32 exp, tanh and sigmoid against float64 libm, over a
// dense grid that covers the saturating tails, the overflow/underflow edges and NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/fast_math.h"
#include "glassgrad.h"

// The 8-float exp is called here without -march=native, where a 32-byte vector travels in
// memory; GCC notes the difference from the AVX convention (see core/fast_math.h).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace {

struct Worst {
  double abs = 0, rel = 0;
  float at_abs = 0, at_rel = 0;
};

template <class Fast, class Exact>
Worst measure(Fast fast, Exact exact, float lo, float hi, int steps, double rel_floor) {
  Worst w;
  for (int i = 0; i <= steps; ++i) {
    const float x = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(steps);
    const double want = exact(static_cast<double>(x)), got = fast(x);
    const double abs = std::abs(got - want);
    if (abs > w.abs) w = {abs, w.rel, x, w.at_rel};
    if (std::abs(want) > rel_floor && abs / std::abs(want) > w.rel) {
      w.rel = abs / std::abs(want);
      w.at_rel = x;
    }
  }
  return w;
}

}  // namespace

TEST_CASE("fast exp is within a few ulp of exp", "[fast_math]") {
  Worst w = measure([](float x) { return gg::fast::exp(x); }, [](double x) { return std::exp(x); }, -87.0f, 88.0f, 400000, 0);
  INFO("worst relative error " << w.rel << " at x = " << w.at_rel);
  CHECK(w.rel < 2e-7);
  CHECK(gg::fast::exp(0.0f) == 1.0f);
  CHECK(gg::fast::exp(-100.0f) == 0.0f);
  CHECK(gg::fast::exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isinf(gg::fast::exp(100.0f)));
  CHECK(std::isinf(gg::fast::exp(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(gg::fast::exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast exp on 8 floats gives the scalar fast exp's results, bit for bit", "[fast_math]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> xs = {0.0f,   -0.0f,  1.0f,   -1.0f, 88.0f, 88.72f, 88.8f,
                           -87.3f, -87.4f, -100.0f, 100.0f, inf,   -inf,   nan};
  for (int i = 0; i <= 40000; ++i) xs.push_back(-90.0f + 180.0f * static_cast<float>(i) / 40000.0f);
  while (xs.size() % 8 != 0) xs.push_back(0.5f);
  for (size_t i = 0; i < xs.size(); i += 8) {
    gg::fast::float8 x;
    std::memcpy(&x, &xs[i], sizeof x);
    const gg::fast::float8 y = gg::fast::exp(x);
    for (int l = 0; l < 8; ++l) {
      const float want = gg::fast::exp(xs[i + static_cast<size_t>(l)]);
      INFO("x = " << xs[i + static_cast<size_t>(l)]);
      if (std::isnan(want)) CHECK(std::isnan(y[l]));
      else CHECK(y[l] == want);
    }
  }
}

TEST_CASE("fast tanh is within 1e-6 of tanh and exactly +-1 in the tails", "[fast_math]") {
  Worst w = measure([](float x) { return gg::fast::tanh(x); }, [](double x) { return std::tanh(x); }, -30.0f, 30.0f, 600000, 1e-3);
  INFO("worst absolute error " << w.abs << " at x = " << w.at_abs << "; relative " << w.rel << " at " << w.at_rel);
  CHECK(w.abs < 1e-6);
  CHECK(w.rel < 2e-6);
  CHECK(gg::fast::tanh(0.0f) == 0.0f);
  CHECK(gg::fast::tanh(1e-20f) == Approx(1e-20f).epsilon(1e-6));  // odd, no underflow near zero
  CHECK(gg::fast::tanh(50.0f) == 1.0f);
  CHECK(gg::fast::tanh(-50.0f) == -1.0f);
  CHECK(gg::fast::tanh(std::numeric_limits<float>::infinity()) == 1.0f);
  CHECK(std::isnan(gg::fast::tanh(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast sigmoid is within 1e-6 of sigmoid and keeps its relative accuracy in the left tail", "[fast_math]") {
  auto exact = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  Worst w = measure([](float x) { return gg::fast::sigmoid(x); }, exact, -60.0f, 60.0f, 600000, 1e-30);
  INFO("worst absolute error " << w.abs << " at x = " << w.at_abs << "; relative " << w.rel << " at " << w.at_rel);
  CHECK(w.abs < 1e-6);
  CHECK(w.rel < 1e-6);
  CHECK(gg::fast::sigmoid(0.0f) == 0.5f);
  CHECK(gg::fast::sigmoid(200.0f) == 1.0f);
  CHECK(gg::fast::sigmoid(-200.0f) == 0.0f);
}

TEST_CASE("float32 tanh, sigmoid and exp tensors use the fast versions and agree with float64", "[fast_math]") {
  gg::Tensor x = gg::arange(-12.0, 12.0, 0.024, {.dtype = gg::DType::Float32});
  gg::Tensor x64 = x.to(gg::DType::Float64);
  for (auto [name, f] : {std::pair<const char*, gg::Tensor (*)(const gg::Tensor&)>{"tanh", gg::tanh},
                         {"sigmoid", gg::sigmoid}, {"exp", gg::exp}}) {
    INFO(name);
    std::vector<float> got = f(x).to_vector<float>();
    std::vector<double> want = f(x64).to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(2e-6).margin(1e-6));
  }
}
