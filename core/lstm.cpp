// LSTM cell and layer loops, forward and backward (core/lstm.h; autograd/fused_rnn.cpp makes
// them differentiable ops).
#include "core/lstm.h"

#include <omp.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {
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

// A bidirectional layer runs its two directions each on its own thread: the two are
// independent, and a step's products ([32, 64] x [64, 256] in bench/'s small encoder) are too
// small to split between threads without waiting on each other at every step.
// The forward recurrence of direction `dir` (0 or 1) into out [T + 2, B, D * H].
template <class T_>
void direction_forward(LSTMDirection& d, int64_t dir, const std::vector<int64_t>& lens, Tensor& out) {
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
void direction_backward(const LSTMDirection& d, int64_t dir, const std::vector<int64_t>& lens, const Tensor& dy,
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

LSTMCell lstm_cell(const Tensor& xp, const Tensor& hp, const Tensor& cp) {
  GG_PROFILE("lstm_cell");
  const int64_t B = xp.size(0), H = xp.size(1) / 4;
  LSTMCell r{Tensor::empty({B, 2 * H}, xp.dtype()), Tensor::empty({B, 4 * H}, xp.dtype()),
             Tensor::empty({B, H}, xp.dtype())};
  visit_floating(xp.dtype(), "lstm_cell", [&]<class T>() {
    for_rows(B, 4 * H, [&](int64_t b) {
      T* gates = r.act.data<T>() + b * 4 * H;
      const T* x = xp.data<T>() + b * 4 * H;
      const T* h = hp.data<T>() + b * 4 * H;
      for (int64_t j = 0; j < 4 * H; ++j) gates[j] = x[j] + h[j];
      T* o = r.out.data<T>() + b * 2 * H;
      cell_forward<T>(H, gates, cp.data<T>() + b * H, o + H, r.tanh_c.data<T>() + b * H, o);
    });
  });
  return r;
}

LSTMCellGrads lstm_cell_backward(const Tensor& act, const Tensor& c_prev, const Tensor& tanh_c, const Tensor& dy) {
  GG_PROFILE("lstm_cell");
  const int64_t B = act.size(0), H = c_prev.size(1);
  LSTMCellGrads g{Tensor::empty({B, 4 * H}, act.dtype()), Tensor::empty({B, H}, act.dtype())};
  visit_floating(act.dtype(), "lstm_cell_backward", [&]<class T>() {
    for_rows(B, 4 * H, [&](int64_t b) {
      const T* dyb = dy.data<T>() + b * 2 * H;
      T* dcb = g.dc.data<T>() + b * H;
      std::memcpy(dcb, dyb + H, sizeof(T) * static_cast<size_t>(H));
      cell_backward<T>(H, act.data<T>() + b * 4 * H, c_prev.data<T>() + b * H, tanh_c.data<T>() + b * H, dyb, dcb,
                       g.dgates.data<T>() + b * 4 * H);
    });
  });
  return g;
}

Tensor lstm_layer(std::vector<LSTMDirection>& dirs, const std::vector<int64_t>& lens) {
  const Tensor& x0 = dirs[0].x_proj;
  const int64_t T = x0.size(0), B = x0.size(1), G = x0.size(2), H = G / 4, D = static_cast<int64_t>(dirs.size());
  const DType dtype = x0.dtype();
  for (LSTMDirection& d : dirs) {
    d.act = Tensor::empty({T, B, G}, dtype);
    d.c_prev = Tensor::empty({T, B, H}, dtype);
    d.h_prev = Tensor::empty({T, B, H}, dtype);
    d.tanh_c = Tensor::empty({T, B, H}, dtype);
  }
  Tensor out = Tensor::empty({T + 2, B, D * H}, dtype);
  std::unique_ptr<ProfileScope> scope;  // with two threads, the op is timed as a whole
  if (D > 1) scope = std::make_unique<ProfileScope>("lstm_layer");
  visit_floating(dtype, "lstm_layer", [&]<class T_>() {
    for_directions(D, [&](int64_t k) { direction_forward<T_>(dirs[static_cast<size_t>(k)], k, lens, out); });
  });
  return out;
}

std::vector<LSTMDirectionGrads> lstm_layer_backward(const std::vector<LSTMDirection>& dirs,
                                                    const std::vector<int64_t>& lens, const Tensor& dy) {
  const int64_t D = static_cast<int64_t>(dirs.size());
  const int64_t T = dirs[0].act.size(0), B = dirs[0].act.size(1), G = dirs[0].act.size(2), H = G / 4;
  const DType dtype = dirs[0].act.dtype();
  std::vector<LSTMDirectionGrads> grads;
  for (int64_t k = 0; k < D; ++k)
    grads.push_back({Tensor::empty({T, B, G}, dtype), Tensor::empty({B, H}, dtype), Tensor::empty({B, H}, dtype)});
  std::unique_ptr<ProfileScope> scope;  // with two threads, the op is timed as a whole
  if (D > 1) scope = std::make_unique<ProfileScope>("lstm_layer");
  visit_floating(dtype, "lstm_layer_backward", [&]<class T_>() {
    for_directions(D, [&](int64_t k) {
      const size_t i = static_cast<size_t>(k);
      direction_backward<T_>(dirs[i], k, lens, dy, grads[i].dgates, grads[i].dh, grads[i].dc);
    });
  });
  return grads;
}

}  // namespace gg::kernel
