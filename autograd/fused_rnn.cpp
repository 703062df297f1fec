// Fused LSTM step and layer: forward loops and their backward nodes (see autograd/fused_rnn.h).
#include "autograd/fused_rnn.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "autograd/node.h"
#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {
namespace {

using fast::sigmoid_of;  // float32: core/fast_math.h; float64: libm
using fast::tanh_of;

// One row of the cell. `gates` holds the 4H pre-activations on entry and the activations
// i, f, g, o on exit. Writes the new cell state, its tanh and the new hidden state. No two
// arguments overlap: `__restrict` says so to the compiler, which otherwise gives up on
// vectorizing a loop over this many pointers (too many overlap checks) and runs tanh one
// element at a time. The same holds for cell_backward.
template <class T>
void cell_forward(int64_t H, T* __restrict gates, const T* __restrict c_prev, T* __restrict c, T* __restrict tanh_c,
                  T* __restrict h) {
  for (int64_t j = 0; j < 2 * H; ++j) gates[j] = sigmoid_of(gates[j]);         // i, f
  for (int64_t j = 2 * H; j < 3 * H; ++j) gates[j] = tanh_of(gates[j]);        // g
  for (int64_t j = 3 * H; j < 4 * H; ++j) gates[j] = sigmoid_of(gates[j]);     // o
  const T *i = gates, *f = gates + H, *g = gates + 2 * H, *o = gates + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    c[j] = f[j] * c_prev[j] + i[j] * g[j];
    tanh_c[j] = tanh_of(c[j]);
    h[j] = o[j] * tanh_c[j];
  }
}

// One row of the cell's backward. dh, dc: the gradients of h' and c'; dc is overwritten with
// the gradient of c (the previous cell state). Writes the gradient of the 4H pre-activations.
//   dc' total = dc + dh * o * (1 - tanh(c')^2)
//   di = dc' * g * i(1-i)     df = dc' * c * f(1-f)     dg = dc' * i * (1-g^2)
//   do = dh * tanh(c') * o(1-o)                         dc = dc' * f
template <class T>
void cell_backward(int64_t H, const T* __restrict act, const T* __restrict c_prev, const T* __restrict tanh_c,
                   const T* __restrict dh, T* __restrict dc, T* __restrict dgates) {
  const T *i = act, *f = act + H, *g = act + 2 * H, *o = act + 3 * H;
  T *di = dgates, *df = dgates + H, *dg = dgates + 2 * H, *d_o = dgates + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const T tc = tanh_c[j];
    const T dct = dc[j] + dh[j] * o[j] * (T(1) - tc * tc);
    di[j] = dct * g[j] * i[j] * (T(1) - i[j]);
    df[j] = dct * c_prev[j] * f[j] * (T(1) - f[j]);
    dg[j] = dct * i[j] * (T(1) - g[j] * g[j]);
    d_o[j] = dh[j] * tc * o[j] * (T(1) - o[j]);
    dc[j] = dct * f[j];
  }
}

// Runs f(b) for the B rows of a [B, width] pass, over threads when there is enough work.
template <class F>
void for_rows(int64_t B, int64_t width, F f) {
  parallel_for(B, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(width, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) f(b);
  });
}

// Rows [0, n) hold every sequence still running at step t (n = 1 + the last such row): the
// recurrence GEMM runs on those rows only. With the batch sorted by decreasing length, as
// nn::LSTM arranges it, that is exactly the running sequences, as with PyTorch's packed
// sequences; otherwise the rows in between that have ended are computed and ignored.
int64_t running_rows(const std::vector<int64_t>& lengths, int64_t t) {
  int64_t n = static_cast<int64_t>(lengths.size());
  while (n > 0 && lengths[static_cast<size_t>(n - 1)] <= t) --n;
  return n;
}

void check_float(const char* op, const Tensor& t, const char* what, DType dtype) {
  GG_CHECK(t.defined(), "{}: {} is undefined", op, what);
  GG_CHECK(t.dtype() == dtype && t.is_floating_point(), "{}: {} must be {} like the gates, got {} of shape {}", op,
           what, dtype_name(dtype), dtype_name(t.dtype()), t.shape());
}

}  // namespace

// ---- one step ----------------------------------------------------------------------------------

// forward: [h' | c'] = cell(x_proj + h_proj, c)      backward: cell_backward, the same gate
// gradient going to x_proj and to h_proj.
struct LSTMCellBackward : Node {
  SavedTensor act{this}, c_prev{this}, tanh_c{this};
  std::string name() const override { return "LSTMCellBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor a = act(), cp = c_prev(), tc = tanh_c();
    const Tensor dy = kernel::contiguous(dy_in);
    const int64_t B = a.size(0), H = cp.size(1);
    Tensor dgates = Tensor::empty({B, 4 * H}, a.dtype()), dc = Tensor::empty({B, H}, a.dtype());
    ProfileScope scope("lstm_cell");
    visit_floating(a.dtype(), "LSTMCellBackward", [&]<class T>() {
      for_rows(B, 4 * H, [&](int64_t b) {
        const T* g = dy.data<T>() + b * 2 * H;
        T* dcb = dc.data<T>() + b * H;
        std::memcpy(dcb, g + H, sizeof(T) * static_cast<size_t>(H));
        cell_backward<T>(H, a.data<T>() + b * 4 * H, cp.data<T>() + b * H, tc.data<T>() + b * H, g, dcb,
                         dgates.data<T>() + b * 4 * H);
      });
    });
    return {needs_grad(0) ? dgates : Tensor(), needs_grad(1) ? dgates : Tensor(), needs_grad(2) ? dc : Tensor()};
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
  Tensor act = Tensor::empty({B, 4 * H}, x_proj.dtype()), tanh_c = Tensor::empty({B, H}, x_proj.dtype());
  Tensor out = Tensor::empty({B, 2 * H}, x_proj.dtype());
  {
    ProfileScope scope("lstm_cell");
    visit_floating(x_proj.dtype(), "lstm_cell_fused", [&]<class T>() {
      for_rows(B, 4 * H, [&](int64_t b) {
        T* gates = act.data<T>() + b * 4 * H;
        const T* x = xp.data<T>() + b * 4 * H;
        const T* h = hp.data<T>() + b * 4 * H;
        for (int64_t j = 0; j < 4 * H; ++j) gates[j] = x[j] + h[j];
        T* o = out.data<T>() + b * 2 * H;
        cell_forward<T>(H, gates, cp.data<T>() + b * H, o + H, tanh_c.data<T>() + b * H, o);
      });
    });
  }
  if (needs_grad(x_proj, h_proj, c)) {
    auto node = std::make_shared<LSTMCellBackward>();
    node->act = act;
    node->c_prev = cp;
    node->tanh_c = tanh_c;
    attach(out, node, {x_proj, h_proj, c});
  }
  return out;
}

// ---- a layer over time ---------------------------------------------------------------------------

// forward: for each step t (T-1 .. 0 when reverse), gates_t = x_proj[t] + h W_hh^T + b_hh,
//          [h, c] = cell(gates_t, c) where t is inside the sequence, unchanged elsewhere.
// backward: the same steps in the opposite order; dh_prev = dgates_t W_hh per step, and
//          dW_hh = sum_t dgates_t^T h_prev_t, db_hh = sum dgates: one GEMM and one sum at the end.
//
// A bidirectional layer runs its two directions as one op, each direction's whole recurrence
// on its own thread: the two are independent, and a step's products ([32, 64] x [64, 256] in
// bench/'s small encoder) are too small to split between threads without waiting on each other
// at every step. The output holds both directions side by side, [T + 2, B, D * H].
namespace {

// One direction: its inputs, what its forward keeps for backward, and where its columns of
// the output are.
struct Direction {
  Tensor x_proj, w_hh, b_hh, h0, c0;  // as given
  bool reverse = false;
  Tensor act, c_prev, h_prev, tanh_c;  // [T, B, 4H], [T, B, H] x 3
};

// The forward recurrence of direction `dir` (0 or 1) into out [T + 2, B, D * H].
template <class T_>
void direction_forward(Direction& d, int64_t dir, const std::vector<int64_t>& lens, Tensor& out) {
  const int64_t T = d.x_proj.size(0), B = d.x_proj.size(1), G = d.x_proj.size(2), H = G / 4, ld = out.size(2);
  const Tensor xp = kernel::contiguous(d.x_proj);
  const Tensor w_t = d.w_hh.transpose(0, 1);  // [H, G]: BLAS reads it as a transpose, no copy
  const Tensor bias = d.b_hh.defined() ? kernel::contiguous(d.b_hh) : Tensor();
  Tensor h = kernel::clone(d.h0), c = kernel::clone(d.c0);  // the running state
  const size_t row_bytes = sizeof(T_) * static_cast<size_t>(H);
  T_* o_base = out.data<T_>() + dir * H;  // row r of this direction: o_base + r * ld
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = d.reverse ? T - 1 - step : step;
    Tensor gates = d.act.select(0, t);  // [B, G], contiguous
    std::memcpy(gates.data<T_>(), xp.data<T_>() + t * B * G, sizeof(T_) * static_cast<size_t>(B * G));
    if (bias.defined())
      for (int64_t b = 0; b < B; ++b) {
        T_* g = gates.data<T_>() + b * G;
        const T_* bb = bias.data<T_>();
        for (int64_t j = 0; j < G; ++j) g[j] += bb[j];
      }
    const int64_t n = running_rows(lens, t);
    if (n > 0) kernel::matmul_into(gates.narrow(0, 0, n), h.narrow(0, 0, n), w_t, 1.0);  // gates += h W_hh^T
    std::memcpy(d.h_prev.data<T_>() + t * B * H, h.data<T_>(), row_bytes * static_cast<size_t>(B));
    std::memcpy(d.c_prev.data<T_>() + t * B * H, c.data<T_>(), row_bytes * static_cast<size_t>(B));
    ProfileScope scope("lstm_cell");
    for_rows(B, G, [&](int64_t b) {
      const int64_t row = t * B + b;
      T_* o = o_base + row * ld;
      if (t >= lens[static_cast<size_t>(b)]) {  // padding: keep the state, output zeros
        std::memset(o, 0, row_bytes);
        return;
      }
      T_* hb = h.data<T_>() + b * H;
      cell_forward<T_>(H, gates.data<T_>() + b * G, d.c_prev.data<T_>() + row * H, c.data<T_>() + b * H,
                       d.tanh_c.data<T_>() + row * H, hb);
      std::memcpy(o, hb, row_bytes);
    });
  }
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(o_base + (T * B + b) * ld, h.data<T_>() + b * H, row_bytes);
    std::memcpy(o_base + ((T + 1) * B + b) * ld, c.data<T_>() + b * H, row_bytes);
  }
}

// Its backward: dy [T + 2, B, D * H] (this direction's columns) -> dgates [T, B, G] and the
// gradients of h0 and c0 (dh, dc [B, H]).
template <class T_>
void direction_backward(const Direction& d, int64_t dir, const std::vector<int64_t>& lens, const Tensor& dy,
                        Tensor& dgates, Tensor& dh, Tensor& dc) {
  const int64_t T = d.act.size(0), B = d.act.size(1), G = d.act.size(2), H = G / 4, ld = dy.size(2);
  const T_* dy_base = dy.data<T_>() + dir * H;
  const size_t row_bytes = sizeof(T_) * static_cast<size_t>(H);
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(dh.data<T_>() + b * H, dy_base + (T * B + b) * ld, row_bytes);
    std::memcpy(dc.data<T_>() + b * H, dy_base + ((T + 1) * B + b) * ld, row_bytes);
  }
  Tensor dh_prev = Tensor::empty({B, H}, d.act.dtype());
  for (int64_t step = T - 1; step >= 0; --step) {
    const int64_t t = d.reverse ? T - 1 - step : step;
    auto inside = [&](int64_t b) { return t < lens[static_cast<size_t>(b)]; };
    {
      ProfileScope scope("lstm_cell");
      for_rows(B, G, [&](int64_t b) {
        const int64_t row = t * B + b;
        T_* dg = dgates.data<T_>() + row * G;
        if (!inside(b)) {  // the state went through unchanged: so does its gradient
          std::memset(dg, 0, sizeof(T_) * static_cast<size_t>(G));
          return;
        }
        T_* dhb = dh.data<T_>() + b * H;
        const T_* dout = dy_base + row * ld;
        for (int64_t j = 0; j < H; ++j) dhb[j] += dout[j];
        cell_backward<T_>(H, d.act.data<T_>() + row * G, d.c_prev.data<T_>() + row * H, d.tanh_c.data<T_>() + row * H,
                          dhb, dc.data<T_>() + b * H, dg);
      });
    }
    const int64_t n = running_rows(lens, t);
    if (n > 0) kernel::matmul_into(dh_prev.narrow(0, 0, n), dgates.select(0, t).narrow(0, 0, n), d.w_hh, 0.0);
    for (int64_t b = 0; b < n; ++b)
      if (inside(b)) std::memcpy(dh.data<T_>() + b * H, dh_prev.data<T_>() + b * H, row_bytes);
  }
}

// Runs f(d) for each direction: on a thread each when there are two and threads to spare.
template <class F>
void for_directions(int64_t D, F f) {
  if (D == 1 || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (int64_t d = 0; d < D; ++d) f(d);
    return;
  }
  parallel_for(D, 1, [&](int64_t begin, int64_t end) {
    for (int64_t d = begin; d < end; ++d) f(d);
  });
}

}  // namespace

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
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const int64_t D = static_cast<int64_t>(saved.size());
    std::vector<Direction> dirs;
    for (const auto& s : saved) {
      Direction d;
      d.w_hh = s->w_hh(), d.act = s->act(), d.c_prev = s->c_prev(), d.h_prev = s->h_prev(), d.tanh_c = s->tanh_c();
      d.reverse = s->reverse;
      dirs.push_back(std::move(d));
    }
    const Tensor dy = kernel::contiguous(dy_in);  // [T + 2, B, D * H]
    const int64_t T = dirs[0].act.size(0), B = dirs[0].act.size(1), G = dirs[0].act.size(2), H = G / 4;
    const DType dtype = dirs[0].act.dtype();
    std::vector<Tensor> dgates, dh, dc;
    for (int64_t k = 0; k < D; ++k) {
      dgates.push_back(Tensor::empty({T, B, G}, dtype));
      dh.push_back(Tensor::empty({B, H}, dtype));
      dc.push_back(Tensor::empty({B, H}, dtype));
    }
    std::unique_ptr<ProfileScope> scope;  // with two threads, the op is timed as a whole
    if (D > 1) scope = std::make_unique<ProfileScope>("lstm_layer");
    visit_floating(dtype, "LSTMLayerBackward", [&]<class T_>() {
      for_directions(D, [&](int64_t k) {
        const size_t i = static_cast<size_t>(k);
        direction_backward<T_>(dirs[i], k, lengths, dy, dgates[i], dh[i], dc[i]);
      });
    });
    scope.reset();
    std::vector<Tensor> grads;
    for (int64_t k = 0; k < D; ++k) {
      const size_t i = static_cast<size_t>(k);
      const Tensor flat = dgates[i].view({T * B, G});
      auto needed = [&](int j) { return needs_grad(static_cast<size_t>(5 * k + j)); };
      grads.push_back(needed(0) ? dgates[i] : Tensor());
      grads.push_back(needed(1) ? kernel::matmul(flat.transpose(0, 1), dirs[i].h_prev.view({T * B, H})) : Tensor());
      grads.push_back(needed(2) ? kernel::sum(flat, {0}, false) : Tensor());
      grads.push_back(needed(3) ? dh[i] : Tensor());
      grads.push_back(needed(4) ? dc[i] : Tensor());
    }
    return grads;
  }
};

namespace {

// The checks, the forward loops of every direction, and the node.
Tensor lstm_layers(std::vector<Direction> dirs, const Tensor& lengths, const char* op) {
  const Tensor& x0 = dirs[0].x_proj;
  GG_CHECK(x0.defined() && x0.dim() == 3 && x0.size(2) % 4 == 0,
           "{}: x_proj must be [T, B, 4H] (the input projection of every step), got shape {}", op,
           x0.defined() ? x0.shape() : Shape{});
  const int64_t T = x0.size(0), B = x0.size(1), G = x0.size(2), H = G / 4, D = static_cast<int64_t>(dirs.size());
  const DType dtype = x0.dtype();
  for (const Direction& d : dirs) {
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
  for (Direction& d : dirs) {
    d.act = Tensor::empty({T, B, G}, dtype);
    d.c_prev = Tensor::empty({T, B, H}, dtype);
    d.h_prev = Tensor::empty({T, B, H}, dtype);
    d.tanh_c = Tensor::empty({T, B, H}, dtype);
  }
  Tensor out = Tensor::empty({T + 2, B, D * H}, dtype);
  {
    std::unique_ptr<ProfileScope> scope;  // with two threads, the op is timed as a whole
    if (D > 1) scope = std::make_unique<ProfileScope>("lstm_layer");
    visit_floating(dtype, op, [&]<class T_>() {
      for_directions(D, [&](int64_t k) { direction_forward<T_>(dirs[static_cast<size_t>(k)], k, lens, out); });
    });
  }
  std::vector<Tensor> inputs;
  bool grad = false;
  for (const Direction& d : dirs) {
    inputs.insert(inputs.end(), {d.x_proj, d.w_hh, d.b_hh, d.h0, d.c0});
    grad = grad || needs_grad(d.x_proj, d.w_hh, d.b_hh, d.h0, d.c0);
  }
  if (grad) {
    auto node = std::make_shared<LSTMLayerBackward>();
    for (const Direction& d : dirs) {
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
  Direction d{x_proj, w_hh, b_hh, h0, c0, reverse, {}, {}, {}, {}};
  return lstm_layers({d}, lengths, "lstm_layer_fused");
}

Tensor lstm_bidirectional_fused(const LSTMDirectionInputs& forward, const LSTMDirectionInputs& backward,
                                const Tensor& lengths) {
  Direction f{forward.x_proj, forward.w_hh, forward.b_hh, forward.h0, forward.c0, false, {}, {}, {}, {}};
  Direction b{backward.x_proj, backward.w_hh, backward.b_hh, backward.h0, backward.c0, true, {}, {}, {}, {}};
  return lstm_layers({f, b}, lengths, "lstm_bidirectional_fused");
}

}  // namespace gg
