#pragma once
// Shared by the optim tests: float64 parameters with gradients set by hand.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "testing.h"

namespace gg::testing {

// A float64 leaf that requires grad.
inline Tensor param(const std::vector<double>& values) {
  return gg::from_vector(values, {static_cast<int64_t>(values.size())},
                         {.dtype = gg::DType::Float64, .requires_grad = true});
}

// Sets p.grad() to exactly `grad` (through backward of sum(p * grad), after dropping the old gradient).
inline void set_grad(Tensor& p, const std::vector<double>& grad) {
  p.zero_grad();
  gg::sum(p * gg::from_vector(grad, {static_cast<int64_t>(grad.size())}, {.dtype = gg::DType::Float64})).backward();
}

// Sets p.grad() to exactly `grad`, a tensor of p's shape and dtype.
inline void set_grad(Tensor& p, const Tensor& grad) {
  p.zero_grad();
  gg::sum(p * grad).backward();
}

inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Requires actual == expected element by element, to `rel` relative error.
inline void require_values(const Tensor& actual, const std::vector<double>& expected, double rel = 1e-13) {
  const std::vector<double> a = values(actual);
  REQUIRE(a.size() == expected.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i);
    REQUIRE(a[i] == Approx(expected[i]).epsilon(rel).margin(1e-300));
  }
}

}  // namespace gg::testing
