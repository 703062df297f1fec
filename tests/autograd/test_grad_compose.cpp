// Gradchecks of compositions: the graphs real models build, where one tensor feeds several
// ops, views feed kernels and gradients from many paths meet in the engine.
#include <cmath>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

TEST_CASE("gradcheck: tiny MLP (matmul, add, tanh, log_softmax, gather) with cross-entropy", "[gradcheck][autograd]") {
  gg::manual_seed(601);
  // x [B=4, 3] -> tanh(x W1 + b1) [4, 5] -> logits [4, V=3] -> mean negative log-likelihood
  const Tensor targets = indices({2, 0, 1, 2}, {4, 1});
  auto mlp = [targets](const In& in) {
    const Tensor& x = in[0];
    Tensor h = gg::tanh(gg::matmul(x, in[1]) + in[2]);
    Tensor logp = gg::log_softmax(gg::matmul(h, in[3]) + in[4], -1);
    return -gg::mean(gg::gather(logp, 1, targets));
  };
  expect_gradcheck("mlp", "LogSoftmaxBackward", mlp,
                   {leaf({4, 3}), leaf({3, 5}), leaf({5}), leaf({5, 3}), leaf({3})});
}

TEST_CASE("gradcheck: tanh RNN cell unrolled for 5 steps", "[gradcheck][autograd]") {
  gg::manual_seed(602);
  // xs [T=5, B=2, E=3], h0 [B, H=4]; h_t = tanh(x_t Wx + h_{t-1} Wh + b); output stack(h_1..h_T)
  auto rnn = [](const In& in) {
    Tensor h = in[1];
    std::vector<Tensor> hs;
    for (int64_t t = 0; t < 5; ++t) {
      h = gg::tanh(gg::matmul(in[0].select(0, t), in[2]) + gg::matmul(h, in[3]) + in[4]);
      hs.push_back(h);
    }
    return gg::stack(hs, 0);
  };
  expect_gradcheck("rnn", "TanhBackward", rnn,
                   {leaf({5, 2, 3}), leaf({2, 4}), leaf({3, 4}), leaf({4, 4}, -0.5, 0.5), leaf({4})});
}

TEST_CASE("gradcheck: scaled dot-product attention softmax(q k^T / sqrt(d)) v with a mask", "[gradcheck][autograd]") {
  gg::manual_seed(603);
  // q [B=2, T=3, D=4], k and v [B, S=5, D]; mask [T, S], true = not allowed
  const Tensor mask = gg::from_vector(std::vector<int64_t>{0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, {3, 5})
                          .to(gg::DType::Bool);
  auto attention = [mask](const In& in) {
    Tensor scores = gg::matmul(in[0], in[1].transpose(-1, -2)) / std::sqrt(4.0);
    Tensor weights = gg::softmax(gg::masked_fill(scores, mask, -1e9), -1);
    return gg::matmul(weights, in[2]);
  };
  expect_gradcheck("attention", "SoftmaxBackward", attention, {leaf({2, 3, 4}), leaf({2, 5, 4}), leaf({2, 5, 4})});
}

TEST_CASE("gradcheck: layer norm (x - mean) / sqrt(var + eps) * g + b over the last dim", "[gradcheck][autograd]") {
  gg::manual_seed(604);
  auto layer_norm = [](const In& in) {
    const Tensor& x = in[0];
    Tensor centered = x - gg::mean(x, {-1}, true);
    Tensor normalized = centered / gg::sqrt(gg::var(x, {-1}, 0, true) + 1e-5);
    return normalized * in[1] + in[2];
  };
  expect_gradcheck("layer_norm", "VarBackward", layer_norm, {leaf({2, 3, 6}), leaf({6}), leaf({6})});
}

TEST_CASE("gradcheck: gated unit sigmoid(a) * b from chunk, with a residual", "[gradcheck][autograd]") {
  gg::manual_seed(605);
  // x [4, 6] @ W [6, 6] -> chunk into a, b [4, 3] -> sigmoid(a) * b + x[:, :3]
  auto gated = [](const In& in) {
    std::vector<Tensor> ab = gg::chunk(gg::matmul(in[0], in[1]), 2, 1);
    return gg::sigmoid(ab[0]) * ab[1] + in[0].narrow(1, 0, 3);
  };
  expect_gradcheck("gated", "SigmoidBackward", gated, {leaf({4, 6}), leaf({6, 6})});
}
