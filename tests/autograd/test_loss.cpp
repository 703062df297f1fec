// The fused cross_entropy (autograd/loss.h) against its composed twin (log_softmax, gather,
// masks): the same value and the same logits gradient, to float64 rounding, for every option
// combination; the closed forms the two are meant to compute; float64 gradchecks of both.
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "testing.h"

using namespace gg::testing;

using gg::Reduction;
using gg::Tensor;
namespace F = gg::nn::functional;
constexpr gg::DType F64 = gg::DType::Float64;

namespace {

// The composed twin: CrossEntropyOptions::fused = false.
Tensor cross_entropy_composed(const Tensor& logits, const Tensor& target, const gg::CrossEntropyOptions& options = {}) {
  gg::CrossEntropyOptions o = options;
  o.fused = false;
  return F::cross_entropy(logits, target, o);
}

struct Run {
  Tensor loss, grad;
};

// The loss and d sum(loss * R) / d logits.
template <class Loss>
Run run(Loss&& loss_fn, const Tensor& logits_in, const Tensor& target, const gg::CrossEntropyOptions& o) {
  Tensor logits = logits_in.detach().clone().requires_grad_();
  Tensor loss = loss_fn(logits, target, o);
  gg::manual_seed(99);
  Tensor r = gg::uniform(loss.shape(), 0.5, 1.5, {.dtype = F64});
  gg::sum(loss * r).backward();
  return {loss.detach(), logits.grad()};
}

void check_agree(const Tensor& logits, const Tensor& target) {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (int64_t ignore : {int64_t{-100}, int64_t{0}, int64_t{2}})
      for (double eps : {0.0, 0.1, 1.0}) {
        const std::string what = fmt::format("logits {}, reduction {}, ignore_index {}, label_smoothing {}",
                                             logits.shape(), reduction_name(r), ignore, eps);
        INFO(what);
        const gg::CrossEntropyOptions o{.ignore_index = ignore, .label_smoothing = eps, .reduction = r};
        const Run fused = run(F::cross_entropy, logits, target, o);
        const Run composed = run(cross_entropy_composed, logits, target, o);
        CHECK(fused.loss.shape() == (r == Reduction::None ? target.shape() : gg::Shape{}));
        require_close(fused.loss, composed.loss, 1e-12, "loss " + what);
        require_close(fused.grad, composed.grad, 1e-12, "grad " + what);
      }
}

}  // namespace

TEST_CASE("cross_entropy: fused and composed agree on 2-D logits [N, C]", "[autograd][loss]") {
  gg::manual_seed(401);
  const Tensor logits = gg::uniform({6, 5}, -3.0, 3.0, {.dtype = F64});
  check_agree(logits, indices({0, 2, 4, 2, 1, 0}, {6}));
}

TEST_CASE("cross_entropy: fused and composed agree on 3-D logits [B, T, V] with targets [B, T]", "[autograd][loss]") {
  gg::manual_seed(402);
  const Tensor logits = gg::uniform({2, 4, 5}, -3.0, 3.0, {.dtype = F64});
  check_agree(logits, indices({3, 0, 0, 2, 1, 4, 2, 0}, {2, 4}));
}

TEST_CASE("cross_entropy: fused and composed agree on large logits (numerically stable)", "[autograd][loss]") {
  gg::manual_seed(403);
  // Logits around +-500: exp overflows without the max shift.
  const Tensor logits = gg::uniform({3, 4}, -500.0, 500.0, {.dtype = F64});
  const Tensor target = indices({1, 0, 3}, {3});
  const Run fused = run(F::cross_entropy, logits, target, {.label_smoothing = 0.1});
  const Run composed = run(cross_entropy_composed, logits, target, {.label_smoothing = 0.1});
  REQUIRE(std::isfinite(fused.loss.item()));
  require_close(fused.loss, composed.loss, 1e-12, "loss");
  require_close(fused.grad, composed.grad, 1e-12, "grad");
}

TEST_CASE("cross_entropy: fused and composed agree when every target is ignored (mean is 0)", "[autograd][loss]") {
  const Tensor logits = gg::uniform({2, 3}, -1.0, 1.0, {.dtype = F64});
  const Tensor target = indices({-100, -100}, {2});
  for (auto fn : {F::cross_entropy, cross_entropy_composed}) {
    const Run out = run(fn, logits, target, {});
    CHECK(out.loss.item() == 0.0);
    REQUIRE(out.grad.defined());
    CHECK(all_zero(out.grad));
  }
}

TEST_CASE("cross_entropy: value is the closed form (1 - eps) nll + eps (lse - mean x)", "[autograd][loss]") {
  // One row x = [1, 2, 3], target 0: lse = log(e + e^2 + e^3).
  const Tensor logits = gg::from_vector(std::vector<double>{1, 2, 3}, {1, 3});
  const Tensor target = indices({0}, {1});
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  for (double eps : {0.0, 0.3}) {
    const double expected = (1 - eps) * (lse - 1.0) + eps * (lse - 2.0);
    CHECK(F::cross_entropy(logits, target, {.label_smoothing = eps}).item() == Approx(expected).epsilon(1e-14));
    CHECK(cross_entropy_composed(logits, target, {.label_smoothing = eps}).item() ==
          Approx(expected).epsilon(1e-14));
  }
}

TEST_CASE("cross_entropy: mean divides by the targets not ignored, none zeroes ignored positions", "[autograd][loss]") {
  gg::manual_seed(404);
  const Tensor logits = gg::uniform({4, 3}, -1.0, 1.0, {.dtype = F64});
  const Tensor target = indices({2, -1, 0, -1}, {4});
  const gg::CrossEntropyOptions none{.ignore_index = -1, .reduction = Reduction::None};
  const std::vector<double> each = F::cross_entropy(logits, target, none).to_vector<double>();
  CHECK(each[1] == 0.0);
  CHECK(each[3] == 0.0);
  CHECK(each[0] > 0.0);
  const double sum = F::cross_entropy(logits, target, {.ignore_index = -1, .reduction = Reduction::Sum}).item();
  const double mean = F::cross_entropy(logits, target, {.ignore_index = -1}).item();
  CHECK(sum == Approx(each[0] + each[2]).epsilon(1e-14));
  CHECK(mean == Approx(sum / 2).epsilon(1e-14));
}

TEST_CASE("cross_entropy: float32 fused and composed agree to float32 rounding", "[autograd][loss]") {
  gg::manual_seed(405);
  const Tensor logits = gg::uniform({2, 3, 6}, -4.0, 4.0);
  const Tensor target = indices({5, 0, 1, 2, -100, 3}, {2, 3});
  const gg::CrossEntropyOptions o{.label_smoothing = 0.1};
  Tensor a = logits.detach().clone().requires_grad_(), b = logits.detach().clone().requires_grad_();
  Tensor fa = F::cross_entropy(a, target, o), fb = cross_entropy_composed(b, target, o);
  CHECK(fa.dtype() == gg::DType::Float32);
  fa.backward();
  fb.backward();
  require_close(fa, fb, 1e-6, "loss");
  require_close(a.grad(), b.grad(), 1e-6, "grad");
}

namespace {

// Targets [B=2, T=3] over C=4 classes; class 0 doubles as padding in some cases, -100 in others.
const Tensor& targets() {
  static const Tensor t = indices({2, 0, 3, 1, 0, 0}, {2, 3});
  return t;
}

}  // namespace

TEST_CASE("gradcheck: cross_entropy (fused) with ignore_index and label_smoothing, every reduction",
          "[gradcheck][autograd][loss]") {
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
        expect_gradcheck(name, "CrossEntropyBackward", fn, {logits});
      }
}

TEST_CASE("gradcheck: cross_entropy (fused) on 2-D logits with a size-1 batch", "[gradcheck][autograd][loss]") {
  gg::manual_seed(302);
  const Tensor target = indices({2}, {1});
  expect_gradcheck("cross_entropy [1, 5]", "CrossEntropyBackward", [&](const In& in) { return F::cross_entropy(in[0], target); },
                   {leaf({1, 5}, -2.0, 2.0)});
}

TEST_CASE("gradcheck: cross_entropy_composed with ignore_index and label_smoothing, every reduction",
          "[gradcheck][autograd][loss]") {
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
        expect_gradcheck(name, "LogSoftmaxBackward", [o](const In& in) { return cross_entropy_composed(in[0], targets(), o); }, {logits});
      }
}
