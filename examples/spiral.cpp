// The whole training loop on one screen: a two-layer network learns to separate three
// interleaved spirals (the cs231n toy problem), using only tensors and autograd.
//
//   build/bin/spiral [--steps N] [--lr X] [--hidden H] [--seed S]
//
// Every line below is an op you can print, step through, and gradcheck.
#include <fmt/core.h>

#include <cmath>
#include <cstring>
#include <string>

#include "glassgrad.h"

namespace {

struct Options {
  int steps = 1500;
  double lr = 0.5;
  int64_t hidden = 64;
  uint64_t seed = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw gg::Error(fmt::format("spiral: {} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--steps") o.steps = std::stoi(value());
    else if (arg == "--lr") o.lr = std::stod(value());
    else if (arg == "--hidden") o.hidden = std::stoll(value());
    else if (arg == "--seed") o.seed = std::stoull(value());
    else if (arg == "--help" || arg == "-h") {
      fmt::print("usage: spiral [--steps N] [--lr X] [--hidden H] [--seed S]\n");
      std::exit(0);
    } else {
      throw gg::Error(fmt::format("spiral: unknown option '{}'; try --help", arg));
    }
  }
  return o;
}

// K spirals of N points each in the plane: x [K*N, 2] float32, y [K*N] int64 class ids.
std::pair<gg::Tensor, gg::Tensor> make_spirals(int64_t N, int64_t K) {
  std::vector<float> x;
  std::vector<int64_t> y;
  gg::Tensor noise = gg::randn({K * N}) * 0.2;
  std::vector<float> eps = noise.to_vector<float>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < N; ++i) {
      double r = static_cast<double>(i) / static_cast<double>(N);
      double t = 4.0 * static_cast<double>(k) + 4.0 * r + eps[k * N + i];
      x.push_back(static_cast<float>(r * std::sin(t)));
      x.push_back(static_cast<float>(r * std::cos(t)));
      y.push_back(k);
    }
  return {gg::from_vector(x, {K * N, 2}), gg::from_vector(y)};
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  gg::manual_seed(opt.seed);
  const int64_t classes = 3;
  auto [x, y] = make_spirals(100, classes);  // x [300, 2], y [300]

  // Parameters: normal weights with variance 2 / fan_in before the ReLU (He et al., 2015) and
  // 1 / fan_in for the output layer, so that activations keep their scale; zero biases.
  auto w1 = (gg::randn({2, opt.hidden}) * std::sqrt(2.0 / 2)).requires_grad_();
  auto b1 = gg::zeros({opt.hidden}, {.requires_grad = true});
  auto w2 = (gg::randn({opt.hidden, classes}) * std::sqrt(1.0 / static_cast<double>(opt.hidden))).requires_grad_();
  auto b2 = gg::zeros({classes}, {.requires_grad = true});
  std::vector<gg::Tensor> params{w1, b1, w2, b2};

  fmt::print("training a 2-{}-{} network on {} spiral points, plain gradient descent, lr {}\n", opt.hidden, classes,
             x.size(0), opt.lr);
  for (int step = 0; step <= opt.steps; ++step) {
    auto h = gg::relu(gg::matmul(x, w1) + b1);                           // [N, H]
    auto logits = gg::matmul(h, w2) + b2;                                // [N, C]
    auto logp = gg::log_softmax(logits, 1);                              // [N, C]
    auto loss = -gg::mean(gg::gather(logp, 1, y.unsqueeze(1)));          // cross-entropy
    loss.backward();
    {
      gg::NoGradGuard no_grad;  // the update itself is not part of the graph
      for (auto& p : params) {
        p.add_(p.grad(), -opt.lr);
        p.zero_grad();
      }
    }
    if (step % (opt.steps / 10) == 0) {
      double accuracy = gg::mean(gg::eq(gg::argmax(logits, 1), y).to(gg::DType::Float32)).item();
      fmt::print("step {:5d}  loss {:.4f}  accuracy {:5.1f}%\n", step, loss.item(), 100 * accuracy);
    }
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
