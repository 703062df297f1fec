// A padded batch with lengths gives every sequence exactly what it gives alone: the same
// outputs at its real steps, zeros at its padded steps, the same final h (and c), and the
// same input gradient. RNN, GRU and LSTM; 2 layers, bidirectional, time-major and batch_first.
#include <string>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace nn = gg::nn;
constexpr gg::DType F64 = gg::DType::Float64;

namespace {

constexpr int64_t kT = 5, kI = 3, kH = 4;
const std::vector<int64_t> kLengths{5, 2, 4};

// Sequence b of a [T, B, ...] or [B, T, ...] tensor, its first `len` steps, kept as a batch of one.
Tensor sequence(const Tensor& t, bool batch_first, int64_t b, int64_t len) {
  return batch_first ? t.narrow(0, b, 1).narrow(1, 0, len) : t.narrow(1, b, 1).narrow(0, 0, len);
}

template <class Layer>
void check_padding(const std::string& name, bool batch_first) {
  INFO(name << (batch_first ? ", batch_first" : ", time-major"));
  const int64_t B = static_cast<int64_t>(kLengths.size());
  Layer m(kI, kH, {.num_layers = 2, .bidirectional = true, .batch_first = batch_first, .dtype = F64});
  const bool lstm = m.mode == nn::RNNMode::LSTM;

  // Padded steps hold garbage, not zeros: they must not matter.
  Tensor x = gg::uniform(batch_first ? gg::Shape{B, kT, kI} : gg::Shape{kT, B, kI}, -1.0, 1.0,
                         {.dtype = F64, .requires_grad = true});
  const gg::Shape out_shape = batch_first ? gg::Shape{B, kT, 2 * kH} : gg::Shape{kT, B, 2 * kH};
  const Tensor r_out = gg::randn(out_shape, {.dtype = F64});
  const Tensor r_h = gg::randn({4, B, kH}, {.dtype = F64});
  const Tensor r_c = gg::randn({4, B, kH}, {.dtype = F64});

  nn::RNNOutput batched = m.forward(x, gg::from_vector(kLengths));
  REQUIRE(batched.output.shape() == out_shape);
  REQUIRE(batched.state.h.shape() == gg::Shape{4, B, kH});
  Tensor loss = gg::sum(batched.output * r_out) + gg::sum(batched.state.h * r_h);
  if (lstm) loss = loss + gg::sum(batched.state.c * r_c);
  loss.backward();

  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = kLengths[static_cast<size_t>(b)];
    INFO("sequence " << b << " of length " << len);
    Tensor xb = sequence(x, batch_first, b, len).detach().clone().requires_grad_();
    nn::RNNOutput alone = m.forward(xb);  // batch of one, no lengths, no padding

    require_close(sequence(batched.output, batch_first, b, len), alone.output, 1e-12, "real-step output");
    if (len < kT) {
      const Tensor padded = batch_first ? batched.output.narrow(0, b, 1).narrow(1, len, kT - len)
                                        : batched.output.narrow(1, b, 1).narrow(0, len, kT - len);
      CHECK(all_zero(padded));
    }
    require_close(batched.state.h.narrow(1, b, 1), alone.state.h, 1e-12, "final h");
    if (lstm) require_close(batched.state.c.narrow(1, b, 1), alone.state.c, 1e-12, "final c");

    Tensor loss_b = gg::sum(alone.output * sequence(r_out, batch_first, b, len)) +
                    gg::sum(alone.state.h * r_h.narrow(1, b, 1));
    if (lstm) loss_b = loss_b + gg::sum(alone.state.c * r_c.narrow(1, b, 1));
    loss_b.backward();
    require_close(sequence(x.grad(), batch_first, b, len), xb.grad(), 1e-12, "input gradient");
    if (len < kT) {
      const Tensor padded_grad = batch_first ? x.grad().narrow(0, b, 1).narrow(1, len, kT - len)
                                             : x.grad().narrow(1, b, 1).narrow(0, len, kT - len);
      CHECK(all_zero(padded_grad));  // padded input steps reach nothing
    }
  }
}

}  // namespace

TEST_CASE("RNN: padded batch equals one sequence at a time (2 layers, bidirectional)", "[nn][rnn]") {
  gg::manual_seed(501);
  check_padding<nn::RNN>("RNN", false);
  check_padding<nn::RNN>("RNN", true);
}

TEST_CASE("GRU: padded batch equals one sequence at a time (2 layers, bidirectional)", "[nn][rnn]") {
  gg::manual_seed(502);
  check_padding<nn::GRU>("GRU", false);
  check_padding<nn::GRU>("GRU", true);
}

TEST_CASE("LSTM: padded batch equals one sequence at a time (2 layers, bidirectional)", "[nn][rnn]") {
  gg::manual_seed(503);
  check_padding<nn::LSTM>("LSTM", false);
  check_padding<nn::LSTM>("LSTM", true);
}

TEST_CASE("RNN: lengths all equal to T give the same result as no lengths", "[nn][rnn]") {
  gg::manual_seed(504);
  nn::LSTM m(kI, kH, {.num_layers = 2, .bidirectional = true, .dtype = F64});
  const Tensor x = gg::randn({kT, 3, kI}, {.dtype = F64});
  nn::RNNOutput with = m.forward(x, gg::from_vector(std::vector<int64_t>{kT, kT, kT}));
  nn::RNNOutput without = m.forward(x);
  require_close(with.output, without.output, 1e-15, "output");
  require_close(with.state.h, without.state.h, 1e-15, "h");
  require_close(with.state.c, without.state.c, 1e-15, "c");
}

TEST_CASE("RNN: the sequence layer equals its cell stepped by hand", "[nn][rnn]") {
  gg::manual_seed(505);
  // One layer, one direction: the layer's recurrence is the cell's, weight for weight.
  nn::GRU layer(kI, kH, {.dtype = F64});
  nn::GRUCell cell(kI, kH, {.dtype = F64});
  cell.load_state_dict({{"weight_ih", layer.weight_ih[0]},
                        {"weight_hh", layer.weight_hh[0]},
                        {"bias_ih", layer.bias_ih[0]},
                        {"bias_hh", layer.bias_hh[0]}});
  const Tensor x = gg::randn({kT, 2, kI}, {.dtype = F64});
  const Tensor h0 = gg::randn({1, 2, kH}, {.dtype = F64});
  nn::RNNOutput out = layer.forward(x, {}, {h0, {}});
  nn::RNNState s{h0.select(0, 0), {}};
  for (int64_t t = 0; t < kT; ++t) {
    s = cell.forward(x.select(0, t), s);
    require_close(out.output.select(0, t), s.h, 1e-14, "step " + std::to_string(t));
  }
  require_close(out.state.h.select(0, 0), s.h, 1e-14, "final h");
}

TEST_CASE("LSTM: the fused layers, which run a batch sorted by length, equal the composed ones with an initial "
          "state and unsorted lengths", "[nn][rnn]") {
  const std::vector<int64_t> lengths{2, 5, 1, 4, 5};  // the fused path reorders to 5, 5, 4, 2, 1 and back
  const int64_t B = static_cast<int64_t>(lengths.size());
  for (bool batch_first : {false, true}) {
    INFO((batch_first ? "batch_first" : "time-major"));
    std::vector<std::vector<Tensor>> results;
    for (bool fused : {true, false}) {
      gg::manual_seed(506);
      nn::LSTM m(kI, kH,
                 {.num_layers = 2, .bidirectional = true, .batch_first = batch_first, .dtype = F64, .fused = fused});
      Tensor x = gg::uniform(batch_first ? gg::Shape{B, kT, kI} : gg::Shape{kT, B, kI}, -1.0, 1.0,
                             {.dtype = F64, .requires_grad = true});
      Tensor h0 = gg::uniform({4, B, kH}, -1.0, 1.0, {.dtype = F64, .requires_grad = true});
      Tensor c0 = gg::uniform({4, B, kH}, -1.0, 1.0, {.dtype = F64, .requires_grad = true});
      nn::RNNOutput out = m.forward(x, gg::from_vector(lengths), {h0, c0});
      const Tensor r = gg::randn(out.output.shape(), {.dtype = F64});
      const Tensor rh = gg::randn(out.state.h.shape(), {.dtype = F64});
      const Tensor rc = gg::randn(out.state.c.shape(), {.dtype = F64});
      (gg::sum(out.output * r) + gg::sum(out.state.h * rh) + gg::sum(out.state.c * rc)).backward();
      results.push_back({out.output, out.state.h, out.state.c, x.grad(), h0.grad(), c0.grad(), m.weight_hh[0].grad()});
    }
    const char* names[] = {"output", "final h", "final c", "x grad", "h0 grad", "c0 grad", "weight_hh[0] grad"};
    for (size_t i = 0; i < results[0].size(); ++i)
      require_close(results[0][i], results[1][i], 1e-12, names[i]);
  }
}
