// Fused LSTM step and layer: the ops and their backward nodes (see autograd/fused_rnn.h); the
// loops are core/lstm.cpp's.
#include "autograd/fused_rnn.h"

#include <memory>
#include <vector>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/lstm.h"

namespace gg {
namespace {

void check_float(const char* op, const Tensor& t, const char* what, DType dtype) {
  GG_CHECK(t.defined(), "{}: {} is undefined", op, what);
  GG_CHECK(t.dtype() == dtype && t.is_floating_point(), "{}: {} must be {} like the gates, got {} of shape {}", op,
           what, dtype_name(dtype), dtype_name(t.dtype()), t.shape());
}

}  // namespace

// ---- one step ----------------------------------------------------------------------------------

// forward: [h' | c'] = cell(x_proj + h_proj, c)      backward: the same gate gradient going to
// x_proj and to h_proj (kernel::lstm_cell_backward).
struct LSTMCellBackward : Node {
  SavedTensor act{this}, c_prev{this}, tanh_c{this};
  std::string name() const override { return "LSTMCellBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    kernel::LSTMCellGrads g = kernel::lstm_cell_backward(act(), c_prev(), tanh_c(), kernel::contiguous(dy));
    return {needs_grad(0) ? g.dgates : Tensor(), needs_grad(1) ? g.dgates : Tensor(), needs_grad(2) ? g.dc : Tensor()};
  }
};

Tensor lstm_cell_fused(const Tensor& x_proj, const Tensor& h_proj, const Tensor& c) {
  GG_CHECK(x_proj.defined() && x_proj.dim() == 2 && x_proj.size(1) % 4 == 0,
           "lstm_cell_fused: x_proj must be [B, 4H] (the gates i, f, g, o), got shape {}",
           x_proj.defined() ? x_proj.shape() : Shape{});
  const int64_t B = x_proj.size(0), H = x_proj.size(1) / 4;
  GG_CHECK(h_proj.defined() && h_proj.shape() == x_proj.shape() && c.defined() && c.shape() == Shape({B, H}),
           "lstm_cell_fused: expected x_proj and h_proj [{}, {}] and c [{}, {}], got {}, {} and {}", B, 4 * H, B, H,
           x_proj.shape(), h_proj.defined() ? h_proj.shape() : Shape{}, c.defined() ? c.shape() : Shape{});
  check_float("lstm_cell_fused", x_proj, "x_proj", x_proj.dtype());
  check_float("lstm_cell_fused", h_proj, "h_proj", x_proj.dtype());
  check_float("lstm_cell_fused", c, "c", x_proj.dtype());
  const Tensor xp = kernel::contiguous(x_proj), hp = kernel::contiguous(h_proj), cp = kernel::contiguous(c);
  kernel::LSTMCell cell = kernel::lstm_cell(xp, hp, cp);
  if (needs_grad(x_proj, h_proj, c)) {
    auto node = std::make_shared<LSTMCellBackward>();
    node->act = cell.act;
    node->c_prev = cp;
    node->tanh_c = cell.tanh_c;
    attach(cell.out, node, {x_proj, h_proj, c});
  }
  return cell.out;
}

// ---- a layer over time ---------------------------------------------------------------------------

// forward: for each step t (T-1 .. 0 when reverse), gates_t = x_proj[t] + h W_hh^T + b_hh,
//          [h, c] = cell(gates_t, c) where t is inside the sequence, unchanged elsewhere.
// backward: the same steps in the opposite order (kernel::lstm_layer_backward), then
//          dW_hh = sum_t dgates_t^T h_prev_t and db_hh = sum dgates: one GEMM and one sum.
// A bidirectional layer is one op over both directions, [T + 2, B, 2H] side by side.
struct LSTMLayerBackward : Node {
  // What each direction's forward kept (SavedTensors register with the node: not movable, so
  // one allocation per direction).
  struct Saved {
    SavedTensor w_hh, act, c_prev, h_prev, tanh_c;
    bool reverse = false;
    explicit Saved(Node* n) : w_hh(n), act(n), c_prev(n), h_prev(n), tanh_c(n) {}
  };
  std::vector<std::unique_ptr<Saved>> saved;
  std::vector<int64_t> lengths;  // per sequence; T for all when none were given
  std::string name() const override { return "LSTMLayerBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<kernel::LSTMDirection> dirs;
    for (const auto& s : saved) {
      kernel::LSTMDirection d;
      d.w_hh = s->w_hh(), d.act = s->act(), d.c_prev = s->c_prev(), d.h_prev = s->h_prev(), d.tanh_c = s->tanh_c();
      d.reverse = s->reverse;
      dirs.push_back(std::move(d));
    }
    const std::vector<kernel::LSTMDirectionGrads> g = kernel::lstm_layer_backward(dirs, lengths, kernel::contiguous(dy));
    const int64_t T = dirs[0].act.size(0), B = dirs[0].act.size(1), G = dirs[0].act.size(2), H = G / 4;
    std::vector<Tensor> grads;
    for (size_t k = 0; k < dirs.size(); ++k) {
      const Tensor flat = g[k].dgates.view({T * B, G});
      auto needed = [&](size_t j) { return needs_grad(5 * k + j); };
      grads.push_back(needed(0) ? g[k].dgates : Tensor());
      grads.push_back(needed(1) ? kernel::matmul(flat.transpose(0, 1), dirs[k].h_prev.view({T * B, H})) : Tensor());
      grads.push_back(needed(2) ? kernel::sum(flat, {0}, false) : Tensor());
      grads.push_back(needed(3) ? g[k].dh : Tensor());
      grads.push_back(needed(4) ? g[k].dc : Tensor());
    }
    return grads;
  }
};

namespace {

// The checks, the forward loops of every direction (kernel::lstm_layer), and the node.
Tensor lstm_layers(std::vector<kernel::LSTMDirection> dirs, const Tensor& lengths, const char* op) {
  const Tensor& x0 = dirs[0].x_proj;
  GG_CHECK(x0.defined() && x0.dim() == 3 && x0.size(2) % 4 == 0,
           "{}: x_proj must be [T, B, 4H] (the input projection of every step), got shape {}", op,
           x0.defined() ? x0.shape() : Shape{});
  const int64_t T = x0.size(0), B = x0.size(1), G = x0.size(2), H = G / 4;
  const DType dtype = x0.dtype();
  for (const kernel::LSTMDirection& d : dirs) {
    check_float(op, d.x_proj, "x_proj", dtype);
    GG_CHECK(d.x_proj.shape() == x0.shape(), "{}: the directions' x_proj differ in shape: {} and {}", op,
             x0.shape(), d.x_proj.shape());
    check_float(op, d.w_hh, "w_hh", dtype);
    check_float(op, d.h0, "h0", dtype);
    check_float(op, d.c0, "c0", dtype);
    GG_CHECK(d.w_hh.shape() == Shape({G, H}), "{}: w_hh must be [{}, {}] for gates of width {}, got {}", op, G, H, G,
             d.w_hh.shape());
    GG_CHECK(d.h0.shape() == Shape({B, H}) && d.c0.shape() == Shape({B, H}),
             "{}: h0 and c0 must be [{}, {}], got {} and {}", op, B, H, d.h0.shape(), d.c0.shape());
    if (d.b_hh.defined()) {
      check_float(op, d.b_hh, "b_hh", dtype);
      GG_CHECK(d.b_hh.shape() == Shape({G}), "{}: b_hh must be [{}], got {}", op, G, d.b_hh.shape());
    }
  }
  std::vector<int64_t> lens(static_cast<size_t>(B), T);
  if (lengths.defined()) {
    GG_CHECK(lengths.dtype() == DType::Int64 && lengths.shape() == Shape({B}),
             "{}: lengths must be int64 [{}], got {} of shape {}", op, B, dtype_name(lengths.dtype()), lengths.shape());
    lens = lengths.to_vector<int64_t>();
    for (int64_t len : lens) GG_CHECK(len >= 1 && len <= T, "{}: length {} is outside 1..{}", op, len, T);
  }
  Tensor out = kernel::lstm_layer(dirs, lens);
  std::vector<Tensor> inputs;
  bool grad = false;
  for (const kernel::LSTMDirection& d : dirs) {
    inputs.insert(inputs.end(), {d.x_proj, d.w_hh, d.b_hh, d.h0, d.c0});
    grad = grad || needs_grad(d.x_proj, d.w_hh, d.b_hh, d.h0, d.c0);
  }
  if (grad) {
    auto node = std::make_shared<LSTMLayerBackward>();
    for (const kernel::LSTMDirection& d : dirs) {
      auto& s = *node->saved.emplace_back(std::make_unique<LSTMLayerBackward::Saved>(node.get()));
      s.w_hh = d.w_hh, s.act = d.act, s.c_prev = d.c_prev, s.h_prev = d.h_prev, s.tanh_c = d.tanh_c;
      s.reverse = d.reverse;
    }
    node->lengths = std::move(lens);
    attach(out, node, inputs);
  }
  return out;
}

}  // namespace

Tensor lstm_layer_fused(const Tensor& x_proj, const Tensor& w_hh, const Tensor& b_hh, const Tensor& h0,
                        const Tensor& c0, const Tensor& lengths, bool reverse) {
  kernel::LSTMDirection d{x_proj, w_hh, b_hh, h0, c0, reverse, {}, {}, {}, {}};
  return lstm_layers({d}, lengths, "lstm_layer_fused");
}

Tensor lstm_bidirectional_fused(const LSTMDirectionInputs& forward, const LSTMDirectionInputs& backward,
                                const Tensor& lengths) {
  kernel::LSTMDirection f{forward.x_proj, forward.w_hh, forward.b_hh, forward.h0, forward.c0, false, {}, {}, {}, {}};
  kernel::LSTMDirection b{backward.x_proj, backward.w_hh, backward.b_hh, backward.h0, backward.c0, true, {}, {}, {}, {}};
  return lstm_layers({f, b}, lengths, "lstm_bidirectional_fused");
}

}  // namespace gg
