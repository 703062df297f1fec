// Gradchecks of the recurrent cells and sequence layers, in float64, with respect to the
// input, the initial state and every weight and bias. The checked output is everything the
// layer returns (output, h, c) flattened into one tensor.
#include <string>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace nn = gg::nn;
constexpr gg::DType F64 = gg::DType::Float64;

namespace {

// The cell's members in named_parameters() order.
std::vector<Tensor*> cell_slots(nn::RNNCellBase& m) {
  std::vector<Tensor*> s{&m.weight_ih, &m.weight_hh};
  if (m.bias_ih.defined()) {
    s.push_back(&m.bias_ih);
    s.push_back(&m.bias_hh);
  }
  REQUIRE(s.size() == m.named_parameters().size());
  return s;
}

// The layer's members in named_parameters() order: per layer and direction, w_ih, w_hh, b_ih, b_hh.
std::vector<Tensor*> layer_slots(nn::RNNBase& m) {
  std::vector<Tensor*> s;
  for (size_t k = 0; k < m.weight_ih.size(); ++k) {
    s.push_back(&m.weight_ih[k]);
    s.push_back(&m.weight_hh[k]);
    if (m.options.bias) {
      s.push_back(&m.bias_ih[k]);
      s.push_back(&m.bias_hh[k]);
    }
  }
  REQUIRE(s.size() == m.named_parameters().size());
  return s;
}

Tensor flat(const nn::RNNState& s) {
  return s.c.defined() ? gg::cat({s.h.flatten(), s.c.flatten()}, 0) : s.h.flatten();
}

// x [B=3, I=3]; with_state: h (and c) [3, H=2] are checked inputs too, else the cell starts at zeros.
void check_cell(nn::RNNCellBase& m, const std::string& name, bool with_state) {
  const bool lstm = m.mode == nn::RNNMode::LSTM;
  const std::vector<Tensor*> slots = cell_slots(m);
  In inputs{leaf({3, 3})};
  if (with_state) {
    inputs.push_back(leaf({3, 2}));
    if (lstm) inputs.push_back(leaf({3, 2}));
  }
  const size_t first = inputs.size();
  for (const Tensor& p : param_leaves(m)) inputs.push_back(p);
  auto fn = [&, with_state, lstm, first](const In& in) {
    bind_members(slots, in, first);
    nn::RNNState state;
    if (with_state) state = {in[1], lstm ? in[2] : Tensor()};
    return flat(m.forward(in[0], state));
  };
  // From a zero state, h W_hh^T is zero whatever W_hh is: its gradient is zero too.
  std::vector<size_t> zero_ok;
  if (!with_state) zero_ok.push_back(first + 1);
  expect_gradcheck(name, "", fn, inputs, zero_ok);
}

struct LayerCase {
  int64_t T = 4, B = 3;
  std::vector<int64_t> lengths;  // empty: no lengths
  bool initial = false;          // h0 (and c0) [L*D, B, H] as checked inputs
};

// I = 3, H = 2. The padded steps of x hold values like any other; they must not matter.
template <class Layer>
void check_layer(const std::string& name, nn::RNNOptions options, const LayerCase& c) {
  options.dtype = F64;
  Layer m(3, 2, options);
  const bool lstm = m.mode == nn::RNNMode::LSTM;
  const int64_t rows = options.num_layers * (options.bidirectional ? 2 : 1);
  const std::vector<Tensor*> slots = layer_slots(m);
  const Tensor lengths = c.lengths.empty() ? Tensor() : gg::from_vector(c.lengths);
  In inputs{options.batch_first ? leaf({c.B, c.T, 3}) : leaf({c.T, c.B, 3})};
  if (c.initial) {
    inputs.push_back(leaf({rows, c.B, 2}));
    if (lstm) inputs.push_back(leaf({rows, c.B, 2}));
  }
  const size_t first = inputs.size();
  for (const Tensor& p : param_leaves(m)) inputs.push_back(p);
  auto fn = [&, lstm, first](const In& in) {
    bind_members(slots, in, first);
    nn::RNNState initial;
    if (c.initial) initial = {in[1], lstm ? in[2] : Tensor()};
    nn::RNNOutput out = m.forward(in[0], lengths, initial);
    return gg::cat({out.output.flatten(), flat(out.state)}, 0);
  };
  expect_gradcheck(name, "", fn, inputs);
}

const nn::RNNOptions kDeep{.num_layers = 2, .bidirectional = true};
const LayerCase kPadded{.T = 4, .B = 3, .lengths = {4, 2, 3}, .initial = true};
const LayerCase kPaddedNoInitial{.T = 4, .B = 3, .lengths = {3, 4, 1}, .initial = false};

}  // namespace

// ---- cells ---------------------------------------------------------------------------------------------

TEST_CASE("gradcheck: RNNCell (tanh) with a given state and from zeros", "[gradcheck][nn][rnn]") {
  gg::manual_seed(201);
  nn::RNNCell m(3, 2, {.dtype = F64});
  check_cell(m, "RNNCell tanh", true);
  check_cell(m, "RNNCell tanh, zero state", false);
}

TEST_CASE("gradcheck: RNNCell (relu) with a given state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(202);
  nn::RNNCell m(3, 2, {.relu = true, .dtype = F64});
  REQUIRE(m.mode == nn::RNNMode::Relu);
  check_cell(m, "RNNCell relu", true);
}

TEST_CASE("gradcheck: GRUCell with a given state and from zeros", "[gradcheck][nn][rnn]") {
  gg::manual_seed(203);
  nn::GRUCell m(3, 2, {.dtype = F64});
  check_cell(m, "GRUCell", true);
  check_cell(m, "GRUCell, zero state", false);
}

TEST_CASE("gradcheck: LSTMCell with a given state and from zeros", "[gradcheck][nn][rnn]") {
  gg::manual_seed(204);
  nn::LSTMCell m(3, 2, {.dtype = F64});
  check_cell(m, "LSTMCell", true);
  check_cell(m, "LSTMCell, zero state", false);
}

TEST_CASE("gradcheck: LSTMCell without bias", "[gradcheck][nn][rnn]") {
  gg::manual_seed(205);
  nn::LSTMCell m(3, 2, {.bias = false, .dtype = F64});
  check_cell(m, "LSTMCell, no bias", true);
}

// ---- sequence layers --------------------------------------------------------------------------------

TEST_CASE("gradcheck: RNN (tanh) 2 layers bidirectional with lengths and an initial state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(211);
  check_layer<nn::RNN>("RNN tanh", kDeep, kPadded);
}

TEST_CASE("gradcheck: RNN (relu) 2 layers bidirectional with lengths and an initial state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(212);
  nn::RNNOptions o = kDeep;
  o.relu = true;
  check_layer<nn::RNN>("RNN relu", o, kPadded);
}

TEST_CASE("gradcheck: RNN batch_first bidirectional with lengths", "[gradcheck][nn][rnn]") {
  gg::manual_seed(213);
  check_layer<nn::RNN>("RNN batch_first", {.bidirectional = true, .batch_first = true}, kPaddedNoInitial);
}

TEST_CASE("gradcheck: GRU 2 layers bidirectional with lengths and an initial state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(221);
  check_layer<nn::GRU>("GRU", kDeep, kPadded);
}

TEST_CASE("gradcheck: GRU 2 layers batch_first with lengths", "[gradcheck][nn][rnn]") {
  gg::manual_seed(222);
  check_layer<nn::GRU>("GRU batch_first", {.num_layers = 2, .batch_first = true}, kPaddedNoInitial);
}

TEST_CASE("gradcheck: GRU 2 layers with inter-layer dropout in training (fixed seed)", "[gradcheck][nn][rnn]") {
  gg::manual_seed(223);
  nn::GRU m(3, 2, {.num_layers = 2, .dropout = 0.3, .dtype = F64});
  REQUIRE(m.is_training());
  const std::vector<Tensor*> slots = layer_slots(m);
  In inputs{leaf({4, 2, 3})};
  for (const Tensor& p : param_leaves(m)) inputs.push_back(p);
  auto fn = [&](const In& in) {
    bind_members(slots, in, 1);
    gg::manual_seed(11);  // the same dropout mask on every call
    nn::RNNOutput out = m.forward(in[0]);
    return gg::cat({out.output.flatten(), out.state.h.flatten()}, 0);
  };
  expect_gradcheck("GRU with dropout", "", fn, inputs);
}

TEST_CASE("gradcheck: LSTM 2 layers bidirectional with lengths and an initial state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(231);
  check_layer<nn::LSTM>("LSTM", kDeep, kPadded);
}

TEST_CASE("gradcheck: LSTM bidirectional batch_first with lengths", "[gradcheck][nn][rnn]") {
  gg::manual_seed(232);
  check_layer<nn::LSTM>("LSTM batch_first", {.bidirectional = true, .batch_first = true}, kPaddedNoInitial);
}

TEST_CASE("gradcheck: LSTM 2 layers without lengths, with an initial state", "[gradcheck][nn][rnn]") {
  gg::manual_seed(233);
  check_layer<nn::LSTM>("LSTM no lengths", {.num_layers = 2}, {.T = 3, .B = 2, .lengths = {}, .initial = true});
}

TEST_CASE("gradcheck: LSTM without bias, bidirectional with lengths", "[gradcheck][nn][rnn]") {
  gg::manual_seed(234);
  check_layer<nn::LSTM>("LSTM no bias", {.bidirectional = true, .bias = false}, kPadded);
}
