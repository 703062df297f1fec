#pragma once
// Shared by the nn tests: float64 leaves, a gradcheck wrapper that also proves every
// checked input reaches the output, module-member binding for checking parameters, and
// scale-relative comparisons.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "error_message.h"
#include "glassgrad.h"

namespace nn_test {

using gg::Tensor;
using In = std::vector<Tensor>;

inline constexpr gg::TensorOptions kLeaf64{.dtype = gg::DType::Float64, .requires_grad = true};

// A float64 leaf that requires grad, uniform in [low, high).
inline Tensor leaf(const gg::Shape& shape, double low = -1.0, double high = 1.0) {
  return gg::uniform(shape, low, high, kLeaf64);
}

// A float64 leaf whose elements are at least `margin` away from 0 (relu's kink).
inline Tensor leaf_off_zero(const gg::Shape& shape, double margin = 0.1) {
  std::vector<double> values;
  while (static_cast<int64_t>(values.size()) < shape.numel()) {
    const double v = -1.0 + 2.0 * gg::global_generator().uniform();
    if (std::fabs(v) >= margin) values.push_back(v);
  }
  return gg::from_vector(values, shape, kLeaf64);
}

inline Tensor ids(const std::vector<int64_t>& values, const gg::Shape& shape) { return gg::from_vector(values, shape); }

// A module's parameters as float64 leaves (copies), in named_parameters() order.
inline In param_leaves(const gg::nn::Module& m) {
  In out;
  for (const auto& [_, p] : m.named_parameters())
    out.push_back(p.detach().to(gg::DType::Float64).clone().requires_grad_());
  return out;
}

// Points module members at gradcheck's inputs: *slots[i] = in[first + i]. gradcheck clones
// its inputs, so a function that reads module members must re-bind them on every call.
// (Not called `bind`: for a std::vector argument, argument-dependent lookup would find std::bind.)
inline void bind_members(const std::vector<Tensor*>& slots, const In& in, size_t first) {
  REQUIRE(in.size() >= first + slots.size());
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = in[first + i];
}

// Runs gg::gradcheck with its default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3) and
// requires, first, that every input that requires grad gets a non-zero gradient from
// sum(fn(inputs) * R) (so a parameter that was never bound cannot pass vacuously), then
// that the gradients match central differences element by element. Inputs listed in
// `zero_grad_ok` may get an all-zero gradient (a weight_hh applied to a zero state).
inline void expect_gradcheck(const std::string& name, const gg::GradcheckFn& fn, const In& inputs,
                             const std::vector<size_t>& zero_grad_ok = {}) {
  {
    In xs;
    for (const Tensor& t : inputs) xs.push_back(t.requires_grad() ? t.detach().clone().requires_grad_() : t);
    Tensor out = fn(xs);
    REQUIRE(out.requires_grad());
    gg::sum(out * gg::uniform(out.shape(), 0.5, 1.5, {.dtype = out.dtype()})).backward();
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!xs[i].requires_grad()) continue;
      INFO(name << ": input " << i << " of shape " << xs[i].shape() << " gets no gradient");
      REQUIRE(xs[i].grad().defined());
      if (std::find(zero_grad_ok.begin(), zero_grad_ok.end(), i) == zero_grad_ok.end())
        REQUIRE(gg::sum(gg::abs(xs[i].grad())).item() > 0.0);
    }
  }
  int64_t expected = 0;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) expected += t.numel();
  const gg::GradcheckResult result = gg::gradcheck(fn, inputs, {.name = name});
  INFO(result.message);
  REQUIRE(result.ok);
  REQUIRE(result.elements_checked == expected);
}

// max |a - e| over all elements, NaN counting as infinite.
inline double max_abs_diff(const Tensor& a, const Tensor& e) {
  const std::vector<double> va = a.to_vector<double>(), ve = e.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::fabs(va[i] - ve[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

// Passes when max |actual - expected| <= rtol * max(max |expected|, 1e-300): tight
// agreement relative to the tensor's scale.
inline void require_close(const Tensor& actual, const Tensor& expected, double rtol, const std::string& what) {
  REQUIRE(actual.defined());
  REQUIRE(expected.defined());
  INFO(what << ": shapes " << actual.shape() << " vs " << expected.shape());
  REQUIRE(actual.shape() == expected.shape());
  double scale = 0;
  for (double v : expected.to_vector<double>()) scale = std::max(scale, std::fabs(v));
  const double worst = max_abs_diff(actual, expected);
  INFO(what << ": max |diff| " << worst << ", allowed " << rtol * scale);
  REQUIRE(worst <= rtol * std::max(scale, 1e-300));
}

inline bool all_zero(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (v != 0.0) return false;
  return true;
}

using gg::testing::error_message;  // tests/error_message.h

}  // namespace nn_test
