#pragma once
// Shared by the autograd tests: float64 leaves that steer clear of kinks and ties, and
// expect_gradcheck, which runs gg::gradcheck with its default tolerances and, on failure,
// prints what gradcheck reports (op, input, element index, analytic and numeric value).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "glassgrad.h"

namespace gg_test {

inline constexpr gg::TensorOptions kLeaf64{.dtype = gg::DType::Float64, .requires_grad = true};

// A float64 leaf that requires grad, uniform in [low, high).
inline gg::Tensor leaf(const gg::Shape& shape, double low = -1.0, double high = 1.0) {
  return gg::uniform(shape, low, high, kLeaf64);
}

// A float64 leaf, uniform in [low, high) but at least `margin` away from every point in
// `kinks` (relu and abs at 0, clamp's bounds): finite differences across a kink are wrong.
inline gg::Tensor leaf_avoiding(const gg::Shape& shape, double low, double high, const std::vector<double>& kinks,
                                double margin = 0.1) {
  std::vector<double> values;
  while (static_cast<int64_t>(values.size()) < shape.numel()) {
    const double v = low + (high - low) * gg::global_generator().uniform();
    bool near = false;
    for (double k : kinks) near = near || std::fabs(v - k) < margin;
    if (!near) values.push_back(v);
  }
  return gg::from_vector(values, shape, kLeaf64);
}

// A float64 leaf whose elements are pairwise at least 0.8 * gap apart (a shuffled grid
// with jitter), so max/min have no ties. `shift` moves the grid: two leaves with shifts
// 0 and gap / 2 never tie with each other either.
inline gg::Tensor leaf_distinct(const gg::Shape& shape, double gap = 0.1, double shift = 0.0) {
  const int64_t n = shape.numel();
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    values[i] = shift + gap * (static_cast<double>(i - n / 2) + 0.2 * gg::global_generator().uniform());
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates with the library's portable generator
    std::swap(values[i], values[gg::global_generator().below(static_cast<uint64_t>(i + 1))]);
  return gg::from_vector(values, shape, kLeaf64);
}

// An int64 tensor from a list, for indices.
inline gg::Tensor indices(const std::vector<int64_t>& values, const gg::Shape& shape = {}) {
  return gg::from_vector(values, shape);
}

// Checks fn's gradients w.r.t. every input that requires grad against central finite
// differences (eps 1e-6, atol 1e-5, rtol 1e-3). `node` must appear in the graph of fn's
// output, so the check is known to go through the op under test.
inline void expect_gradcheck(const std::string& name, const std::string& node, const gg::GradcheckFn& fn,
                             const std::vector<gg::Tensor>& inputs) {
  if (!node.empty()) {
    const std::string graph = gg::graph_string(fn(inputs));
    INFO("graph of " << name << ":\n" << graph);
    REQUIRE_THAT(graph, Catch::Matchers::Contains(node));
  }
  int64_t expected = 0;
  for (const gg::Tensor& t : inputs)
    if (t.requires_grad()) expected += t.numel();
  const gg::GradcheckResult result = gg::gradcheck(fn, inputs, {.name = name});
  INFO(result.message);
  REQUIRE(result.ok);
  REQUIRE(result.elements_checked == expected);
}

// Elementwise comparison of two float tensors of the same shape.
inline void require_close(const gg::Tensor& actual, const gg::Tensor& expected, double rel, double abs) {
  REQUIRE(actual.defined());
  REQUIRE(expected.defined());
  REQUIRE(actual.shape() == expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << " of shape " << actual.shape());
    REQUIRE(a[i] == Approx(e[i]).epsilon(rel).margin(abs));
  }
}

}  // namespace gg_test
