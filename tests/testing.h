#pragma once
// What every test folder shares: float64 leaves for gradchecks, one expect_gradcheck, one
// require_close, the message of a gg::Error, and scratch directories and files. Folder-specific helpers (the core tests'
// strided readers, the data tests' temporary directories) live beside their tests and use
// the same namespace.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "glassgrad.h"

namespace gg::testing {

using In = std::vector<Tensor>;

inline constexpr TensorOptions kLeaf64{.dtype = DType::Float64, .requires_grad = true};

// A float64 leaf that requires grad, uniform in [low, high).
inline Tensor leaf(const Shape& shape, double low = -1.0, double high = 1.0) { return uniform(shape, low, high, kLeaf64); }

// A float64 leaf, uniform in [low, high) but at least `margin` away from every point in
// `kinks` (relu and abs at 0, clamp's bounds): finite differences across a kink are wrong.
inline Tensor leaf_avoiding(const Shape& shape, double low, double high, const std::vector<double>& kinks,
                            double margin = 0.1) {
  std::vector<double> values;
  while (static_cast<int64_t>(values.size()) < shape.numel()) {
    const double v = low + (high - low) * global_generator().uniform();
    bool near = false;
    for (double k : kinks) near = near || std::fabs(v - k) < margin;
    if (!near) values.push_back(v);
  }
  return from_vector(values, shape, kLeaf64);
}

// A float64 leaf whose elements are pairwise at least 0.8 * gap apart (a shuffled grid
// with jitter), so max/min have no ties. `shift` moves the grid: two leaves with shifts
// 0 and gap / 2 never tie with each other either.
inline Tensor leaf_distinct(const Shape& shape, double gap = 0.1, double shift = 0.0) {
  const int64_t n = shape.numel();
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    values[i] = shift + gap * (static_cast<double>(i - n / 2) + 0.2 * global_generator().uniform());
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates with the library's portable generator
    std::swap(values[i], values[global_generator().below(static_cast<uint64_t>(i + 1))]);
  return from_vector(values, shape, kLeaf64);
}

// An int64 tensor from a list, for indices and token ids.
inline Tensor indices(const std::vector<int64_t>& values, const Shape& shape = {}) { return from_vector(values, shape); }

// A module's parameters as float64 leaves (copies), in named_parameters() order.
inline In param_leaves(const nn::Module& m) {
  In out;
  for (const auto& [_, p] : m.named_parameters()) out.push_back(p.detach().to(DType::Float64).clone().requires_grad_());
  return out;
}

// Points module members at gradcheck's inputs: *slots[i] = in[first + i]. gradcheck clones
// its inputs, so a function that reads module members must re-bind them on every call.
// (Not called `bind`: for a std::vector argument, argument-dependent lookup would find std::bind.)
inline void bind_members(const std::vector<Tensor*>& slots, const In& in, size_t first) {
  REQUIRE(in.size() >= first + slots.size());
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = in[first + i];
}

inline const char* reduction_name(Reduction r) {
  return r == Reduction::Mean ? "mean" : r == Reduction::Sum ? "sum" : "none";
}

inline bool all_zero(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (v != 0.0) return false;
  return true;
}

// Checks fn's gradients w.r.t. every input that requires grad against central finite
// differences, with gradcheck's default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3). Two
// guards first, so that a check cannot pass without testing anything:
// - `node` (a backward node's name, e.g. "MatmulBackward") appears in the graph of fn's
//   output, so the check goes through the op under test ("" for a module, whose graph is
//   many ops);
// - every input that requires grad gets a gradient that is not all zero from
//   sum(fn(inputs) * R), R random: a parameter never bound to the module fails here. Inputs
//   listed in `zero_grad_ok` may get zeros (a weight_hh applied to a zero state).
inline void expect_gradcheck(const std::string& name, const std::string& node, const GradcheckFn& fn,
                             const In& inputs, const std::vector<size_t>& zero_grad_ok = {}) {
  {
    In xs;
    for (const Tensor& t : inputs) xs.push_back(t.requires_grad() ? t.detach().clone().requires_grad_() : t);
    Tensor out = fn(xs);
    REQUIRE(out.requires_grad());
    if (!node.empty()) {
      const std::string graph = graph_string(out);
      INFO("graph of " << name << ":\n" << graph);
      REQUIRE_THAT(graph, Catch::Matchers::Contains(node));
    }
    sum(out * uniform(out.shape(), 0.5, 1.5, {.dtype = out.dtype()})).backward();
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!xs[i].requires_grad()) continue;
      INFO(name << ": input " << i << " of shape " << xs[i].shape() << " gets no gradient");
      REQUIRE(xs[i].grad().defined());
      if (std::find(zero_grad_ok.begin(), zero_grad_ok.end(), i) == zero_grad_ok.end()) REQUIRE(!all_zero(xs[i].grad()));
    }
  }
  int64_t expected = 0;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) expected += t.numel();
  const GradcheckResult result = gradcheck(fn, inputs, {.name = name});
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

// Passes when |actual_i - expected_i| <= rtol * max_j |expected_j| + atol for every element:
// the error relative to the tensor's scale, so an element that cancels to near zero is held to
// the same absolute standard as the rest instead of to an impossible relative one. NaN fails.
inline void require_close(const Tensor& actual, const Tensor& expected, double rtol, const std::string& what,
                          double atol = 0) {
  REQUIRE(actual.defined());
  REQUIRE(expected.defined());
  INFO(what << ": shapes " << actual.shape() << " vs " << expected.shape());
  REQUIRE(actual.shape() == expected.shape());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double scale = 0, worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    scale = std::max(scale, std::fabs(e[i]));
    const double d = std::isnan(a[i] - e[i]) ? INFINITY : std::fabs(a[i] - e[i]);
    if (d > worst) worst = d, at = i;
  }
  const double allowed = rtol * scale + atol;
  INFO(what << ": worst element " << at << ": " << (a.empty() ? 0 : a[at]) << " vs expected " << (e.empty() ? 0 : e[at])
            << ", |diff| " << worst << ", allowed " << allowed);
  REQUIRE(worst <= allowed);
}

// The message of the gg::Error that f throws; fails the test if f throws nothing.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected a gg::Error, but nothing was thrown");
  return "";
}

// A fresh, empty directory for one test: <tmp>/glassgrad-test-PID/NAME. The process's
// whole glassgrad-test-PID tree is removed when it exits, so a test run leaves nothing behind.
inline std::filesystem::path scratch_dir(const std::string& name) {
  struct Root {
    std::filesystem::path path;
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Root root{std::filesystem::temp_directory_path() / ("glassgrad-test-" + std::to_string(::getpid()))};
  const std::filesystem::path dir = root.path / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `bytes` as the whole file and returns its path. (Reading one back: gg::read_file.)
inline std::string write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path.string();
}

}  // namespace gg::testing
