// The LSTM modules with `fused` on and off (autograd/fused_rnn.h against nn::rnn_step): the
// same module must give the same outputs, final states and gradients for the input, the
// initial state and every parameter, and record the graph each form promises.
#include <string>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace nn = gg::nn;

namespace {

struct Run {
  nn::RNNOutput out;
  Tensor x_grad, h0_grad, c0_grad;
  std::vector<std::pair<std::string, Tensor>> param_grads;
};

// Builds the layer from `seed` (so both twins start from the same weights), runs a padded
// batch with an initial state and backpropagates a fixed random projection of everything.
Run run_layer(bool fused, gg::DType dtype, uint64_t seed) {
  constexpr int64_t T = 6, B = 3, I = 5, H = 4, L = 2, D = 2;
  gg::manual_seed(seed);
  nn::LSTM m(I, H, {.num_layers = L, .bidirectional = true, .batch_first = true, .dtype = dtype, .fused = fused});
  const gg::TensorOptions leaf{.dtype = dtype, .requires_grad = true};
  Tensor x = gg::uniform({B, T, I}, -1, 1, leaf), h0 = gg::uniform({L * D, B, H}, -1, 1, leaf),
         c0 = gg::uniform({L * D, B, H}, -1, 1, leaf);
  const Tensor lengths = gg::from_vector<int64_t>({6, 2, 5});
  const Tensor r_out = gg::randn({B, T, D * H}, {.dtype = dtype}), r_h = gg::randn({L * D, B, H}, {.dtype = dtype}),
               r_c = gg::randn({L * D, B, H}, {.dtype = dtype});
  Run run;
  run.out = m.forward(x, lengths, {h0, c0});
  (gg::sum(run.out.output * r_out) + gg::sum(run.out.state.h * r_h) + gg::sum(run.out.state.c * r_c)).backward();
  run.x_grad = x.grad();
  run.h0_grad = h0.grad();
  run.c0_grad = c0.grad();
  for (const auto& [name, p] : m.named_parameters()) run.param_grads.emplace_back(name, p.grad());
  return run;
}

void check_layer_twins(gg::DType dtype, double rtol) {
  const Run fused = run_layer(true, dtype, 71), composed = run_layer(false, dtype, 71);
  require_close(fused.out.output, composed.out.output, rtol, "output");
  require_close(fused.out.state.h, composed.out.state.h, rtol, "final h");
  require_close(fused.out.state.c, composed.out.state.c, rtol, "final c");
  require_close(fused.x_grad, composed.x_grad, rtol, "input gradient");
  require_close(fused.h0_grad, composed.h0_grad, rtol, "h0 gradient");
  require_close(fused.c0_grad, composed.c0_grad, rtol, "c0 gradient");
  REQUIRE(fused.param_grads.size() == 16);
  for (size_t i = 0; i < fused.param_grads.size(); ++i)
    require_close(fused.param_grads[i].second, composed.param_grads[i].second, rtol,
                           fused.param_grads[i].first + " gradient");
}

// One cell step from a given state, fused or composed; returns (h', c') and the gradients.
std::vector<Tensor> run_cell(bool fused, gg::DType dtype) {
  gg::manual_seed(72);
  nn::LSTMCell cell(5, 4, {.dtype = dtype, .fused = fused});
  const gg::TensorOptions leaf{.dtype = dtype, .requires_grad = true};
  Tensor x = gg::uniform({3, 5}, -1, 1, leaf), h = gg::uniform({3, 4}, -1, 1, leaf), c = gg::uniform({3, 4}, -1, 1, leaf);
  nn::RNNState s = cell.forward(x, {h, c});
  nn::RNNState s2 = cell.forward(x * 0.5, s);  // two steps: the second reads the first's (view) outputs
  (gg::sum(s2.h * gg::randn({3, 4}, {.dtype = dtype})) + gg::sum(s2.c * gg::randn({3, 4}, {.dtype = dtype}))).backward();
  return {s2.h, s2.c, x.grad(), h.grad(), c.grad(), cell.weight_ih.grad(), cell.weight_hh.grad(), cell.bias_ih.grad(),
          cell.bias_hh.grad()};
}

}  // namespace

TEST_CASE("fused LSTM layer agrees with the composed ops (2 layers, bidirectional, lengths, initial state)", "[nn][rnn]") {
  SECTION("float64") { check_layer_twins(gg::DType::Float64, 1e-12); }
  SECTION("float32") { check_layer_twins(gg::DType::Float32, 2e-5); }
  SECTION("float32 under bf16 autocast, on two threads") {
    // Both twins round the same inputs (x, W, each step's h) to bfloat16; the fused op runs the
    // backward direction on the second thread, which must multiply in bfloat16 too, and reads
    // h afresh at every step although it rewrites it in place.
    struct TwoThreads {
      int before = gg::num_threads();
      TwoThreads() { gg::set_num_threads(2); }
      ~TwoThreads() { gg::set_num_threads(before); }
    } threads;
    gg::autocast bf16;
    check_layer_twins(gg::DType::Float32, 1e-4);
  }
}

TEST_CASE("fused LSTM cell agrees with the composed ops over two steps", "[nn][rnn]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-5}}) {
    const std::vector<Tensor> fused = run_cell(true, dtype), composed = run_cell(false, dtype);
    const char* names[] = {"h", "c", "x grad", "h grad", "c grad", "weight_ih grad", "weight_hh grad", "bias_ih grad",
                           "bias_hh grad"};
    for (size_t i = 0; i < fused.size(); ++i)
      require_close(fused[i], composed[i], rtol, std::string(names[i]) + " (" + std::string(gg::dtype_name(dtype)) + ")");
  }
}

TEST_CASE("the fused LSTM records one node per layer and direction, the composed one a node per op", "[nn][rnn]") {
  nn::LSTM fused(3, 2, {.bidirectional = true}), composed(3, 2, {.bidirectional = true, .fused = false});
  const Tensor x = gg::uniform({4, 1, 3}, -1, 1, {.requires_grad = true});
  const std::string g_fused = gg::graph_string(fused.forward(x).output), g_composed = gg::graph_string(composed.forward(x).output);
  CHECK(g_fused.find("LSTMLayerBackward") != std::string::npos);
  CHECK(g_fused.find("SigmoidBackward") == std::string::npos);
  CHECK(g_composed.find("SigmoidBackward") != std::string::npos);
  CHECK(g_composed.find("LSTMLayerBackward") == std::string::npos);
}

