// Fused LSTM step and layer: forward loops and their backward nodes (see autograd/fused_rnn.h).
#include "autograd/fused_rnn.h"

#include <cmath>
#include <cstring>

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
struct LSTMLayerBackward : Node {
  SavedTensor w_hh{this}, act{this}, c_prev{this}, h_prev{this}, tanh_c{this};
  std::vector<int64_t> lengths;  // per sequence; T for all when none were given
  bool reverse = false;
  std::string name() const override { return "LSTMLayerBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor w = w_hh(), a = act(), cp = c_prev(), hp = h_prev(), tc = tanh_c();
    const Tensor dy = kernel::contiguous(dy_in);  // [T + 2, B, H]
    const int64_t T = a.size(0), B = a.size(1), G = a.size(2), H = G / 4;
    Tensor dgates = Tensor::empty({T, B, G}, a.dtype());
    Tensor dh = kernel::clone(dy.select(0, T)), dc = kernel::clone(dy.select(0, T + 1));
    Tensor dh_prev = Tensor::empty({B, H}, a.dtype());
    visit_floating(a.dtype(), "LSTMLayerBackward", [&]<class T_>() {
      for (int64_t step = T - 1; step >= 0; --step) {
        const int64_t t = reverse ? T - 1 - step : step;
        auto inside = [&](int64_t b) { return t < lengths[static_cast<size_t>(b)]; };
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
            const T_* dout = dy.data<T_>() + row * H;
            for (int64_t j = 0; j < H; ++j) dhb[j] += dout[j];
            cell_backward<T_>(H, a.data<T_>() + row * G, cp.data<T_>() + row * H, tc.data<T_>() + row * H, dhb,
                              dc.data<T_>() + b * H, dg);
          });
        }
        const int64_t n = running_rows(lengths, t);
        if (n > 0) kernel::matmul_into(dh_prev.narrow(0, 0, n), dgates.select(0, t).narrow(0, 0, n), w, 0.0);
        for (int64_t b = 0; b < n; ++b)
          if (inside(b))
            std::memcpy(dh.data<T_>() + b * H, dh_prev.data<T_>() + b * H, sizeof(T_) * static_cast<size_t>(H));
      }
    });
    Tensor flat = dgates.view({T * B, G});
    Tensor dw = needs_grad(1) ? kernel::matmul(flat.transpose(0, 1), hp.view({T * B, H})) : Tensor();
    Tensor db = needs_grad(2) ? kernel::sum(flat, {0}, false) : Tensor();
    return {needs_grad(0) ? dgates : Tensor(), dw, db, needs_grad(3) ? dh : Tensor(), needs_grad(4) ? dc : Tensor()};
  }
};

Tensor lstm_layer_fused(const Tensor& x_proj, const Tensor& w_hh, const Tensor& b_hh, const Tensor& h0,
                        const Tensor& c0, const Tensor& lengths, bool reverse) {
  const char* op = "lstm_layer_fused";
  GG_CHECK(x_proj.defined() && x_proj.dim() == 3 && x_proj.size(2) % 4 == 0,
           "{}: x_proj must be [T, B, 4H] (the input projection of every step), got shape {}", op,
           x_proj.defined() ? x_proj.shape() : Shape{});
  const int64_t T = x_proj.size(0), B = x_proj.size(1), G = x_proj.size(2), H = G / 4;
  const DType dtype = x_proj.dtype();
  check_float(op, x_proj, "x_proj", dtype);
  check_float(op, w_hh, "w_hh", dtype);
  check_float(op, h0, "h0", dtype);
  check_float(op, c0, "c0", dtype);
  GG_CHECK(w_hh.shape() == Shape({G, H}), "{}: w_hh must be [{}, {}] for gates of width {}, got {}", op, G, H, G,
           w_hh.shape());
  GG_CHECK(h0.shape() == Shape({B, H}) && c0.shape() == Shape({B, H}),
           "{}: h0 and c0 must be [{}, {}], got {} and {}", op, B, H, h0.shape(), c0.shape());
  if (b_hh.defined()) {
    check_float(op, b_hh, "b_hh", dtype);
    GG_CHECK(b_hh.shape() == Shape({G}), "{}: b_hh must be [{}], got {}", op, G, b_hh.shape());
  }
  std::vector<int64_t> lens(static_cast<size_t>(B), T);
  if (lengths.defined()) {
    GG_CHECK(lengths.dtype() == DType::Int64 && lengths.shape() == Shape({B}),
             "{}: lengths must be int64 [{}], got {} of shape {}", op, B, dtype_name(lengths.dtype()), lengths.shape());
    lens = lengths.to_vector<int64_t>();
    for (int64_t len : lens) GG_CHECK(len >= 1 && len <= T, "{}: length {} is outside 1..{}", op, len, T);
  }

  const Tensor xp = kernel::contiguous(x_proj);
  const Tensor w_t = w_hh.transpose(0, 1);  // [H, G]: BLAS reads it as a transpose, no copy
  Tensor act = Tensor::empty({T, B, G}, dtype), c_prev = Tensor::empty({T, B, H}, dtype);
  Tensor h_prev = Tensor::empty({T, B, H}, dtype), tanh_c = Tensor::empty({T, B, H}, dtype);
  Tensor out = Tensor::empty({T + 2, B, H}, dtype);
  Tensor h = kernel::clone(h0), c = kernel::clone(c0);  // the running state
  const Tensor bias = b_hh.defined() ? kernel::contiguous(b_hh) : Tensor();
  visit_floating(dtype, op, [&]<class T_>() {
    const size_t row_bytes = sizeof(T_) * static_cast<size_t>(H);
    for (int64_t step = 0; step < T; ++step) {
      const int64_t t = reverse ? T - 1 - step : step;
      Tensor gates = act.select(0, t);  // [B, G], contiguous
      std::memcpy(gates.data<T_>(), xp.data<T_>() + t * B * G, sizeof(T_) * static_cast<size_t>(B * G));
      if (bias.defined())
        for (int64_t b = 0; b < B; ++b) {
          T_* g = gates.data<T_>() + b * G;
          const T_* bb = bias.data<T_>();
          for (int64_t j = 0; j < G; ++j) g[j] += bb[j];
        }
      const int64_t n = running_rows(lens, t);
      if (n > 0) kernel::matmul_into(gates.narrow(0, 0, n), h.narrow(0, 0, n), w_t, 1.0);  // gates += h W_hh^T
      std::memcpy(h_prev.data<T_>() + t * B * H, h.data<T_>(), row_bytes * static_cast<size_t>(B));
      std::memcpy(c_prev.data<T_>() + t * B * H, c.data<T_>(), row_bytes * static_cast<size_t>(B));
      ProfileScope scope("lstm_cell");
      for_rows(B, G, [&](int64_t b) {
        const int64_t row = t * B + b;
        T_* o = out.data<T_>() + row * H;
        if (t >= lens[static_cast<size_t>(b)]) {  // padding: keep the state, output zeros
          std::memset(o, 0, row_bytes);
          return;
        }
        T_* hb = h.data<T_>() + b * H;
        cell_forward<T_>(H, gates.data<T_>() + b * G, c_prev.data<T_>() + row * H, c.data<T_>() + b * H,
                         tanh_c.data<T_>() + row * H, hb);
        std::memcpy(o, hb, row_bytes);
      });
    }
    std::memcpy(out.data<T_>() + T * B * H, h.data<T_>(), row_bytes * static_cast<size_t>(B));
    std::memcpy(out.data<T_>() + (T + 1) * B * H, c.data<T_>(), row_bytes * static_cast<size_t>(B));
  });
  if (needs_grad(x_proj, w_hh, b_hh, h0, c0)) {
    auto node = std::make_shared<LSTMLayerBackward>();
    node->w_hh = w_hh;
    node->act = act;
    node->c_prev = c_prev;
    node->h_prev = h_prev;
    node->tanh_c = tanh_c;
    node->lengths = std::move(lens);
    node->reverse = reverse;
    attach(out, node, {x_proj, w_hh, b_hh, h0, c0});
  }
  return out;
}

}  // namespace gg
