// The fused additive attention score and its backward node (see autograd/fused_attention.h).
#include "autograd/fused_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "autograd/node.h"
#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "core/small_gemm.h"
#include "core/softmax_row.h"

namespace gg {

// One score: h = tanh(q + k) (kept for backward), returns v . h. One pass, on pointers that
// never overlap: without __restrict GCC versions the tanh loop for aliasing and turns the
// separate dot product into gathers through the stack (1.7 ns per unit; now 0.3).
template <class T>
static T tanh_dot(const T* __restrict q, const T* __restrict k, const T* __restrict v, T* __restrict h, int64_t A) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t a = 0; a < A; ++a) {
    h[a] = fast::tanh_of(q[a] + k[a]);
    acc += v[a] * h[a];
  }
  return acc;
}

// One score's backward, g = its gradient: dh = g * v * (1 - h^2) added to dq and dk, g * h to
// dv. On __restrict pointers, for the reason tanh_dot gives.
template <class T>
static void additive_grad(T g, const T* __restrict v, const T* __restrict h, T* __restrict dq, T* __restrict dk,
                          T* __restrict dv, int64_t A) {
#pragma omp simd
  for (int64_t a = 0; a < A; ++a) {
    const T d = g * v[a] * (T(1) - h[a] * h[a]);
    dq[a] += d;
    dk[a] += d;
    dv[a] += g * h[a];
  }
}

// forward:  hidden = tanh(qp[b,q,:] + kp[b,s,:]),  score[b,q,s] = v . hidden
// backward: dh = dscore[b,q,s] * v * (1 - hidden^2)
//           dqp[b,q,:] = sum_s dh     dkp[b,s,:] = sum_q dh     dv = sum_{b,q,s} dscore[b,q,s] * hidden
struct AdditiveScoreBackward : Node {
  SavedTensor hidden{this}, v{this};
  std::string name() const override { return "AdditiveScoreBackward"; }
  std::vector<Tensor> backward(const Tensor& ds_in) override {
    const Tensor hid = hidden(), vv = v();  // [B, Tq, S, A], [A]
    const Tensor ds = kernel::contiguous(ds_in);
    const int64_t B = hid.size(0), Tq = hid.size(1), S = hid.size(2), A = hid.size(3);
    const TensorOptions like{.dtype = hid.dtype()};
    Tensor dq = zeros({B, Tq, A}, like), dk = zeros({B, S, A}, like);
    Tensor dv_parts = zeros({B, A}, like);  // per batch row, summed at the end
    ProfileScope scope("additive_score", 6.0 * static_cast<double>(B * Tq * S * A));
    visit_floating(hid.dtype(), "AdditiveScoreBackward", [&]<class T>() {
      const T* pv = vv.data<T>();
      parallel_for(B, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(Tq * S * A, 1)), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          T* pdv = dv_parts.data<T>() + b * A;
          for (int64_t q = 0; q < Tq; ++q) {
            T* pdq = dq.data<T>() + (b * Tq + q) * A;
            for (int64_t s = 0; s < S; ++s) {
              const T g = ds.data<T>()[(b * Tq + q) * S + s];
              if (g == T(0)) continue;  // masked keys: softmax gave them no gradient
              const T* h = hid.data<T>() + ((b * Tq + q) * S + s) * A;
              additive_grad(g, pv, h, pdq, dk.data<T>() + (b * S + s) * A, pdv, A);
            }
          }
        }
      });
    });
    return {needs_grad(0) ? dq : Tensor(), needs_grad(1) ? dk : Tensor(),
            needs_grad(2) ? kernel::sum(dv_parts, {0}, false) : Tensor()};
  }
};

Tensor additive_score_fused(const Tensor& query_proj, const Tensor& keys_proj, const Tensor& v) {
  GG_CHECK(query_proj.defined() && keys_proj.defined() && v.defined(), "additive_score_fused: an input is undefined");
  GG_CHECK(query_proj.dim() == 3 && keys_proj.dim() == 3 && v.dim() == 1 && query_proj.size(0) == keys_proj.size(0) &&
               query_proj.size(2) == keys_proj.size(2) && v.size(0) == query_proj.size(2),
           "additive_score_fused: expected query_proj [B, Tq, A], keys_proj [B, S, A] and v [A], got {}, {} and {}",
           query_proj.shape(), keys_proj.shape(), v.shape());
  GG_CHECK(query_proj.is_floating_point() && keys_proj.dtype() == query_proj.dtype() && v.dtype() == query_proj.dtype(),
           "additive_score_fused: expected one float dtype, got {}, {} and {}", dtype_name(query_proj.dtype()),
           dtype_name(keys_proj.dtype()), dtype_name(v.dtype()));
  const int64_t B = query_proj.size(0), Tq = query_proj.size(1), S = keys_proj.size(1), A = v.size(0);
  const Tensor qp = kernel::contiguous(query_proj), kp = kernel::contiguous(keys_proj), vv = kernel::contiguous(v);
  const bool record = needs_grad(query_proj, keys_proj, v);
  // The hidden units are kept only when backward will need them; otherwise one row at a time.
  Tensor hidden = Tensor::empty(record ? Shape{B, Tq, S, A} : Shape{0}, qp.dtype());
  Tensor scores = Tensor::empty({B, Tq, S}, qp.dtype());
  {
    ProfileScope scope("additive_score", 3.0 * static_cast<double>(B * Tq * S * A));
    visit_floating(qp.dtype(), "additive_score_fused", [&]<class T>() {
      const T* pv = vv.data<T>();
      parallel_for(B * Tq, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(S * A, 1)), [&](int64_t r0, int64_t r1) {
        std::vector<T> scratch(record ? 0 : static_cast<size_t>(A));
        for (int64_t r = r0; r < r1; ++r) {  // r = b * Tq + q
          const int64_t b = r / Tq;
          const T* q = qp.data<T>() + r * A;
          for (int64_t s = 0; s < S; ++s) {
            T* h = record ? hidden.data<T>() + (r * S + s) * A : scratch.data();
            scores.data<T>()[r * S + s] = tanh_dot(q, kp.data<T>() + (b * S + s) * A, pv, h, A);
          }
        }
      });
    });
  }
  if (record) {
    auto node = std::make_shared<AdditiveScoreBackward>();
    node->hidden = hidden;
    node->v = vv;
    attach(scores, node, {query_proj, keys_proj, v});
  }
  return scores;
}

// ---- Scaled dot-product attention -------------------------------------------------------------
//
// For each (b, h), with Q [Tq, d], K [S, d], V [S, dv] that pair's rows:
//   forward:   P = softmax(scale * Q K^T) row by row over the unmasked keys,   O = P V
//   backward:  dV = P^T dO,   dP = dO V^T,   dS = P * (dP - rowsum(P * dP)) * scale,
//              dQ = dS K,     dK = dS^T Q
// Each product is one small_gemm (core/small_gemm.h) on the pair's rows in place; K (forward)
// and V (backward) are first transposed into a buffer whose rows are padded with zeros to a
// whole number of SIMD vectors, so that the [Tq, S] products run on full vectors for any S.
// Masked keys have P = 0, so they get no gradient.
namespace {

// The rows of a [B, h, T, width] tensor with a contiguous last dim, read in place.
template <class T>
struct HeadRows {
  T* base;
  int64_t sb, sh, st;
  explicit HeadRows(const Tensor& x) : base(x.data<T>()), sb(x.stride(0)), sh(x.stride(1)), st(x.stride(2)) {}
  T* row(int64_t b, int64_t h, int64_t t) const { return base + b * sb + h * sh + t * st; }
};

// The mask, read as if expanded to [B, h, Tq, S]; along S its stride is 0 (one value for the
// row) or 1.
struct MaskRows {
  const uint8_t* base = nullptr;  // null: no mask
  Strides st{0, 0, 0, 0};
  const uint8_t* row(int64_t b, int64_t h, int64_t i) const {
    return base ? base + b * st[0] + h * st[1] + i * st[2] : nullptr;
  }
};

// The weights of one query, float64: p[0, S) holds its scores q . k_j, scaled here; w receives
// the softmax over the keys m leaves visible (m null: all; stride_s 0: one value for the row).
// Rows with every key masked are zeros.
template <class T>
void scaled_masked_softmax(T* p, const uint8_t* m, int64_t stride_s, int64_t S, T scale, T* w) {
  for (int64_t j = 0; j < S; ++j) p[j] *= scale;
  if (m && stride_s == 0) {
    if (*m) {
      std::fill(w, w + S, T(0));
      return;
    }
    m = nullptr;
  }
  if (m) kernel::masked_softmax_row(p, reinterpret_cast<const bool*>(m), w, S);
  else kernel::softmax_row<false>(p, w, S);
}

// op (max or +) over the 8 lanes of x in three steps (halves, quarters, pairs), the result in
// every lane.
template <class Op>
fast::float8 across_lanes(fast::float8 x, Op op) {
  const fast::int32x8 swap4 = {4, 5, 6, 7, 0, 1, 2, 3}, swap2 = {2, 3, 0, 1, 6, 7, 4, 5},
                      swap1 = {1, 0, 3, 2, 5, 4, 7, 6};
  for (const fast::int32x8& order : {swap4, swap2, swap1}) x = op(x, __builtin_shuffle(x, order));
  return x;
}

// The float32 version, in place, on explicit 8-float vectors over the row padded to Sp (a
// multiple of 8; p[S, Sp) come out 0). Loops over p[0, S) left to the compiler peel scalar
// iterations to align the stores and ran the masked max one element at a time: 100-130 ns
// per 16-key row, more than the two products of its pair; this takes 29 ns.
void scaled_masked_softmax(float* p, const uint8_t* m, int64_t stride_s, int64_t S, int64_t Sp, float scale) {
  using fast::float8;
  using fast::int32x8;
  typedef uint8_t bytes8 __attribute__((vector_size(8)));
  const float8 low = float8{} - std::numeric_limits<float>::infinity();
  if (m && stride_s == 0) {
    if (*m) {
      std::fill(p, p + Sp, 0.0f);
      return;
    }
    m = nullptr;
  }
  const int32x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  float8 mx = low;
  for (int64_t j = 0; j < Sp; j += 8) {
    float8 x;
    std::memcpy(&x, p + j, sizeof x);
    int32x8 hide = lane + static_cast<int32_t>(j) >= static_cast<int32_t>(S);  // the padding
    if (m && j < S) {
      bytes8 mb{};
      if (j + 8 <= S) std::memcpy(&mb, m + j, sizeof mb);  // one load
      else for (int64_t l = 0; l < S - j; ++l) mb[l] = m[j + l];  // never past the mask's row
      hide |= __builtin_convertvector(mb, int32x8) != 0;
    }
    x = hide ? low : x * scale;
    std::memcpy(p + j, &x, sizeof x);
    mx = x > mx ? x : mx;
  }
  mx = across_lanes(mx, [](float8 a, float8 b) { return a > b ? a : b; });
  const float top = mx[0];
  if (top == low[0] && (S == 0 || (m && std::find(m, m + S, uint8_t{0}) == m + S))) {  // every key masked
    std::fill(p, p + Sp, 0.0f);
    return;
  }
  float8 total{};
  for (int64_t j = 0; j < Sp; j += 8) {
    float8 x;
    std::memcpy(&x, p + j, sizeof x);
    x = fast::exp(x - mx);
    std::memcpy(p + j, &x, sizeof x);
    total += x;
  }
  const float8 inv = 1.0f / across_lanes(total, [](float8 a, float8 b) { return a + b; });
  for (int64_t j = 0; j < Sp; j += 8) {
    float8 x;
    std::memcpy(&x, p + j, sizeof x);
    x *= inv;
    std::memcpy(p + j, &x, sizeof x);
  }
}

// dS = P * (dP - sum_j P_j dP_j) * scale over a padded row (P is 0 in the padding, so dS is too);
// ds holds dP on entry. On 8-float vectors for float32, for the same reason as the softmax.
template <class T>
void softmax_grad_row(const T* __restrict p, T* __restrict ds, int64_t Sp, T scale) {
  if constexpr (std::is_same_v<T, float>) {
    using fast::float8;
    float8 acc{};
    for (int64_t j = 0; j < Sp; j += 8) {
      float8 x, g;
      std::memcpy(&x, p + j, sizeof x);
      std::memcpy(&g, ds + j, sizeof g);
      acc += x * g;
    }
    const float8 sum = across_lanes(acc, [](float8 a, float8 b) { return a + b; });
    for (int64_t j = 0; j < Sp; j += 8) {
      float8 x, g;
      std::memcpy(&x, p + j, sizeof x);
      std::memcpy(&g, ds + j, sizeof g);
      g = x * (g - sum) * scale;
      std::memcpy(ds + j, &g, sizeof g);
    }
  } else {
    T sum = 0;
    for (int64_t j = 0; j < Sp; ++j) sum += p[j] * ds[j];
    for (int64_t j = 0; j < Sp; ++j) ds[j] = p[j] * (ds[j] - sum) * scale;
  }
}

// Pairs (b, h) per parallel chunk: about kParallelGrain multiply-adds.
int64_t pair_grain(int64_t Tq, int64_t S, int64_t d, int64_t dv) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(Tq * S * (d + dv), 1));
}

// S rounded up to whole SIMD vectors of T.
template <class T>
int64_t padded(int64_t S) {
  constexpr int64_t L = kernel::Simd<T>::L;
  return (S + L - 1) / L * L;
}

// An 8 x 8 block of floats transposed in registers: rows r[0..8) become columns, in three
// rounds of shuffles (pairs of rows interleaved, then pairs of pairs, then the two halves).
inline void transpose8x8(fast::float8 r[8]) {
  using fast::int32x8;
  fast::float8 t[8], u[8];
  const int32x8 lo1 = {0, 8, 1, 9, 4, 12, 5, 13}, hi1 = {2, 10, 3, 11, 6, 14, 7, 15};
  const int32x8 lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
  const int32x8 lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shuffle(r[i], r[i + 1], lo1);
    t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi1);
  }
  for (int i = 0; i < 8; i += 4)
    for (int k = 0; k < 2; ++k) {
      u[i + 2 * k] = __builtin_shuffle(t[i + k], t[i + k + 2], lo2);
      u[i + 2 * k + 1] = __builtin_shuffle(t[i + k], t[i + k + 2], hi2);
    }
  for (int k = 0; k < 4; ++k) {
    r[k] = __builtin_shuffle(u[k], u[k + 4], lo4);
    r[k + 4] = __builtin_shuffle(u[k], u[k + 4], hi4);
  }
}

// x's rows [0, S) of width w (row stride ldx), transposed into out [w, ld]; columns [S, ld) of
// out are zeroed. float32 goes 8 x 8 blocks at a time; one scalar store per element would
// write 8 cache lines for every 8 floats read.
template <class T>
void transpose_rows(const T* x, int64_t ldx, int64_t S, int64_t w, T* out, int64_t ld) {
  int64_t j0 = 0, c0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (j0 = 0; j0 + 8 <= S; j0 += 8)
      for (c0 = 0; c0 + 8 <= w; c0 += 8) {
        fast::float8 r[8];
        for (int l = 0; l < 8; ++l) std::memcpy(&r[l], x + (j0 + l) * ldx + c0, sizeof r[l]);
        transpose8x8(r);
        for (int l = 0; l < 8; ++l) std::memcpy(out + (c0 + l) * ld + j0, &r[l], sizeof r[l]);
      }
    if (c0 < w)  // columns left over in the blocked rows
      for (int64_t j = 0; j < j0; ++j)
        for (int64_t c = c0; c < w; ++c) out[c * ld + j] = x[j * ldx + c];
  }
  for (int64_t j = j0; j < S; ++j) {  // rows left over (all of them for float64)
    const T* xj = x + j * ldx;
    for (int64_t c = 0; c < w; ++c) out[c * ld + j] = xj[c];
  }
  if (S < ld)
    for (int64_t c = 0; c < w; ++c) std::fill(out + c * ld + S, out + (c + 1) * ld, T(0));
}

// One thread's scratch for pairs of up to Tq queries and S keys with heads up to w wide: K^T
// (forward) or V^T (backward) padded to whole vectors, the pair's scores, one row of P.
template <class T>
struct PairScratch {
  std::vector<T> kt, s, pi, pd;  // pd: P with dropout applied, for dV (backward with dropout only)
  PairScratch(int64_t Tq, int64_t S, int64_t w)
      : kt(static_cast<size_t>(w * padded<T>(S))), s(static_cast<size_t>(Tq * padded<T>(S))),
        pi(static_cast<size_t>(padded<T>(S))) {}
};

// Where a pair's matrices are: each a first row and a row stride (the rows of a head are
// strided views of a wider tensor).
template <class T>
struct Rows {
  T* at;
  int64_t ld;
};

// One (batch row, head) pair forward: Q [nq, d], K [nk, d], V [nk, dv] -> P [nq, nk], O [nq, dv].
// mask_row(i) gives query i's mask over the nk keys (null: none) and its stride along them;
// drop_row(i) its dropout factors (keep / (1 - p)) over the keys, or null for no dropout: O is
// then (P * D) V, and P is kept without them.
template <class T, class MaskRow, class DropRow>
void pair_forward(int64_t nq, int64_t nk, int64_t d, int64_t dv, Rows<const T> q, Rows<const T> k, Rows<const T> v,
                  const MaskRow& mask_row, const DropRow& drop_row, T scale, Rows<T> p, Rows<T> o,
                  PairScratch<T>& w) {
  const int64_t Sp = padded<T>(nk);
  T* s = w.s.data();
  transpose_rows(k.at, k.ld, nk, d, w.kt.data(), Sp);
  kernel::small_gemm(nq, Sp, d, q.at, q.ld, 1, w.kt.data(), Sp, s, Sp);  // Q K^T
  for (int64_t i = 0; i < nq; ++i) {
    T* si = s + i * Sp;
    T* pi = p.at + i * p.ld;
    const auto [mi, ms] = mask_row(i);
    if constexpr (std::is_same_v<T, float>) {
      scaled_masked_softmax(si, mi, ms, nk, Sp, scale);
      std::copy(si, si + nk, pi);
    } else {
      scaled_masked_softmax(si, mi, ms, nk, scale, pi);
      std::copy(pi, pi + nk, si);  // the weighted sum below reads si
    }
    if (const T* di = drop_row(i))
      for (int64_t j = 0; j < nk; ++j) si[j] *= di[j];
  }
  kernel::small_gemm(nq, dv, nk, s, Sp, 1, v.at, v.ld, o.at, o.ld);  // O = P V
}

// Its backward: dO [nq, dv] -> dQ [nq, d], dK [nk, d], dV [nk, dv], each overwritten. With
// dropout D: dV = (P * D)^T dO, and the softmax's backward gets dP = (dO V^T) * D.
template <class T, class DropRow>
void pair_backward(int64_t nq, int64_t nk, int64_t d, int64_t dv, Rows<const T> q, Rows<const T> k, Rows<const T> v,
                   Rows<const T> p, Rows<const T> dout, const DropRow& drop_row, T scale, Rows<T> dq, Rows<T> dk,
                   Rows<T> dv_out, PairScratch<T>& w) {
  const int64_t Sp = padded<T>(nk);
  T* ds = w.s.data();
  T* pi = w.pi.data();  // a row of P, padded with zeros
  transpose_rows(v.at, v.ld, nk, dv, w.kt.data(), Sp);
  kernel::small_gemm(nq, Sp, dv, dout.at, dout.ld, 1, w.kt.data(), Sp, ds, Sp);  // dP = dO V^T
  std::fill(pi + nk, pi + Sp, T(0));
  const bool dropping = nq > 0 && drop_row(0) != nullptr;
  if (dropping) w.pd.resize(static_cast<size_t>(nq * nk));
  for (int64_t i = 0; i < nq; ++i) {  // dS, in place of dP
    const T* pr = p.at + i * p.ld;
    std::copy(pr, pr + nk, pi);
    if (dropping) {
      const T* di = drop_row(i);
      T* dsi = ds + i * Sp;
      T* pdi = w.pd.data() + i * nk;
      for (int64_t j = 0; j < nk; ++j) {
        dsi[j] *= di[j];
        pdi[j] = pr[j] * di[j];
      }
    }
    softmax_grad_row(pi, ds + i * Sp, Sp, scale);
  }
  kernel::small_gemm(nq, d, nk, ds, Sp, 1, k.at, k.ld, dq.at, dq.ld);  // dQ = dS K
  kernel::small_gemm(nk, d, nq, ds, 1, Sp, q.at, q.ld, dk.at, dk.ld);  // dK = dS^T Q
  if (dropping)  // dV = (P * D)^T dO
    kernel::small_gemm(nk, dv, nq, w.pd.data(), 1, nk, dout.at, dout.ld, dv_out.at, dv_out.ld);
  else  // dV = P^T dO
    kernel::small_gemm(nk, dv, nq, p.at, 1, p.ld, dout.at, dout.ld, dv_out.at, dv_out.ld);
}

// Rows read in place need a contiguous last dim; anything else is copied first.
Tensor unit_last_stride(const Tensor& x) { return x.stride(-1) == 1 ? x : kernel::contiguous(x); }

}  // namespace

struct AttentionBackward : Node {
  SavedTensor q{this}, k{this}, v{this}, p{this};  // p: the weights [B, h, Tq, S], contiguous
  SavedTensor drop{this};                          // dropout factors [B, h, Tq, S], or undefined
  double scale = 1;
  std::string name() const override { return "AttentionBackward"; }
  std::vector<Tensor> backward(const Tensor& dout_in) override {
    const Tensor qs = q(), ks = k(), vs = v(), ps = p(), ds = drop();
    const Tensor dout = unit_last_stride(dout_in);  // [B, h, Tq, dv]
    const int64_t B = qs.size(0), H = qs.size(1), Tq = qs.size(2), d = qs.size(3), S = ks.size(2), dv = vs.size(3);
    // The gradients in the inputs' layout: split_heads' views of [B, T, h, d] get [B, T, h, d]
    // tensors back, which its reshape's backward reads as views (a [B, h, T, d] one it copied).
    auto like = [](const Tensor& x, int64_t width) {
      const int64_t b = x.size(0), h = x.size(1), t = x.size(2);
      if (x.stride(1) < x.stride(2)) return Tensor::empty({b, t, h, width}, x.dtype()).permute({0, 2, 1, 3});
      return Tensor::empty({b, h, t, width}, x.dtype());
    };
    Tensor dq = like(qs, d), dk = like(ks, d), dvv = like(vs, dv);
    ProfileScope scope("attention", 4.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
    visit_floating(qs.dtype(), "AttentionBackward", [&]<class T>() {
      const HeadRows<T> Q(qs), K(ks), V(vs), P(ps), dO(dout), dQ(dq), dK(dk), dV(dvv);
      parallel_for(B * H, pair_grain(Tq, S, d, dv), [&](int64_t first, int64_t last) {
        PairScratch<T> w(Tq, S, std::max(d, dv));
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / H, h = pair % H;
          auto in = [&](const HeadRows<T>& x) { return Rows<const T>{x.row(b, h, 0), x.st}; };
          auto out = [&](const HeadRows<T>& x) { return Rows<T>{x.row(b, h, 0), x.st}; };
          auto drop_row = [&](int64_t i) -> const T* {
            return ds.defined() ? ds.data<T>() + ((b * H + h) * Tq + i) * S : nullptr;
          };
          pair_backward<T>(Tq, S, d, dv, in(Q), in(K), in(V), in(P), in(dO), drop_row, static_cast<T>(scale), out(dQ),
                           out(dK), out(dV), w);
        }
      });
    });
    return {needs_grad(0) ? dq : Tensor(), needs_grad(1) ? dk : Tensor(), needs_grad(2) ? dvv : Tensor()};
  }
};

// Dropout factors for scores of shape `full` ([B, h, Tq, S]): contiguous, of dtype, or an error
// that names the op.
Tensor dropout_factors(const Tensor& drop, const Shape& full, DType dtype, const char* op) {
  if (!drop.defined()) return drop;
  GG_CHECK(drop.dtype() == dtype && drop.shape() == full,
           "{}: dropout must be {} factors of the scores' shape {} (nn::functional::dropout_scale), got {} {}", op,
           dtype_name(dtype), full, dtype_name(drop.dtype()), drop.shape());
  return kernel::contiguous(drop);
}

Tensor attention_fused(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& mask_in,
                       double scale, Tensor* weights, const Tensor& dropout) {
  GG_CHECK(q_in.defined() && k_in.defined() && v_in.defined(), "attention_fused: an input is undefined");
  GG_CHECK(q_in.dim() == 4 && k_in.dim() == 4 && v_in.dim() == 4 && k_in.size(0) == q_in.size(0) &&
               v_in.size(0) == q_in.size(0) && k_in.size(1) == q_in.size(1) && v_in.size(1) == q_in.size(1) &&
               k_in.size(3) == q_in.size(3) && v_in.size(2) == k_in.size(2),
           "attention_fused: expected q [B, h, Tq, d], k [B, h, S, d] and v [B, h, S, dv], got {}, {} and {}",
           q_in.shape(), k_in.shape(), v_in.shape());
  GG_CHECK(q_in.is_floating_point() && k_in.dtype() == q_in.dtype() && v_in.dtype() == q_in.dtype(),
           "attention_fused: expected one float dtype, got {}, {} and {}", dtype_name(q_in.dtype()),
           dtype_name(k_in.dtype()), dtype_name(v_in.dtype()));
  const int64_t B = q_in.size(0), H = q_in.size(1), Tq = q_in.size(2), d = q_in.size(3), S = k_in.size(2),
                dv = v_in.size(3);
  const Shape full{B, H, Tq, S};
  MaskRows mask;
  Tensor mask_t;  // keeps a copied mask alive
  if (mask_in.defined()) {
    GG_CHECK(mask_in.dtype() == DType::Bool && mask_in.dim() <= 4 &&
                 broadcast_shapes(full, mask_in.shape(), "attention_fused") == full,
             "attention_fused: the mask must be bool and broadcast to the scores' shape {}, got {} {}", full,
             dtype_name(mask_in.dtype()), mask_in.shape());
    mask_t = broadcast_strides(mask_in.shape(), mask_in.strides(), full).back() > 1 ? kernel::contiguous(mask_in)
                                                                                    : mask_in;
    mask.base = reinterpret_cast<const uint8_t*>(mask_t.data<bool>());
    mask.st = broadcast_strides(mask_t.shape(), mask_t.strides(), full);
  }
  const Tensor q = unit_last_stride(q_in), k = unit_last_stride(k_in), v = unit_last_stride(v_in);
  const Tensor drop = dropout_factors(dropout, full, q.dtype(), "attention_fused");
  Tensor out = Tensor::empty({B, Tq, H, dv}, q.dtype());
  Tensor p = Tensor::empty(full, q.dtype());
  {
    ProfileScope scope("attention", 2.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
    visit_floating(q.dtype(), "attention_fused", [&]<class T>() {
      const HeadRows<T> Q(q), K(k), V(v), P(p);
      T* po = out.data<T>();
      parallel_for(B * H, pair_grain(Tq, S, d, dv), [&](int64_t first, int64_t last) {
        PairScratch<T> w(Tq, S, d);
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / H, h = pair % H;
          auto in = [&](const HeadRows<T>& x) { return Rows<const T>{x.row(b, h, 0), x.st}; };
          auto mask_row = [&](int64_t i) {
            return std::pair<const uint8_t*, int64_t>{mask.row(b, h, i), mask.base ? mask.st[3] : 1};
          };
          auto drop_row = [&](int64_t i) -> const T* {
            return drop.defined() ? drop.data<T>() + ((b * H + h) * Tq + i) * S : nullptr;
          };
          pair_forward<T>(Tq, S, d, dv, in(Q), in(K), in(V), mask_row, drop_row, static_cast<T>(scale),
                          Rows<T>{P.row(b, h, 0), P.st}, Rows<T>{po + (b * Tq * H + h) * dv, H * dv}, w);
        }
      });
    });
  }
  if (weights) *weights = p;
  Tensor y = out.permute({0, 2, 1, 3});  // [B, h, Tq, dv]
  if (needs_grad(q_in, k_in, v_in)) {
    auto node = std::make_shared<AttentionBackward>();
    node->q = q;
    node->k = k;
    node->v = v;
    node->p = p;
    node->drop = drop;
    node->scale = scale;
    attach(y, node, {q_in, k_in, v_in});
  }
  return y;
}

// ---- the same attention on packed rows ---------------------------------------------------------

namespace {

// Which rows of the packed tensors each batch row owns, and where its weights go.
struct PackedLayout {
  int64_t B = 0, H = 0, d = 0, dv = 0, q_col = 0, k_col = 0, v_col = 0;
  std::vector<int64_t> q_start, k_start;  // B + 1 each: batch row b has rows [start[b], start[b + 1])
  std::vector<int64_t> q_pos, k_pos;      // each row's position t in its sequence
  std::vector<int64_t> p_start;           // B + 1: offset of batch row b's weights [H, nq, nk]
  int64_t max_q = 0, max_k = 0;
  int64_t Tq = 0, S = 0;  // the padded lengths, by which masks and dropout factors are laid out
  int64_t nq(int64_t b) const { return q_start[b + 1] - q_start[b]; }
  int64_t nk(int64_t b) const { return k_start[b + 1] - k_start[b]; }
  // The row of query i of sequence b, head h, in a [.., Tq, S] tensor laid out by position
  // (pair_stride apart per (b, h); 0: one [Tq, S] for all), over that sequence's keys: read in
  // place when they sit at positions 0 .. nk - 1, gathered into `buffer` otherwise.
  template <class E>
  const E* by_position(const E* base, int64_t pair_stride, int64_t b, int64_t h, int64_t i, E* buffer) const {
    const int64_t kr = k_start[b], n = nk(b);
    const E* row = base + (b * H + h) * pair_stride + q_pos[q_start[b] + i] * S;
    if (n == 0 || k_pos[kr + n - 1] == n - 1) return row;  // positions increase: these are 0 .. n - 1
    for (int64_t j = 0; j < n; ++j) buffer[j] = row[k_pos[kr + j]];
    return buffer;
  }
};

// rows.index -> start (B + 1) and position per row, after checking that it is what
// nn::Packing makes: increasing flat positions b * T + t below B * T, one per row of src.
void split_rows(const PackedRows& rows, int64_t n, const char* which, std::vector<int64_t>& start,
                std::vector<int64_t>& pos) {
  GG_CHECK(rows.index.defined() && rows.index.dtype() == DType::Int64 && rows.index.dim() == 1 &&
               rows.index.numel() == n && rows.B >= 0 && rows.T >= 0,
           "attention_packed: {} rows must index its {} rows with int64 [{}], got {} {} (B = {}, T = {})", which, which,
           n, rows.index.defined() ? dtype_name(rows.index.dtype()) : "undefined",
           rows.index.defined() ? rows.index.shape() : Shape{}, rows.B, rows.T);
  const std::vector<int64_t> index = rows.index.to_vector<int64_t>();
  start.assign(static_cast<size_t>(rows.B + 1), 0);
  pos.resize(index.size());
  for (size_t i = 0; i < index.size(); ++i) {
    GG_CHECK(index[i] >= 0 && index[i] < rows.B * rows.T && (i == 0 || index[i] > index[i - 1]),
             "attention_packed: {} rows: index[{}] = {} is not an increasing flat position b * T + t below B * T = "
             "{} * {}",
             which, i, index[i], rows.B, rows.T);
    ++start[static_cast<size_t>(index[i] / rows.T + 1)];
    pos[i] = index[i] % rows.T;
  }
  for (int64_t b = 0; b < rows.B; ++b) start[b + 1] += start[b];
}

}  // namespace

struct PackedAttentionBackward : Node {
  SavedTensor q_src{this}, kv_src{this}, p{this};
  SavedTensor drop{this};  // dropout factors [B, h, Tq, S] by position, or undefined
  PackedLayout layout;
  double scale = 1;
  bool one_source = false;  // q and k, v columns of one tensor: one input, one gradient
  std::string name() const override { return "PackedAttentionBackward"; }
  std::vector<Tensor> backward(const Tensor& dout_in) override {
    const Tensor qs = q_src(), kvs = one_source ? qs : kv_src(), ps = p(), dr = drop();
    const Tensor dout = kernel::contiguous(dout_in);  // [Nq, H * dv]
    const PackedLayout& L = layout;
    // The gradients of the sources: every column q, k and v do not cover is zero.
    auto gradient = [&](const Tensor& src, std::initializer_list<int64_t> widths) {
      int64_t covered = 0;
      for (int64_t w : widths) covered += w;
      return covered == src.size(1) ? Tensor::empty(src.shape(), src.dtype()) : zeros(src.shape(), {.dtype = src.dtype()});
    };
    Tensor gq, gkv;
    if (one_source) gq = gkv = gradient(qs, {L.H * L.d, L.H * L.d, L.H * L.dv});
    else gq = gradient(qs, {L.H * L.d}), gkv = gradient(kvs, {L.H * L.d, L.H * L.dv});
    double flops = 0;
    for (int64_t b = 0; b < L.B; ++b) flops += 4.0 * static_cast<double>(L.H * L.nq(b) * L.nk(b) * (L.d + L.dv));
    ProfileScope scope("attention", flops);
    visit_floating(qs.dtype(), "PackedAttentionBackward", [&]<class T>() {
      const T *q = qs.data<T>(), *kv = kvs.data<T>(), *pw = ps.data<T>(), *go = dout.data<T>();
      T *dq = gq.data<T>(), *dkv = gkv.data<T>();
      const int64_t ldq = qs.stride(0), ldkv = kvs.stride(0), ldo = L.H * L.dv, lgq = gq.size(1), lgkv = gkv.size(1);
      parallel_for(L.B * L.H, pair_grain(L.max_q, L.max_k, L.d, L.dv), [&](int64_t first, int64_t last) {
        PairScratch<T> w(L.max_q, L.max_k, std::max(L.d, L.dv));
        std::vector<T> gathered(static_cast<size_t>(L.max_k));
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / L.H, h = pair % L.H, nq = L.nq(b), nk = L.nk(b);
          const int64_t qr = L.q_start[b], kr = L.k_start[b];
          auto drop_row = [&](int64_t i) {
            return dr.defined() ? L.by_position<T>(dr.data<T>(), L.Tq * L.S, b, h, i, gathered.data()) : nullptr;
          };
          pair_backward<T>(nq, nk, L.d, L.dv, {q + qr * ldq + L.q_col + h * L.d, ldq},
                           {kv + kr * ldkv + L.k_col + h * L.d, ldkv}, {kv + kr * ldkv + L.v_col + h * L.dv, ldkv},
                           {pw + L.p_start[b] + h * nq * nk, nk}, {go + qr * ldo + h * L.dv, ldo}, drop_row,
                           static_cast<T>(scale),
                           {dq + qr * lgq + L.q_col + h * L.d, lgq}, {dkv + kr * lgkv + L.k_col + h * L.d, lgkv},
                           {dkv + kr * lgkv + L.v_col + h * L.dv, lgkv}, w);
        }
      });
    });
    if (one_source) return {needs_grad(0) ? gq : Tensor()};
    return {needs_grad(0) ? gq : Tensor(), needs_grad(1) ? gkv : Tensor()};
  }
};

Tensor attention_packed(const Tensor& q_src_in, int64_t q_col, const Tensor& kv_src_in, int64_t k_col, int64_t v_col,
                        int64_t heads, int64_t head_dim, const PackedRows& q_rows, const PackedRows& k_rows,
                        const Tensor& attn_mask, double scale, const Tensor& dropout) {
  GG_CHECK(q_src_in.defined() && kv_src_in.defined(), "attention_packed: an input is undefined");
  GG_CHECK(q_src_in.dim() == 2 && kv_src_in.dim() == 2 && q_src_in.is_floating_point() &&
               kv_src_in.dtype() == q_src_in.dtype(),
           "attention_packed: expected the packed projections [N, width] in one float dtype, got {} {} and {} {}",
           dtype_name(q_src_in.dtype()), q_src_in.shape(), dtype_name(kv_src_in.dtype()), kv_src_in.shape());
  const int64_t H = heads, d = head_dim, E = heads * head_dim;
  const bool one_source = q_src_in.storage() == kv_src_in.storage() && q_src_in.offset() == kv_src_in.offset() &&
                          q_src_in.shape() == kv_src_in.shape() && q_src_in.strides() == kv_src_in.strides() &&
                          q_src_in.autograd_meta == kv_src_in.autograd_meta;
  auto fits = [&](int64_t col, const Tensor& src) { return col >= 0 && col + E <= src.size(1); };
  auto apart = [&](int64_t a, int64_t b) { return a + E <= b || b + E <= a; };
  GG_CHECK(heads > 0 && head_dim > 0 && fits(q_col, q_src_in) && fits(k_col, kv_src_in) && fits(v_col, kv_src_in) &&
               apart(k_col, v_col) && (!one_source || (apart(q_col, k_col) && apart(q_col, v_col))),
           "attention_packed: {} heads of {} columns at q_col {}, k_col {}, v_col {} do not fit q {} and k, v {} (or "
           "overlap in one tensor)",
           heads, head_dim, q_col, k_col, v_col, q_src_in.shape(), kv_src_in.shape());
  GG_CHECK(q_rows.B == k_rows.B, "attention_packed: the queries come from {} sequences, the keys from {}", q_rows.B,
           k_rows.B);
  PackedLayout L;
  L.B = q_rows.B, L.H = H, L.d = d, L.dv = d, L.q_col = q_col, L.k_col = k_col, L.v_col = v_col;
  split_rows(q_rows, q_src_in.size(0), "query", L.q_start, L.q_pos);
  split_rows(k_rows, kv_src_in.size(0), "key", L.k_start, L.k_pos);
  L.p_start.assign(static_cast<size_t>(L.B + 1), 0);
  for (int64_t b = 0; b < L.B; ++b) {
    L.p_start[b + 1] = L.p_start[b] + H * L.nq(b) * L.nk(b);
    L.max_q = std::max(L.max_q, L.nq(b));
    L.max_k = std::max(L.max_k, L.nk(b));
  }
  const int64_t Tq = q_rows.T, S = k_rows.T;
  L.Tq = Tq, L.S = S;
  Tensor mask;  // bool [Tq, S] or [B * H, Tq, S], by position
  if (attn_mask.defined()) {
    GG_CHECK(attn_mask.dtype() == DType::Bool &&
                 (attn_mask.shape() == Shape({Tq, S}) || attn_mask.shape() == Shape({L.B * H, Tq, S})),
             "attention_packed: attn_mask must be bool [Tq, S] = [{}, {}] or [B * heads, Tq, S] = [{}, {}, {}], got "
             "{} {}",
             Tq, S, L.B * H, Tq, S, dtype_name(attn_mask.dtype()), attn_mask.shape());
    mask = kernel::contiguous(attn_mask);
  }
  const Tensor q_src = unit_last_stride(q_src_in), kv_src = one_source ? q_src : unit_last_stride(kv_src_in);
  const Tensor drop = dropout_factors(dropout, {L.B, H, Tq, S}, q_src.dtype(), "attention_packed");
  Tensor out = Tensor::empty({q_src.size(0), H * d}, q_src.dtype());
  Tensor p = Tensor::empty({L.p_start[L.B]}, q_src.dtype());
  {
    double flops = 0;
    for (int64_t b = 0; b < L.B; ++b) flops += 2.0 * static_cast<double>(H * L.nq(b) * L.nk(b) * 2 * d);
    ProfileScope scope("attention", flops);
    const uint8_t* mask_base = mask.defined() ? reinterpret_cast<const uint8_t*>(mask.data<bool>()) : nullptr;
    const int64_t mask_head = mask.defined() && mask.dim() == 3 ? Tq * S : 0;
    visit_floating(q_src.dtype(), "attention_packed", [&]<class T>() {
      const T *q = q_src.data<T>(), *kv = kv_src.data<T>();
      T *po = out.data<T>(), *pw = p.data<T>();
      const int64_t ldq = q_src.stride(0), ldkv = kv_src.stride(0), ldo = H * d;
      parallel_for(L.B * H, pair_grain(L.max_q, L.max_k, d, d), [&](int64_t first, int64_t last) {
        PairScratch<T> w(L.max_q, L.max_k, d);
        std::vector<uint8_t> mask_gathered(static_cast<size_t>(L.max_k));
        std::vector<T> drop_gathered(static_cast<size_t>(L.max_k));
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / H, h = pair % H, nq = L.nq(b), nk = L.nk(b);
          const int64_t qr = L.q_start[b], kr = L.k_start[b];
          auto mask_row = [&](int64_t i) -> std::pair<const uint8_t*, int64_t> {
            if (!mask_base) return {nullptr, 1};
            return {L.by_position<uint8_t>(mask_base, mask_head, b, h, i, mask_gathered.data()), 1};
          };
          auto drop_row = [&](int64_t i) -> const T* {
            return drop.defined() ? L.by_position<T>(drop.data<T>(), Tq * S, b, h, i, drop_gathered.data()) : nullptr;
          };
          pair_forward<T>(nq, nk, d, d, {q + qr * ldq + q_col + h * d, ldq}, {kv + kr * ldkv + k_col + h * d, ldkv},
                          {kv + kr * ldkv + v_col + h * d, ldkv}, mask_row, drop_row, static_cast<T>(scale),
                          {pw + L.p_start[b] + h * nq * nk, nk}, {po + qr * ldo + h * d, ldo}, w);
        }
      });
    });
  }
  const bool grad = one_source ? needs_grad(q_src_in) : needs_grad(q_src_in, kv_src_in);
  if (grad) {
    auto node = std::make_shared<PackedAttentionBackward>();
    node->q_src = q_src;
    if (!one_source) node->kv_src = kv_src;
    node->p = p;
    node->drop = drop;
    node->layout = std::move(L);
    node->scale = scale;
    node->one_source = one_source;
    if (one_source) attach(out, node, {q_src_in});
    else attach(out, node, {q_src_in, kv_src_in});
  }
  return out;
}

}  // namespace gg
