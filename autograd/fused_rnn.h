#pragma once
// Fused LSTM kernels: the same arithmetic as the composed ops in nn::rnn_step, in one forward
// loop and one backward node. A composed LSTM step records about a dozen nodes (add, chunk,
// three sigmoids, two tanhs, muls) and allocates as many tensors; over a sequence the engine
// also sums one full-size gradient per step into the shared input projection. The fused ops
// record one node and touch each number once.
//
// Gates follow PyTorch's order and layout: a [.., 4H] pre-activation splits into i, f, g, o.
//   c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
//   h' = sigmoid(o) * tanh(c')
//
// The composed versions stay (nn::RNNOptions::fused = false selects them): they are the
// reference: tests/nn/test_lstm_twins.cpp checks that both agree, forward and backward, and
// tests/autograd/test_fused_rnn.cpp gradchecks the fused ops in float64.
#include "core/tensor.h"

namespace gg {

// One step. x_proj = x W_ih^T + b_ih and h_proj = h W_hh^T + b_hh, both [B, 4H]; c [B, H].
// Returns [B, 2H] = [h' | c'] (one output, so one node): take h' with narrow(1, 0, H) and c'
// with narrow(1, H, H).
Tensor lstm_cell_fused(const Tensor& x_proj, const Tensor& h_proj, const Tensor& c);

// A whole layer over time in one op. x_proj [T, B, 4H] holds x_t W_ih^T + b_ih for every step
// (one GEMM, made by the caller); each step adds h W_hh^T + b_hh (one GEMM per step) and applies
// the cell. h0, c0: [B, H]. lengths (int64 [B], optional): sequence b only has its first
// lengths[b] steps; at the others its state is carried unchanged and its output is zero, as
// the composed layer does. reverse runs t = T-1 .. 0 (the backward direction).
// Returns [T + 2, B, H]: rows 0..T-1 the outputs h_t, row T the final h, row T+1 the final c.
// Backward runs the recurrence backwards with one GEMM per step for dh, and then computes
// the W_hh gradient of all steps in one GEMM.
Tensor lstm_layer_fused(const Tensor& x_proj, const Tensor& w_hh, const Tensor& b_hh, const Tensor& h0,
                        const Tensor& c0, const Tensor& lengths, bool reverse);

// Both directions of a bidirectional layer as one op: the same as lstm_layer_fused forward
// (reverse = false) and backward (reverse = true), but each direction's recurrence runs on a
// thread of its own, forward and backward (with one thread, one after the other). Returns
// [T + 2, B, 2H]: rows 0..T-1 [h_t forward | h_t backward], as cat(..., 2) of the two
// directions gives them, row T the final h of each and row T+1 the final c of each.
struct LSTMDirectionInputs {
  Tensor x_proj, w_hh, b_hh, h0, c0;  // as lstm_layer_fused takes them
};
Tensor lstm_bidirectional_fused(const LSTMDirectionInputs& forward, const LSTMDirectionInputs& backward,
                                const Tensor& lengths);

}  // namespace gg
