// Learning-rate schedules give the documented sequences: the lr before any step() is the
// base (or the schedule's value at 0), and after k calls to step() it is the formula at k.
#include <cmath>
#include <numbers>

#include "optim_testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace optim = gg::optim;

namespace {

// An SGD optimizer over one parameter with the given base lr.
struct Fixture {
  Tensor p = param({1.0});
  optim::SGD opt;
  explicit Fixture(double lr) : opt({p}, {.lr = lr}) {}
};

// The lr after each of `steps` calls to step().
template <class Scheduler>
std::vector<double> run(Scheduler& s, int steps) {
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    s.step();
    out.push_back(s.lr());
  }
  return out;
}

void require_sequence(const std::vector<double>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("after step " << i + 1);
    REQUIRE(actual[i] == Approx(expected[i]).epsilon(1e-14).margin(1e-300));
  }
}

}  // namespace

TEST_CASE("StepLR: base * gamma^floor(epoch / step_size)", "[optim][schedule]") {
  Fixture f(1.0);
  optim::StepLR s(f.opt, 3, 0.5);
  CHECK(s.lr() == 1.0);
  require_sequence(run(s, 7), {1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25});
  CHECK(s.epoch() == 7);
  CHECK(f.opt.param_groups()[0].lr == 0.25);  // the optimizer's lr itself
  CHECK_THROWS_AS(optim::StepLR(f.opt, 0), gg::Error);
}

TEST_CASE("ExponentialLR: base * gamma^epoch", "[optim][schedule]") {
  Fixture f(2.0);
  optim::ExponentialLR s(f.opt, 0.9);
  require_sequence(run(s, 4), {1.8, 1.62, 1.458, 1.3122});
}

TEST_CASE("CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2, rising again past T as torch's",
          "[optim][schedule]") {
  Fixture f(1.0);
  optim::CosineAnnealingLR s(f.opt, 4, 0.2);
  const double at1 = 0.2 + 0.8 * (1 + std::cos(std::numbers::pi / 4)) / 2;
  const double at3 = 0.2 + 0.8 * (1 + std::cos(3 * std::numbers::pi / 4)) / 2;
  require_sequence(run(s, 6), {at1, 0.6, at3, 0.2, at3, 0.6});
  CHECK_THROWS_AS(optim::CosineAnnealingLR(f.opt, 0), gg::Error);
}

TEST_CASE("WarmupInverseSqrtLR: linear warmup to the base at warmup, then 1/sqrt(step)", "[optim][schedule]") {
  Fixture f(1.0);
  optim::WarmupInverseSqrtLR s(f.opt, 4);
  CHECK(s.lr() == 0.25);  // step 0 counts as step 1: the first update does not run at lr 0
  const std::vector<double> lrs = run(s, 16);
  require_sequence(lrs, {0.25, 0.5, 0.75, 1.0, std::sqrt(4.0 / 5), std::sqrt(4.0 / 6), std::sqrt(4.0 / 7),
                         std::sqrt(4.0 / 8), std::sqrt(4.0 / 9), std::sqrt(4.0 / 10), std::sqrt(4.0 / 11),
                         std::sqrt(4.0 / 12), std::sqrt(4.0 / 13), std::sqrt(4.0 / 14), std::sqrt(4.0 / 15), 0.5});
  CHECK(*std::max_element(lrs.begin(), lrs.end()) == 1.0);  // the peak is the base lr, at step = warmup
  CHECK_THROWS_AS(optim::WarmupInverseSqrtLR(f.opt, 0), gg::Error);
}

TEST_CASE("ReduceLROnPlateau: patience, factor, threshold and min_lr", "[optim][schedule]") {
  Fixture f(1.0);
  optim::ReduceLROnPlateau s(f.opt, {.factor = 0.5, .patience = 2, .threshold = 0.01, .min_lr = 0.2});
  struct Epoch {
    double metric;
    bool lowered;
    double lr;
  };
  const std::vector<Epoch> epochs{
      {10.0, false, 1.0},   // first metric: the best so far
      {9.0, false, 1.0},    // improved
      {8.95, false, 1.0},   // less than 1% better: bad epoch 1
      {9.5, false, 1.0},    // bad epoch 2
      {9.0, true, 0.5},     // bad epoch 3 > patience: halve, and start counting again
      {9.0, false, 0.5},    // bad 1
      {8.0, false, 0.5},    // improved: the count restarts
      {8.0, false, 0.5},    // bad 1
      {8.0, false, 0.5},    // bad 2
      {8.0, true, 0.25},    // bad 3: halve
      {8.0, false, 0.25},   //
      {8.0, false, 0.25},   //
      {8.0, true, 0.2},     // halving would give 0.125: clamped to min_lr
      {8.0, false, 0.2},    //
      {8.0, false, 0.2},    //
      {8.0, false, 0.2},    // at min_lr already: not lowered
  };
  for (size_t i = 0; i < epochs.size(); ++i) {
    INFO("epoch " << i << ", metric " << epochs[i].metric);
    CHECK(s.step(epochs[i].metric) == epochs[i].lowered);
    CHECK(f.opt.lr() == Approx(epochs[i].lr).epsilon(1e-15));
  }
  CHECK(s.best() == 8.0);
  CHECK_THROWS_AS(optim::ReduceLROnPlateau(f.opt, {.factor = 1.0}), gg::Error);
}

TEST_CASE("schedules drive the optimizer: the lr set by step() is the one the next update uses", "[optim][schedule]") {
  Fixture f(1.0);
  optim::StepLR s(f.opt, 1, 0.1);
  set_grad(f.p, {1.0});
  f.opt.step();  // lr 1
  s.step();
  f.opt.step();  // lr 0.1
  CHECK(values(f.p)[0] == Approx(1.0 - 1.0 - 0.1).epsilon(1e-15));
}

TEST_CASE("schedules: each parameter group follows the schedule from its own base lr", "[optim][schedule]") {
  gg::Tensor a = gg::zeros({1}, {.requires_grad = true}), b = gg::zeros({1}, {.requires_grad = true});
  optim::SGD opt(std::vector<optim::ParamGroup>{{{a}, 1.0}, {{b}, 0.1}});
  optim::StepLR s(opt, 1, 0.5);
  s.step();
  CHECK(opt.param_groups()[0].lr == 0.5);
  CHECK(opt.param_groups()[1].lr == Approx(0.05));
}

TEST_CASE("schedules: state_dict resumes the schedule where it was", "[optim][schedule]") {
  gg::Tensor a = gg::zeros({1}, {.requires_grad = true});
  optim::SGD opt({a}, {.lr = 1.0});
  optim::ExponentialLR s(opt, 0.5);
  s.step();
  s.step();
  auto state = s.state_dict();
  gg::Tensor b = gg::zeros({1}, {.requires_grad = true});
  optim::SGD opt2({b}, {.lr = 123.0});  // whatever lr it starts with
  optim::ExponentialLR s2(opt2, 0.5);
  s2.load_state_dict(state);
  CHECK(opt2.lr() == 0.25);
  s2.step();
  CHECK(opt2.lr() == 0.125);
  CHECK_THROWS_WITH(s2.load_state_dict({{"epoch", gg::scalar_tensor(1, {.dtype = gg::DType::Int64})}}),
                    Catch::Contains("base_lr.0"));
}
