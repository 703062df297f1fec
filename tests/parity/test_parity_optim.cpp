// 20-step trajectories of each optimizer on the same least-squares problem as torch.optim.
#include <functional>
#include <memory>

#include "parity/fixture.h"

using parity::Fixture;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<gg::optim::Optimizer>(std::vector<gg::Tensor>)>;

void check_trajectory(const std::string& name, const MakeOptimizer& make) {
  Fixture f("optimizers");
  for (gg::DType dtype : {gg::DType::Float32, gg::DType::Float64}) {
    INFO(name << " in " << gg::dtype_name(dtype));
    gg::Tensor x = f.tensor("x", dtype), y = f.tensor("y", dtype);
    gg::Tensor w = f.tensor("w0", dtype).requires_grad_();
    auto optimizer = make({w});
    gg::Tensor expected = f.tensor("trajectory." + name);
    for (int64_t step = 0; step < 20; ++step) {
      optimizer->zero_grad();
      gg::Tensor d = gg::matmul(x, w.t()) - y;
      gg::mean(d * d).backward();
      optimizer->step();
      INFO("after step " << step + 1);
      // float32 drifts a little more over 20 steps than one op; still 1e-5 of scale.
      parity::require_close(w, expected.select(0, step), parity::rtol_for(dtype), "w");
    }
  }
}

template <class O, class Options>
MakeOptimizer make(Options options) {
  return [options](std::vector<gg::Tensor> params) { return std::make_unique<O>(std::move(params), options); };
}

}  // namespace

TEST_CASE("parity: SGD trajectory", "[parity][optim]") {
  check_trajectory("sgd", make<gg::optim::SGD>(gg::optim::SGDOptions{.lr = 0.01}));
}
TEST_CASE("parity: SGD with momentum and weight decay trajectory", "[parity][optim]") {
  check_trajectory("sgd_momentum",
                   make<gg::optim::SGD>(gg::optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01}));
}
TEST_CASE("parity: SGD with Nesterov momentum trajectory", "[parity][optim]") {
  check_trajectory("sgd_nesterov",
                   make<gg::optim::SGD>(gg::optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .nesterov = true}));
}
TEST_CASE("parity: Adam trajectory", "[parity][optim]") {
  check_trajectory("adam", make<gg::optim::Adam>(gg::optim::AdamOptions{.lr = 0.01}));
}
TEST_CASE("parity: Adam with L2 weight decay trajectory", "[parity][optim]") {
  check_trajectory("adam_l2", make<gg::optim::Adam>(gg::optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1}));
}
TEST_CASE("parity: AdamW trajectory", "[parity][optim]") {
  check_trajectory("adamw", make<gg::optim::AdamW>(gg::optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1}));
}
TEST_CASE("parity: RMSprop trajectory", "[parity][optim]") {
  check_trajectory("rmsprop", make<gg::optim::RMSprop>(gg::optim::RMSpropOptions{.lr = 0.01}));
}
TEST_CASE("parity: RMSprop with momentum trajectory", "[parity][optim]") {
  check_trajectory("rmsprop_momentum",
                   make<gg::optim::RMSprop>(gg::optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5}));
}
TEST_CASE("parity: Adagrad trajectory", "[parity][optim]") {
  check_trajectory("adagrad", make<gg::optim::Adagrad>(gg::optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.01}));
}
