// Optimizer checkpoints: save the model and the optimizer mid-training, load both into fresh
// objects, and the resumed run is bit-for-bit the run that never stopped.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "optim_testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;
namespace nn = gg::nn;
namespace optim = gg::optim;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

std::shared_ptr<nn::Sequential> make_model(uint64_t seed) {
  gg::manual_seed(seed);
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Linear>(3, 8));
  m->push_back(std::make_shared<nn::Tanh>());
  m->push_back(std::make_shared<nn::Linear>(8, 2));
  return m;
}

struct Data {
  Tensor x, y;
};

Data make_data() {
  gg::manual_seed(7);
  return {gg::randn({16, 3}), gg::randn({16, 2})};
}

// `steps` updates on mse; returns the losses.
std::vector<double> train(nn::Module& model, optim::Optimizer& opt, const Data& d, int steps) {
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor loss = nn::functional::mse_loss(model.forward(d.x), d.y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

nn::StateDict snapshot(const nn::StateDict& state) {
  nn::StateDict out;
  for (const auto& [n, t] : state) out.emplace_back(n, t.clone());
  return out;
}

void require_equal_states(const nn::StateDict& a, const nn::StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    REQUIRE(a[i].second.to_vector<double>() == b[i].second.to_vector<double>());
  }
}

void check_resume(const std::string& name, const MakeOptimizer& make) {
  INFO(name);
  const Data data = make_data();
  auto model = make_model(1);
  auto opt = make(model->parameters());
  train(*model, *opt, data, 10);
  const nn::StateDict saved_model = snapshot(model->state_dict());
  const nn::StateDict saved_opt = opt->state_dict();
  const std::vector<double> losses_a = train(*model, *opt, data, 5);

  // Fresh objects, differently initialized, with a different lr: all of it is restored.
  auto resumed = make_model(2);
  auto opt2 = make(resumed->parameters());
  opt2->set_lr(123.0);
  resumed->load_state_dict(saved_model);
  opt2->load_state_dict(saved_opt);
  CHECK(opt2->steps() == 10);
  CHECK(opt2->lr() == opt->lr());
  const std::vector<double> losses_b = train(*resumed, *opt2, data, 5);
  CHECK(losses_a == losses_b);
  require_equal_states(model->state_dict(), resumed->state_dict());
  require_equal_states(opt->state_dict(), opt2->state_dict());

  // Without the optimizer state the run differs (so the check above can fail).
  auto forgetful = make_model(2);
  forgetful->load_state_dict(saved_model);
  auto opt3 = make(forgetful->parameters());
  if (name != "SGD") CHECK(train(*forgetful, *opt3, data, 5) != losses_a);
}

template <class O, class Options>
MakeOptimizer maker(Options options) {
  return [options](std::vector<Tensor> params) { return std::make_unique<O>(std::move(params), options); };
}

}  // namespace

TEST_CASE("optimizers: state_dict and load_state_dict resume training exactly", "[optim]") {
  check_resume("SGD", maker<optim::SGD>(optim::SGDOptions{.lr = 0.05}));
  check_resume("SGD momentum", maker<optim::SGD>(optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true}));
  check_resume("Adam", maker<optim::Adam>(optim::AdamOptions{.lr = 0.01, .weight_decay = 0.01}));
  check_resume("AdamW", maker<optim::AdamW>(optim::AdamOptions{.lr = 0.01, .weight_decay = 0.01}));
  check_resume("RMSprop", maker<optim::RMSprop>(optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5}));
  check_resume("Adagrad", maker<optim::Adagrad>(optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.1}));
}

TEST_CASE("optimizers: state_dict names its entries and holds copies", "[optim]") {
  Tensor p = param({1.0, 2.0});
  optim::Adam opt({p}, {.lr = 0.1});
  set_grad(p, {0.5, 0.5});
  opt.step();
  const nn::StateDict state = opt.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, _] : state) keys.push_back(k);
  CHECK(keys[0] == "group.0.lr");
  CHECK(keys[1] == "step");
  CHECK(std::find(keys.begin(), keys.end(), "state.0.0.exp_avg") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "state.0.0.exp_avg_sq") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "state.0.0.step") != keys.end());  // the update count, per parameter
  CHECK(state[0].second.item() == 0.1);
  CHECK(state[1].second.item<int64_t>() == 1);
  // A copy: stepping on does not change what was saved.
  const std::vector<double> m = state[2].second.to_vector<double>();
  opt.step();
  CHECK(state[2].second.to_vector<double>() == m);
}

TEST_CASE("optimizers: load_state_dict rejects a wrongly shaped buffer and changes nothing", "[optim]") {
  Tensor p = param({1.0, 2.0});
  optim::Adam opt({p}, {.lr = 0.1});
  set_grad(p, {0.5, -0.5});
  opt.step();
  const nn::StateDict before = opt.state_dict();

  nn::StateDict bad = opt.state_dict();
  for (auto& [k, t] : bad)
    if (k == "state.0.0.exp_avg") t = gg::zeros({3}, {.dtype = gg::DType::Float64});
  bad[0].second = gg::scalar_tensor(0.5, {.dtype = gg::DType::Float64});  // would change the lr
  const std::string msg = error_message([&] { opt.load_state_dict(bad); });
  CHECK_THAT(msg, Contains("'state.0.0.exp_avg'"));
  CHECK_THAT(msg, Contains("[3]"));
  CHECK_THAT(msg, Contains("[2]"));
  require_equal_states(opt.state_dict(), before);
  CHECK(opt.lr() == 0.1);

  nn::StateDict extra = opt.state_dict();
  extra.emplace_back("state.0.5.exp_avg", gg::zeros({2}));
  CHECK_THAT(error_message([&] { opt.load_state_dict(extra); }), Contains("'state.0.5.exp_avg'"));
  nn::StateDict unknown = opt.state_dict();
  unknown.emplace_back("momentum", gg::zeros({2}));
  CHECK_THAT(error_message([&] { opt.load_state_dict(unknown); }), Contains("unexpected key 'momentum'"));
  nn::StateDict bad_count = opt.state_dict();
  for (auto& [k, t] : bad_count)
    if (k == "state.0.0.step") t = gg::zeros({2});
  CHECK_THAT(error_message([&] { opt.load_state_dict(bad_count); }),
             Contains("'state.0.0.step' must hold one count"));
  nn::StateDict no_count = opt.state_dict();
  std::erase_if(no_count, [](const auto& entry) { return entry.first == "state.0.0.step"; });
  CHECK_THAT(error_message([&] { opt.load_state_dict(no_count); }),
             Contains("'state.0.0.exp_avg' comes without its update count 'state.0.0.step'"));
  nn::StateDict no_step = opt.state_dict();
  no_step.erase(no_step.begin() + 1);
  CHECK_THAT(error_message([&] { opt.load_state_dict(no_step); }), Contains("no 'step' entry"));
  nn::StateDict no_lr = opt.state_dict();
  no_lr.erase(no_lr.begin());
  CHECK_THAT(error_message([&] { opt.load_state_dict(no_lr); }), Contains("no 'group.0.lr' entry"));
  require_equal_states(opt.state_dict(), before);
}

TEST_CASE("optimizers: a float64 checkpoint loads into a float32 optimizer", "[optim]") {
  Tensor p = gg::from_vector(std::vector<float>{1.0f, 2.0f}, {2}, {.dtype = gg::DType::Float32, .requires_grad = true});
  optim::Adam opt({p});
  nn::StateDict state{{"group.0.lr", gg::scalar_tensor(0.01, {.dtype = gg::DType::Float64})},
                      {"step", gg::scalar_tensor(4, {.dtype = gg::DType::Int64})},
                      {"state.0.0.step", gg::scalar_tensor(4, {.dtype = gg::DType::Int64})},
                      {"state.0.0.exp_avg", gg::ones({2}, {.dtype = gg::DType::Float64})},
                      {"state.0.0.exp_avg_sq", gg::ones({2}, {.dtype = gg::DType::Float64})}};
  opt.load_state_dict(state);
  for (const auto& [k, t] : opt.state_dict())
    if (k.rfind("state.", 0) == 0 && t.numel() == 2) {
      CHECK(t.dtype() == gg::DType::Float32);
      CHECK(values(t) == std::vector<double>{1.0, 1.0});
    }
  CHECK(opt.steps() == 4);
  // Step 5 with gradient 1 from m = v = 1: m and v stay 1, so p -= lr * (1 / (1 - 0.9^5)) / (sqrt(1 / (1 - 0.999^5)) + eps).
  set_grad(p, gg::from_vector(std::vector<float>{1.0f, 1.0f}, {2}));
  opt.step();
  const double m_hat = 1 / (1 - std::pow(0.9, 5)), v_hat = 1 / (1 - std::pow(0.999, 5));
  const double update = 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8);
  require_values(p, {1.0 - update, 2.0 - update}, 1e-6);
}
