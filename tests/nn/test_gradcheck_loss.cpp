// Gradchecks of the losses, in float64: the fused cross_entropy and its composed twin
// (ignore_index, label smoothing, every reduction), nll_loss and mse_loss.
#include <string>

#include <fmt/format.h>

#include "nn_testing.h"

using gg::Reduction;
using gg::Tensor;
using nn_test::expect_gradcheck;
using nn_test::In;
using nn_test::leaf;
namespace F = gg::nn::functional;

namespace {

// The composed twin: CrossEntropyOptions::fused = false.
Tensor cross_entropy_composed(const Tensor& logits, const Tensor& target, const gg::CrossEntropyOptions& options = {}) {
  gg::CrossEntropyOptions o = options;
  o.fused = false;
  return F::cross_entropy(logits, target, o);
}

const char* reduction_name(Reduction r) {
  return r == Reduction::Mean ? "mean" : r == Reduction::Sum ? "sum" : "none";
}

// Targets [B=2, T=3] over C=4 classes; class 0 doubles as padding in some cases, -100 in others.
const Tensor& targets() {
  static const Tensor t = nn_test::ids({2, 0, 3, 1, 0, 0}, {2, 3});
  return t;
}

}  // namespace

TEST_CASE("gradcheck: cross_entropy (fused) with ignore_index and label_smoothing, every reduction",
          "[gradcheck][nn][loss]") {
  gg::manual_seed(301);
  const Tensor logits = leaf({2, 3, 4}, -2.0, 2.0);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (int64_t ignore : {int64_t{-100}, int64_t{0}})
      for (double eps : {0.0, 0.1}) {
        const std::string name = fmt::format("cross_entropy(reduction={}, ignore_index={}, label_smoothing={})",
                                             reduction_name(r), ignore, eps);
        INFO(name);
        const gg::CrossEntropyOptions o{.ignore_index = ignore, .label_smoothing = eps, .reduction = r};
        auto fn = [o](const In& in) { return F::cross_entropy(in[0], targets(), o); };
        REQUIRE(gg::graph_string(fn({logits})).find("CrossEntropyBackward") != std::string::npos);
        expect_gradcheck(name, fn, {logits});
      }
}

TEST_CASE("gradcheck: cross_entropy (fused) on 2-D logits with a size-1 batch", "[gradcheck][nn][loss]") {
  gg::manual_seed(302);
  const Tensor target = nn_test::ids({2}, {1});
  expect_gradcheck("cross_entropy [1, 5]", [&](const In& in) { return F::cross_entropy(in[0], target); },
                   {leaf({1, 5}, -2.0, 2.0)});
}

TEST_CASE("gradcheck: cross_entropy_composed with ignore_index and label_smoothing, every reduction",
          "[gradcheck][nn][loss]") {
  gg::manual_seed(303);
  const Tensor logits = leaf({2, 3, 4}, -2.0, 2.0);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (int64_t ignore : {int64_t{-100}, int64_t{0}})
      for (double eps : {0.0, 0.2}) {
        const std::string name =
            fmt::format("cross_entropy_composed(reduction={}, ignore_index={}, label_smoothing={})",
                        reduction_name(r), ignore, eps);
        INFO(name);
        const gg::CrossEntropyOptions o{.ignore_index = ignore, .label_smoothing = eps, .reduction = r};
        expect_gradcheck(name, [o](const In& in) { return cross_entropy_composed(in[0], targets(), o); }, {logits});
      }
}

TEST_CASE("gradcheck: nll_loss of log_softmax with ignore_index, every reduction", "[gradcheck][nn][loss]") {
  gg::manual_seed(304);
  const Tensor logits = leaf({2, 3, 4}, -2.0, 2.0);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO(reduction_name(r));
    const F::NllLossOptions o{.ignore_index = 0, .reduction = r};
    expect_gradcheck(std::string("nll_loss ") + reduction_name(r),
                     [o](const In& in) { return F::nll_loss(gg::log_softmax(in[0], -1), targets(), o); }, {logits});
  }
}

TEST_CASE("gradcheck: nll_loss on raw inputs with ignore_index", "[gradcheck][nn][loss]") {
  gg::manual_seed(305);
  // nll_loss does not require normalized log-probabilities: the gradient is -1 / count at each target.
  const Tensor target = nn_test::ids({1, -100, 3}, {3});
  expect_gradcheck("nll_loss raw",
                   [&](const In& in) { return F::nll_loss(in[0], target, {.ignore_index = -100}); }, {leaf({3, 4})});
}

TEST_CASE("gradcheck: mse_loss with respect to both arguments, every reduction", "[gradcheck][nn][loss]") {
  gg::manual_seed(306);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO(reduction_name(r));
    expect_gradcheck(std::string("mse_loss ") + reduction_name(r),
                     [r](const In& in) { return F::mse_loss(in[0], in[1], r); }, {leaf({2, 1, 3}), leaf({2, 1, 3})});
  }
}
