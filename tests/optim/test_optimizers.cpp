// Each optimizer's update rule against a hand computation on a 2-element parameter: the
// formulas are written out here in plain doubles, from the PyTorch documentation, not from
// the implementation. Two steps each, with different gradients, so that momentum, moments,
// bias correction and lr decay all show.
#include <cmath>

#include "optim_testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace optim = gg::optim;

namespace {

using Vec = std::vector<double>;
const Vec kP0{1.0, -2.0};
const Vec kG1{0.5, -1.5};
const Vec kG2{-0.2, 0.8};

// Runs opt for two steps with gradients kG1 then kG2; checks the parameter after each.
template <class Opt>
void check_two_steps(Opt& opt, Tensor& p, const Vec& after1, const Vec& after2) {
  set_grad(p, kG1);
  opt.step();
  INFO("after step 1");
  require_values(p, after1);
  set_grad(p, kG2);
  opt.step();
  INFO("after step 2");
  require_values(p, after2);
  CHECK(opt.steps() == 2);
}

}  // namespace

TEST_CASE("SGD: p -= lr g", "[optim]") {
  Tensor p = param(kP0);
  optim::SGD opt({p}, {.lr = 0.1});
  set_grad(p, kG1);
  opt.step();
  require_values(p, {0.95, -1.85});
  set_grad(p, kG2);
  opt.step();
  require_values(p, {0.97, -1.93});
  CHECK(opt.name() == "SGD");
}

TEST_CASE("SGD with weight decay: g += wd p", "[optim]") {
  Tensor p = param(kP0);
  optim::SGD opt({p}, {.lr = 0.1, .weight_decay = 0.01});
  Vec q = kP0, q1;
  for (const Vec& g : {kG1, kG2}) {
    for (size_t i = 0; i < 2; ++i) q[i] -= 0.1 * (g[i] + 0.01 * q[i]);
    if (q1.empty()) q1 = q;
  }
  check_two_steps(opt, p, q1, q);
}

TEST_CASE("SGD with momentum and dampening: b = m b + (1 - d) g, b = g on the first step", "[optim]") {
  Tensor p = param(kP0);
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
  Vec q = kP0, b = kG1;  // step 1: b = g (no dampening on the first step)
  for (size_t i = 0; i < 2; ++i) q[i] -= 0.1 * b[i];
  const Vec q1 = q;
  for (size_t i = 0; i < 2; ++i) {
    b[i] = 0.9 * b[i] + 0.9 * kG2[i];
    q[i] -= 0.1 * b[i];
  }
  check_two_steps(opt, p, q1, q);
}

TEST_CASE("SGD with Nesterov momentum: update = g + m b", "[optim]") {
  Tensor p = param(kP0);
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  Vec q = kP0, b = kG1;
  for (size_t i = 0; i < 2; ++i) q[i] -= 0.1 * (kG1[i] + 0.9 * b[i]);
  const Vec q1 = q;
  for (size_t i = 0; i < 2; ++i) {
    b[i] = 0.9 * b[i] + kG2[i];
    q[i] -= 0.1 * (kG2[i] + 0.9 * b[i]);
  }
  check_two_steps(opt, p, q1, q);
  CHECK_THROWS_AS(optim::SGD({p}, {.lr = 0.1, .nesterov = true}), gg::Error);  // needs momentum
}

namespace {

// Adam by the book: m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), p -= lr m_hat / (sqrt(v_hat) + eps).
Vec adam_reference(double lr, double wd, bool decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Vec q = kP0, m{0, 0}, v{0, 0};
  int t = 0;
  for (const Vec& grad : {kG1, kG2}) {
    ++t;
    for (size_t i = 0; i < 2; ++i) {
      double g = grad[i];
      if (decoupled) q[i] *= 1 - lr * wd;
      else g += wd * q[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(b1, t)), v_hat = v[i] / (1 - std::pow(b2, t));
      q[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    if (t == 1) q.insert(q.end(), q.begin(), q.begin() + 2);  // keep step 1 at [2, 4)
  }
  return q;  // [step 2 values, step 1 values]
}

}  // namespace

TEST_CASE("Adam: bias-corrected moments", "[optim]") {
  const bool fused = GENERATE(true, false);
  INFO("fused " << fused);
  Tensor p = param(kP0);
  optim::Adam opt({p}, {.lr = 0.1, .fused = fused});
  const Vec ref = adam_reference(0.1, 0.0, false);
  check_two_steps(opt, p, {ref[2], ref[3]}, {ref[0], ref[1]});
  // The first Adam step moves each element by lr in the direction of -sign(g).
  CHECK(ref[2] == Approx(0.9).epsilon(1e-7));
  CHECK(ref[3] == Approx(-1.9).epsilon(1e-7));
  CHECK(opt.name() == "Adam");
}

TEST_CASE("Adam with L2 weight decay: g += wd p", "[optim]") {
  const bool fused = GENERATE(true, false);
  INFO("fused " << fused);
  Tensor p = param(kP0);
  optim::Adam opt({p}, {.lr = 0.1, .weight_decay = 0.5, .fused = fused});
  const Vec ref = adam_reference(0.1, 0.5, false);
  check_two_steps(opt, p, {ref[2], ref[3]}, {ref[0], ref[1]});
}

TEST_CASE("AdamW: decoupled weight decay p *= 1 - lr wd", "[optim]") {
  const bool fused = GENERATE(true, false);
  INFO("fused " << fused);
  Tensor p = param(kP0);
  optim::AdamW opt({p}, {.lr = 0.1, .weight_decay = 0.5, .fused = fused});
  const Vec ref = adam_reference(0.1, 0.5, true);
  check_two_steps(opt, p, {ref[2], ref[3]}, {ref[0], ref[1]});
  CHECK(opt.name() == "AdamW");
  CHECK(optim::AdamW({p}).options.weight_decay == 1e-2);  // PyTorch's default
}

TEST_CASE("Adam: the fused pass and the op-by-op update agree on float32 and float64 over many steps", "[optim]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 1e-5}}) {
    for (const bool decoupled : {false, true}) {
      INFO(gg::dtype_name(dtype) << (decoupled ? " AdamW" : " Adam"));
      std::vector<Tensor> finals;
      for (const bool fused : {true, false}) {
        gg::manual_seed(7);
        // 70,000 elements: more than one parallel chunk; and a small one.
        std::vector<Tensor> ps{gg::randn({350, 200}, {.dtype = dtype}), gg::randn({3}, {.dtype = dtype})};
        for (Tensor& p : ps) p.requires_grad_();
        optim::Adam opt(ps, {.lr = 0.01, .weight_decay = 0.1, .fused = fused}, decoupled);
        for (int step = 0; step < 5; ++step) {
          for (Tensor& p : ps) set_grad(p, gg::randn(p.shape(), {.dtype = dtype}));
          opt.step();
        }
        finals.push_back(gg::cat({ps[0].detach().flatten(), ps[1].detach()}, 0));
      }
      const auto a = finals[0].to(gg::DType::Float64).to_vector<double>(), b = finals[1].to(gg::DType::Float64).to_vector<double>();
      for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).epsilon(rtol).margin(rtol));
    }
  }
}

TEST_CASE("RMSprop: v = a v + (1 - a) g^2, p -= lr g / (sqrt(v) + eps)", "[optim]") {
  for (double momentum : {0.0, 0.5}) {
    INFO("momentum " << momentum);
    Tensor p = param(kP0);
    optim::RMSprop opt({p}, {.lr = 0.01, .alpha = 0.9, .weight_decay = 0.1, .momentum = momentum});
    Vec q = kP0, v{0, 0}, b{0, 0}, q1;
    for (const Vec& grad : {kG1, kG2}) {
      for (size_t i = 0; i < 2; ++i) {
        const double g = grad[i] + 0.1 * q[i];
        v[i] = 0.9 * v[i] + 0.1 * g * g;
        const double u = g / (std::sqrt(v[i]) + 1e-8);
        b[i] = momentum * b[i] + u;
        q[i] -= 0.01 * (momentum > 0 ? b[i] : u);
      }
      if (q1.empty()) q1 = q;
    }
    check_two_steps(opt, p, q1, q);
  }
}

TEST_CASE("Adagrad: s += g^2, p -= lr / (1 + (t - 1) decay) g / (sqrt(s) + eps)", "[optim]") {
  Tensor p = param(kP0);
  optim::Adagrad opt({p}, {.lr = 0.1, .lr_decay = 0.5, .weight_decay = 0.1});
  Vec q = kP0, s{0, 0}, q1;
  int t = 0;
  for (const Vec& grad : {kG1, kG2}) {
    ++t;
    for (size_t i = 0; i < 2; ++i) {
      const double g = grad[i] + 0.1 * q[i];
      s[i] += g * g;
      q[i] -= 0.1 / (1 + (t - 1) * 0.5) * g / (std::sqrt(s[i]) + 1e-10);
    }
    if (q1.empty()) q1 = q;
  }
  check_two_steps(opt, p, q1, q);
}

TEST_CASE("optimizers: parameter groups keep their own learning rates, set_lr sets them all", "[optim]") {
  Tensor a = param(kP0), b = param(kP0);
  optim::SGD opt(std::vector<optim::ParamGroup>{{{a}, 0.1}, {{b}, 0.01}});
  set_grad(a, kG1);
  set_grad(b, kG1);
  opt.step();
  require_values(a, {0.95, -1.85});
  require_values(b, {0.995, -1.985});
  opt.set_lr(1.0);
  CHECK(opt.param_groups()[1].lr == 1.0);
  CHECK(opt.lr() == 1.0);
}

TEST_CASE("optimizers: parameters with no gradient are skipped, and get no state", "[optim]") {
  auto check = [](const std::string& name, auto make) {
    INFO(name);
    Tensor used = param(kP0), unused = param({3.0, 4.0});
    auto opt = make(std::vector<Tensor>{used, unused});
    for (int step = 0; step < 3; ++step) {
      set_grad(used, kG1);
      opt.step();
    }
    CHECK(values(unused) == Vec{3.0, 4.0});  // not even weight decay touches it
    CHECK(values(used) != kP0);
    for (const auto& [key, _] : opt.state_dict()) CHECK(key.rfind("state.0.1.", 0) == std::string::npos);

    // zero_grad drops every gradient, so the next step changes nothing.
    opt.zero_grad();
    CHECK_FALSE(used.grad().defined());
    const Vec before = values(used);
    opt.step();
    CHECK(values(used) == before);
  };
  using P = std::vector<Tensor>;
  check("SGD", [](P p) { return optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1}); });
  check("Adam", [](P p) { return optim::Adam(p, {.lr = 0.1, .weight_decay = 0.1}); });
  check("AdamW", [](P p) { return optim::AdamW(p, {.lr = 0.1, .weight_decay = 0.1}); });
  check("RMSprop", [](P p) { return optim::RMSprop(p, {.lr = 0.1, .weight_decay = 0.1, .momentum = 0.5}); });
  check("Adagrad", [](P p) { return optim::Adagrad(p, {.lr = 0.1, .weight_decay = 0.1}); });
}

TEST_CASE("optimizers: a parameter that first gets a gradient late starts its own step count", "[optim]") {
  // As torch.optim keeps a step per parameter: b's first update is a first Adam step
  // (bias correction with t = 1), and Adagrad's lr decay for b starts at t = 1, whenever
  // that first update comes.
  Tensor a = param(kP0), b = param(kP0);
  optim::Adam adam({a, b}, {.lr = 0.1});
  for (int step = 0; step < 3; ++step) {
    set_grad(a, kG1);
    adam.step();
  }
  set_grad(a, kG1);
  set_grad(b, kG2);
  adam.step();
  // First Adam step with g = kG2: m_hat = g, v_hat = g^2, so b moves by lr * g / (|g| + eps).
  require_values(b, {1.0 + 0.1 * 0.2 / (0.2 + 1e-8), -2.0 - 0.1 * 0.8 / (0.8 + 1e-8)});

  Tensor c = param(kP0), d = param(kP0);
  optim::Adagrad adagrad({c, d}, {.lr = 0.1, .lr_decay = 0.5});
  set_grad(c, kG1);
  adagrad.step();
  set_grad(d, kG2);
  adagrad.step();
  // d's first update: s = g^2, lr not yet decayed.
  require_values(d, {1.0 + 0.1 * 0.2 / (0.2 + 1e-10), -2.0 - 0.1 * 0.8 / (0.8 + 1e-10)});
}

TEST_CASE("optimizers: a parameter must be a leaf that requires grad", "[optim]") {
  Tensor p = param(kP0);
  Tensor not_leaf = p * 2.0;
  CHECK_THAT(error_message([&] { optim::SGD({not_leaf}); }),
             Catch::Matchers::Contains("parameter 0 of group 0 must be a leaf tensor that requires grad"));
  CHECK_THROWS_AS(optim::SGD({gg::zeros({2})}), gg::Error);
  CHECK_THROWS_AS(optim::SGD(std::vector<optim::ParamGroup>{{{p}, -1.0}}), gg::Error);
}
