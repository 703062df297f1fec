// Gradchecks of nn::functional's composed losses in float64: nll_loss and mse_loss, every
// reduction. (cross_entropy, an autograd op, is checked in tests/autograd/test_loss.cpp.)
#include <string>

#include "testing.h"

using namespace gg::testing;

using gg::Reduction;
using gg::Tensor;
namespace F = gg::nn::functional;

namespace {

// Targets [B=2, T=3] over C=4 classes; class 0 doubles as padding.
const Tensor& targets() {
  static const Tensor t = indices({2, 0, 3, 1, 0, 0}, {2, 3});
  return t;
}

}  // namespace

TEST_CASE("gradcheck: nll_loss of log_softmax with ignore_index, every reduction", "[gradcheck][nn][loss]") {
  gg::manual_seed(304);
  const Tensor logits = leaf({2, 3, 4}, -2.0, 2.0);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO(reduction_name(r));
    const F::NllLossOptions o{.ignore_index = 0, .reduction = r};
    expect_gradcheck(std::string("nll_loss ") + reduction_name(r), "GatherBackward",
                     [o](const In& in) { return F::nll_loss(gg::log_softmax(in[0], -1), targets(), o); }, {logits});
  }
}

TEST_CASE("gradcheck: nll_loss on raw inputs with ignore_index", "[gradcheck][nn][loss]") {
  gg::manual_seed(305);
  // nll_loss does not require normalized log-probabilities: the gradient is -1 / count at each target.
  const Tensor target = indices({1, -100, 3}, {3});
  expect_gradcheck("nll_loss raw", "GatherBackward",
                   [&](const In& in) { return F::nll_loss(in[0], target, {.ignore_index = -100}); }, {leaf({3, 4})});
}

TEST_CASE("gradcheck: mse_loss with respect to both arguments, every reduction", "[gradcheck][nn][loss]") {
  gg::manual_seed(306);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO(reduction_name(r));
    expect_gradcheck(std::string("mse_loss ") + reduction_name(r), "SubBackward",
                     [r](const In& in) { return F::mse_loss(in[0], in[1], r); }, {leaf({2, 1, 3}), leaf({2, 1, 3})});
  }
}
