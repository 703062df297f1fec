#pragma once
// Recurrent cells and layers: RNN (tanh or relu), GRU and LSTM.
//
// One recurrence step is shared by the cells and the sequence layers (rnn_step). LSTMs run,
// by default, on the fused kernels of autograd/fused_rnn.h (one op per step in a cell, one op
// per layer and direction in a sequence layer); `fused = false` in the options selects the
// composed ops of rnn_step instead, to read the graph op by op (the two are tested to agree). Weights
// follow PyTorch's layout exactly, so checkpoints compare one to one:
//   weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H]
// with G gate chunks stacked in PyTorch's order: 1 for RNN, 3 for GRU (r, z, n), 4 for LSTM
// (i, f, g, o). Initialization as PyTorch's: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).
//
// Shapes: T time steps, B batch, I input features, H hidden size, L layers, D directions.
#include <fmt/format.h>

#include "nn/module.h"

namespace gg::nn {

enum class RNNMode { Tanh, Relu, GRU, LSTM };
int64_t gate_chunks(RNNMode mode);  // G: 1, 1, 3, 4

// Hidden state [B, H] and, for LSTM only, the cell state [B, H].
struct RNNState {
  Tensor h;
  Tensor c;
};

// One step. x_proj = x W_ih^T + b_ih [B, G*H] (the layers compute it for all steps in one
// GEMM); state.h [B, H]:
//   RNN:  h' = act(x_proj + h W_hh^T + b_hh)
//   LSTM: i, f, g, o = split(x_proj + h W_hh^T + b_hh); c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')
//   GRU:  r = s(x_r + h_r); z = s(x_z + h_z); n = tanh(x_n + r * h_n); h' = (1 - z) n + z h
//         where x_* and h_* are the chunks of x_proj and h W_hh^T + b_hh
RNNState rnn_step(RNNMode mode, const Tensor& x_proj, const RNNState& state, const Tensor& weight_hh,
                  const Tensor& bias_hh);

struct RNNCellOptions {
  bool bias = true;
  bool relu = false;  // RNNCell only: relu instead of tanh
  DType dtype = DType::Float32;
  bool fused = true;  // LSTM: one fused op per step (autograd/fused_rnn.h); false: the composed ops
};

// The base of RNNCell, GRUCell and LSTMCell: one step at a time, for decoder loops:
//   state = cell.forward(x_t, state);   // x_t [B, I]; an empty state starts at zeros
class RNNCellBase : public Module {
 public:
  RNNCellBase(RNNMode mode, int64_t input_size, int64_t hidden_size, RNNCellOptions options);
  RNNState forward(const Tensor& x, const RNNState& state = {});
  std::string extra_repr() const override;

  RNNMode mode;
  int64_t input_size, hidden_size;
  bool fused = true;  // see RNNCellOptions::fused; may be changed at any time
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

class RNNCell : public RNNCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {})
      : RNNCellBase(options.relu ? RNNMode::Relu : RNNMode::Tanh, input_size, hidden_size, options) {}
  std::string name() const override { return "RNNCell"; }
};

class GRUCell : public RNNCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {})
      : RNNCellBase(RNNMode::GRU, input_size, hidden_size, options) {}
  std::string name() const override { return "GRUCell"; }
};

class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {})
      : RNNCellBase(RNNMode::LSTM, input_size, hidden_size, options) {}
  std::string name() const override { return "LSTMCell"; }
};

struct RNNOptions {
  int64_t num_layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;      // on the outputs of every layer but the last, while training
  bool batch_first = false;  // x [B, T, I] instead of [T, B, I]
  bool bias = true;
  bool relu = false;         // RNN only: relu instead of tanh
  DType dtype = DType::Float32;
  bool fused = true;         // LSTM: one fused op per layer and direction; false: the composed ops per step
};

struct RNNOutput {
  Tensor output;  // [T, B, D*H] ([B, T, D*H] if batch_first); zeros at padded steps
  RNNState state; // h [L*D, B, H] (and c for LSTM): the state after each sequence's last real step
};

// A stack of recurrent layers over whole sequences. With `lengths` (int64 [B]), a padded
// batch gives every sequence exactly what it would give alone: padded steps neither update
// the state nor reach the backward direction, which starts at each sequence's own last step.
class RNNBase : public Module {
 public:
  RNNBase(RNNMode mode, int64_t input_size, int64_t hidden_size, RNNOptions options);
  // x [T, B, I] (or [B, T, I]); lengths int64 [B], each in 1..T; initial state [L*D, B, H].
  RNNOutput forward(const Tensor& x, const Tensor& lengths = {}, const RNNState& initial = {});
  std::string extra_repr() const override;

  RNNMode mode;
  int64_t input_size, hidden_size;
  RNNOptions options;

  // Parameters of layer l, direction d live at index l * D + d (named weight_ih_l{l}[_reverse], ...).
  std::vector<Tensor> weight_ih, weight_hh, bias_ih, bias_hh;
};

class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions options = {})
      : RNNBase(options.relu ? RNNMode::Relu : RNNMode::Tanh, input_size, hidden_size, options) {}
  std::string name() const override { return "RNN"; }
};

class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, RNNOptions options = {})
      : RNNBase(RNNMode::GRU, input_size, hidden_size, options) {}
  std::string name() const override { return "GRU"; }
};

class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, RNNOptions options = {})
      : RNNBase(RNNMode::LSTM, input_size, hidden_size, options) {}
  std::string name() const override { return "LSTM"; }
};

}  // namespace gg::nn
