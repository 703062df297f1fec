#include "nn/rnn.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/fused_rnn.h"
#include "autograd/index.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "nn/functional.h"
#include "nn/init.h"

namespace gg::nn {

int64_t gate_chunks(RNNMode mode) {
  switch (mode) {
    case RNNMode::Tanh:
    case RNNMode::Relu: return 1;
    case RNNMode::GRU: return 3;
    case RNNMode::LSTM: return 4;
  }
  return 1;
}

RNNState rnn_step(RNNMode mode, const Tensor& x_proj, const RNNState& state, const Tensor& weight_hh,
                  const Tensor& bias_hh) {
  Tensor h_proj = functional::linear(state.h, weight_hh, bias_hh);  // [B, G*H]
  switch (mode) {
    case RNNMode::Tanh: return {tanh(x_proj + h_proj), {}};
    case RNNMode::Relu: return {relu(x_proj + h_proj), {}};
    case RNNMode::LSTM: {
      auto gates = chunk(x_proj + h_proj, 4, 1);  // i, f, g, o
      Tensor c = sigmoid(gates[1]) * state.c + sigmoid(gates[0]) * tanh(gates[2]);
      return {sigmoid(gates[3]) * tanh(c), c};
    }
    case RNNMode::GRU: {
      auto x = chunk(x_proj, 3, 1);  // r, z, n
      auto h = chunk(h_proj, 3, 1);
      Tensor r = sigmoid(x[0] + h[0]);
      Tensor z = sigmoid(x[1] + h[1]);
      Tensor n = tanh(x[2] + r * h[2]);
      return {(1.0 - z) * n + z * state.h, {}};
    }
  }
  fail("rnn_step: unknown mode");
}

namespace {

void init_recurrent(Tensor& t, const Shape& shape, int64_t hidden, DType dtype) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  t = Tensor::empty(shape, dtype);
  init::uniform_(t, -bound, bound);
}

// An initial state of zeros, or the given one checked against [rows, B, H].
RNNState initial_state(const char* who, RNNMode mode, const RNNState& given, int64_t rows, int64_t B, int64_t H,
                       DType dtype) {
  const Shape expected = rows == 0 ? Shape{B, H} : Shape{rows, B, H};
  auto check = [&](const Tensor& t, const char* which) {
    GG_CHECK(t.shape() == expected, "{}: initial {} has shape {}, expected {}{}", who, which, t.shape(), expected,
             rows == 0 ? "" : " ([layers * directions, batch, hidden])");
  };
  RNNState s = given;
  if (s.h.defined()) check(s.h, "h");
  else s.h = zeros(expected, {.dtype = dtype});
  if (mode == RNNMode::LSTM) {
    if (s.c.defined()) check(s.c, "c");
    else s.c = zeros(expected, {.dtype = dtype});
  }
  return s;
}

}  // namespace

// ---- cells -----------------------------------------------------------------------------------------

RNNCellBase::RNNCellBase(RNNMode mode, int64_t input_size, int64_t hidden_size, RNNCellOptions options)
    : mode(mode), input_size(input_size), hidden_size(hidden_size), fused(options.fused) {
  GG_CHECK(input_size > 0 && hidden_size > 0, "RNN cell: sizes must be positive, got input {} hidden {}", input_size,
           hidden_size);
  GG_CHECK(!options.relu || mode == RNNMode::Relu,
           "GRUCell and LSTMCell: relu is an option of RNNCell only (their gates' nonlinearities are fixed)");
  const int64_t G = gate_chunks(mode) * hidden_size;
  init_recurrent(weight_ih, {G, input_size}, hidden_size, options.dtype);
  init_recurrent(weight_hh, {G, hidden_size}, hidden_size, options.dtype);
  register_parameter("weight_ih", weight_ih);
  register_parameter("weight_hh", weight_hh);
  if (options.bias) {
    init_recurrent(bias_ih, {G}, hidden_size, options.dtype);
    init_recurrent(bias_hh, {G}, hidden_size, options.dtype);
    register_parameter("bias_ih", bias_ih);
    register_parameter("bias_hh", bias_hh);
  }
}

RNNState RNNCellBase::forward(const Tensor& x, const RNNState& state) {
  GG_CHECK(x.dim() == 2 && x.size(1) == input_size,
           "{}: input must be [batch, {}], got shape {}; hint: a cell takes one time step; use the sequence "
           "layer for [T, B, I]",
           name(), input_size, x.shape());
  RNNState s = initial_state(name().c_str(), mode, state, 0, x.size(0), hidden_size, x.dtype());
  if (mode == RNNMode::LSTM && fused) {
    const Tensor hc = lstm_cell_fused(functional::linear(x, weight_ih, bias_ih), functional::linear(s.h, weight_hh, bias_hh), s.c);
    return {hc.narrow(1, 0, hidden_size), hc.narrow(1, hidden_size, hidden_size)};
  }
  return rnn_step(mode, functional::linear(x, weight_ih, bias_ih), s, weight_hh, bias_hh);
}

std::string RNNCellBase::extra_repr() const {
  return fmt::format("{}, {}{}", input_size, hidden_size, mode == RNNMode::Relu ? ", nonlinearity=relu" : "");
}

// ---- sequence layers ----------------------------------------------------------------------------------

RNNBase::RNNBase(RNNMode mode, int64_t input_size, int64_t hidden_size, RNNOptions options)
    : mode(mode), input_size(input_size), hidden_size(hidden_size), options(options) {
  GG_CHECK(input_size > 0 && hidden_size > 0 && options.num_layers > 0,
           "{}: sizes must be positive, got input {} hidden {} layers {}", "RNN", input_size, hidden_size,
           options.num_layers);
  GG_CHECK(options.dropout >= 0.0 && options.dropout < 1.0, "RNN: dropout must be in [0, 1), got {}", options.dropout);
  GG_CHECK(!options.relu || mode == RNNMode::Relu,
           "GRU and LSTM: relu is an option of RNN only (their gates' nonlinearities are fixed)");
  const int64_t D = options.bidirectional ? 2 : 1, G = gate_chunks(mode) * hidden_size;
  const auto n = static_cast<size_t>(options.num_layers * D);
  weight_ih.resize(n);  // sized once: registration keeps pointers to these elements
  weight_hh.resize(n);
  bias_ih.resize(n);
  bias_hh.resize(n);
  for (int64_t l = 0; l < options.num_layers; ++l)
    for (int64_t d = 0; d < D; ++d) {
      const size_t k = static_cast<size_t>(l * D + d);
      const int64_t in = l == 0 ? input_size : D * hidden_size;
      const std::string suffix = fmt::format("_l{}{}", l, d == 1 ? "_reverse" : "");
      init_recurrent(weight_ih[k], {G, in}, hidden_size, options.dtype);
      init_recurrent(weight_hh[k], {G, hidden_size}, hidden_size, options.dtype);
      register_parameter("weight_ih" + suffix, weight_ih[k]);
      register_parameter("weight_hh" + suffix, weight_hh[k]);
      if (options.bias) {
        init_recurrent(bias_ih[k], {G}, hidden_size, options.dtype);
        init_recurrent(bias_hh[k], {G}, hidden_size, options.dtype);
        register_parameter("bias_ih" + suffix, bias_ih[k]);
        register_parameter("bias_hh" + suffix, bias_hh[k]);
      }
    }
}

RNNOutput RNNBase::forward(const Tensor& x_in, const Tensor& lengths, const RNNState& initial) {
  const std::string who = name();
  GG_CHECK(x_in.dim() == 3 && x_in.size(2) == input_size,
           "{}: input must be [{}, {}] x {} features, got shape {}; hint: {}", who,
           options.batch_first ? "B" : "T", options.batch_first ? "T" : "B", input_size, x_in.shape(),
           x_in.dim() == 2 ? "a single sequence needs a batch dim: unsqueeze(1)" : "check input_size and batch_first");
  const Tensor x = options.batch_first ? x_in.transpose(0, 1) : x_in;  // [T, B, I]
  const int64_t T = x.size(0), B = x.size(1), H = hidden_size, L = options.num_layers;
  const int64_t D = options.bidirectional ? 2 : 1;
  GG_CHECK(T > 0 && B > 0, "{}: input of shape {} has no {}", who, x_in.shape(), T == 0 ? "time steps" : "sequences");

  // masks[t] [B, 1]: true where step t is a real step of that sequence.
  std::vector<Tensor> masks;
  if (lengths.defined()) {
    GG_CHECK(lengths.dtype() == DType::Int64 && lengths.shape() == Shape{B},
             "{}: lengths must be int64 [{}] (one per sequence), got {} of shape {}", who, B,
             dtype_name(lengths.dtype()), lengths.shape());
    const std::vector<int64_t> lens = lengths.to_vector<int64_t>();
    for (int64_t len : lens)
      GG_CHECK(len >= 1 && len <= T, "{}: length {} is outside 1..{} (the padded length)", who, len, T);
    // The fused LSTM runs each step's recurrence on the rows still running, a prefix of the
    // batch once it is sorted by decreasing length (autograd/fused_rnn.h): sort, run, and put
    // the outputs and final states back in the caller's order.
    if (mode == RNNMode::LSTM && options.fused && !std::is_sorted(lens.rbegin(), lens.rend())) {
      std::vector<int64_t> order(lens.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return lens[static_cast<size_t>(a)] > lens[static_cast<size_t>(b)];
      });
      std::vector<int64_t> inverse(order.size());
      for (size_t i = 0; i < order.size(); ++i) inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
      const Tensor to_sorted = from_vector(order), back = from_vector(inverse);
      const int64_t batch_dim = options.batch_first ? 0 : 1;
      auto rows = [B](const Tensor& t, int64_t dim, const Tensor& index) {  // a bad state is left for the checks below
        return t.defined() && t.dim() == 3 && t.size(1) == B ? index_select(t, dim, index) : t;
      };
      RNNOutput out = forward(index_select(x_in, batch_dim, to_sorted), index_select(lengths, 0, to_sorted),
                              {rows(initial.h, 1, to_sorted), rows(initial.c, 1, to_sorted)});
      return {index_select(out.output, batch_dim, back), {rows(out.state.h, 1, back), rows(out.state.c, 1, back)}};
    }
    for (int64_t t = 0; t < T; ++t) masks.push_back(gt(lengths, static_cast<double>(t)).unsqueeze(1));
  }
  const RNNState init = initial_state(who.c_str(), mode, initial, L * D, B, H, x.dtype());

  Tensor layer_input = x;
  std::vector<Tensor> final_h, final_c;
  for (int64_t l = 0; l < L; ++l) {
    if (mode == RNNMode::LSTM && options.fused && D == 2) {  // both directions as one op: [T + 2, B, 2H]
      auto inputs = [&](int64_t d) {
        const size_t k = static_cast<size_t>(l * D + d);
        return LSTMDirectionInputs{functional::linear(layer_input, weight_ih[k], bias_ih[k]), weight_hh[k],
                                   bias_hh[k], init.h.select(0, static_cast<int64_t>(k)),
                                   init.c.select(0, static_cast<int64_t>(k))};
      };
      const Tensor all = lstm_bidirectional_fused(inputs(0), inputs(1), lengths);
      for (int64_t d = 0; d < D; ++d) {
        final_h.push_back(all.select(0, T).narrow(1, d * H, H));
        final_c.push_back(all.select(0, T + 1).narrow(1, d * H, H));
      }
      layer_input = all.narrow(0, 0, T);  // [T, B, 2H]
      if (l + 1 < L) layer_input = functional::dropout(layer_input, options.dropout, is_training());
      continue;
    }
    std::vector<Tensor> direction_outputs;
    for (int64_t d = 0; d < D; ++d) {
      const size_t k = static_cast<size_t>(l * D + d);
      const Tensor x_proj = functional::linear(layer_input, weight_ih[k], bias_ih[k]);  // [T, B, G*H], one GEMM
      RNNState state{init.h.select(0, static_cast<int64_t>(k)),
                     mode == RNNMode::LSTM ? init.c.select(0, static_cast<int64_t>(k)) : Tensor()};
      if (mode == RNNMode::LSTM && options.fused) {  // the whole direction as one op: [T + 2, B, H]
        const Tensor all = lstm_layer_fused(x_proj, weight_hh[k], bias_hh[k], state.h, state.c, lengths, d == 1);
        direction_outputs.push_back(all.narrow(0, 0, T));
        final_h.push_back(all.select(0, T));
        final_c.push_back(all.select(0, T + 1));
        continue;
      }
      std::vector<Tensor> outputs(static_cast<size_t>(T));
      for (int64_t step = 0; step < T; ++step) {
        const int64_t t = d == 0 ? step : T - 1 - step;
        RNNState next = rnn_step(mode, x_proj.select(0, t), state, weight_hh[k], bias_hh[k]);
        if (!masks.empty()) {  // padded steps keep the old state and output zeros
          next.h = where(masks[t], next.h, state.h);
          if (mode == RNNMode::LSTM) next.c = where(masks[t], next.c, state.c);
          outputs[t] = masked_fill(next.h, logical_not(masks[t]), 0.0);
        } else {
          outputs[t] = next.h;
        }
        state = next;
      }
      direction_outputs.push_back(stack(outputs, 0));  // [T, B, H]
      final_h.push_back(state.h);
      if (mode == RNNMode::LSTM) final_c.push_back(state.c);
    }
    layer_input = D == 1 ? direction_outputs[0] : cat(direction_outputs, 2);  // [T, B, D*H]
    if (l + 1 < L) layer_input = functional::dropout(layer_input, options.dropout, is_training());
  }
  RNNOutput out;
  out.output = options.batch_first ? layer_input.transpose(0, 1) : layer_input;
  out.state.h = stack(final_h, 0);
  if (mode == RNNMode::LSTM) out.state.c = stack(final_c, 0);
  return out;
}

std::string RNNBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_size, hidden_size);
  if (options.num_layers != 1) s += fmt::format(", num_layers={}", options.num_layers);
  if (options.bidirectional) s += ", bidirectional=true";
  if (options.batch_first) s += ", batch_first=true";
  if (options.dropout > 0) s += fmt::format(", dropout={}", options.dropout);
  if (mode == RNNMode::Relu) s += ", nonlinearity=relu";
  return s;
}

}  // namespace gg::nn
