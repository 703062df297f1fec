#pragma once
// The loops of the fused LSTM ops (autograd/fused_rnn.h), as plain functions on tensors
// (core/lstm.cpp). Gates follow PyTorch's order: a [.., 4H] pre-activation splits into i, f, g, o.
//   c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')
// The ops check their inputs; these take them as the comments say (one float dtype).
#include <vector>

#include "core/tensor.h"

namespace gg::kernel {

// ---- one step ------------------------------------------------------------------------------------
// x_proj, h_proj [B, 4H] and c [B, H], contiguous: the cell on gates x_proj + h_proj.
struct LSTMCell {
  Tensor out;     // [B, 2H] = [h' | c']
  Tensor act;     // the activations i, f, g, o [B, 4H], for backward
  Tensor tanh_c;  // tanh(c') [B, H], for backward
};
LSTMCell lstm_cell(const Tensor& x_proj, const Tensor& h_proj, const Tensor& c);
// From dy [B, 2H] (contiguous; the gradients of h' and c'), with c_prev the cell's input c:
//   dc' = dc + dh o (1 - tanh(c')^2);  di = dc' g i (1 - i);  df = dc' c f (1 - f);
//   dg = dc' i (1 - g^2);  do = dh tanh(c') o (1 - o);  dc_prev = dc' f
struct LSTMCellGrads {
  Tensor dgates;  // [B, 4H]: the gradient of x_proj and of h_proj alike
  Tensor dc;      // [B, H]: the gradient of c
};
LSTMCellGrads lstm_cell_backward(const Tensor& act, const Tensor& c_prev, const Tensor& tanh_c, const Tensor& dy);

// ---- a layer over time ---------------------------------------------------------------------------
// One direction of a layer: for each step t (T-1 .. 0 when reverse),
//   gates_t = x_proj[t] + h W_hh^T + b_hh,  [h, c] = cell(gates_t, c)
// where t is inside the sequence (t < lengths[b]); outside, the state is carried unchanged and
// the output is zero.
struct LSTMDirection {
  Tensor x_proj, w_hh, b_hh, h0, c0;  // [T, B, 4H], [4H, H], [4H] or undefined, [B, H], [B, H]
  bool reverse = false;
  Tensor act, c_prev, h_prev, tanh_c;  // kept by the forward for backward: [T, B, 4H], [T, B, H] x 3
};
// Runs the recurrence of each direction (one or two), each on a thread of its own when there
// are two and threads to spare, filling its kept tensors. Returns [T + 2, B, D H]: rows
// 0 .. T-1 the outputs h_t of the directions side by side, row T the final h, row T+1 the
// final c.
Tensor lstm_layer(std::vector<LSTMDirection>& dirs, const std::vector<int64_t>& lengths);
// The recurrences backwards from dy [T + 2, B, D H] (contiguous), one GEMM per step for the
// gradient of h: per direction the gradient of every step's gates [T, B, 4H] (that of x_proj;
// W_hh's is dgates^T h_prev, b_hh's their sum) and those of h0 and c0 [B, H].
struct LSTMDirectionGrads {
  Tensor dgates, dh, dc;
};
std::vector<LSTMDirectionGrads> lstm_layer_backward(const std::vector<LSTMDirection>& dirs,
                                                    const std::vector<int64_t>& lengths, const Tensor& dy);

}  // namespace gg::kernel
