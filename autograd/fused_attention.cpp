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
              T* pdk = dk.data<T>() + (b * S + s) * A;
              for (int64_t a = 0; a < A; ++a) {
                const T d = g * pv[a] * (T(1) - h[a] * h[a]);
                pdq[a] += d;
                pdk[a] += d;
                pdv[a] += g * h[a];
              }
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

// x's rows [0, S) of width w, transposed into out [w, ld] (columns past S stay as they are: zero).
// float32 goes 8 x 8 blocks at a time; one scalar store per element would write 8 cache lines
// for every 8 floats read.
template <class T>
void transpose_rows(const HeadRows<T>& x, int64_t b, int64_t h, int64_t S, int64_t w, T* out, int64_t ld) {
  int64_t j0 = 0, c0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (j0 = 0; j0 + 8 <= S; j0 += 8)
      for (c0 = 0; c0 + 8 <= w; c0 += 8) {
        fast::float8 r[8];
        for (int l = 0; l < 8; ++l) std::memcpy(&r[l], x.row(b, h, j0 + l) + c0, sizeof r[l]);
        transpose8x8(r);
        for (int l = 0; l < 8; ++l) std::memcpy(out + (c0 + l) * ld + j0, &r[l], sizeof r[l]);
      }
    if (c0 < w)  // columns left over in the blocked rows
      for (int64_t j = 0; j < j0; ++j)
        for (int64_t c = c0; c < w; ++c) out[c * ld + j] = x.row(b, h, j)[c];
  }
  for (int64_t j = j0; j < S; ++j) {  // rows left over (all of them for float64)
    const T* xj = x.row(b, h, j);
    for (int64_t c = 0; c < w; ++c) out[c * ld + j] = xj[c];
  }
}

}  // namespace

struct AttentionBackward : Node {
  SavedTensor q{this}, k{this}, v{this}, p{this};  // p: the weights [B, h, Tq, S], contiguous
  double scale = 1;
  std::string name() const override { return "AttentionBackward"; }
  std::vector<Tensor> backward(const Tensor& dout_in) override {
    const Tensor qs = q(), ks = k(), vs = v(), ps = p();
    const Tensor dout = dout_in.stride(3) == 1 ? dout_in : kernel::contiguous(dout_in);  // [B, h, Tq, dv]
    const int64_t B = qs.size(0), H = qs.size(1), Tq = qs.size(2), d = qs.size(3), S = ks.size(2), dv = vs.size(3);
    Tensor dq = Tensor::empty({B, H, Tq, d}, qs.dtype()), dk = Tensor::empty({B, H, S, d}, qs.dtype()),
           dvv = Tensor::empty({B, H, S, dv}, qs.dtype());
    ProfileScope scope("attention", 4.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
    visit_floating(qs.dtype(), "AttentionBackward", [&]<class T>() {
      const HeadRows<T> Q(qs), K(ks), V(vs), P(ps), dO(dout), dQ(dq), dK(dk), dV(dvv);
      const T sc = static_cast<T>(scale);
      const int64_t Sp = padded<T>(S);
      parallel_for(B * H, pair_grain(Tq, S, d, dv), [&](int64_t first, int64_t last) {
        std::vector<T> vt(static_cast<size_t>(dv * Sp), T(0)), ds(static_cast<size_t>(Tq * Sp));
        std::vector<T> pi(static_cast<size_t>(Sp), T(0));  // a row of P, padded with zeros
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / H, h = pair % H;
          transpose_rows(V, b, h, S, dv, vt.data(), Sp);
          kernel::small_gemm(Tq, Sp, dv, dO.row(b, h, 0), dO.st, 1, vt.data(), Sp, ds.data(), Sp);  // dP
          for (int64_t i = 0; i < Tq; ++i) {  // dS, in place of dP
            std::copy(P.row(b, h, i), P.row(b, h, i) + S, pi.data());  // padded with zeros
            softmax_grad_row(pi.data(), ds.data() + i * Sp, Sp, sc);
          }
          kernel::small_gemm(Tq, d, S, ds.data(), Sp, 1, K.row(b, h, 0), K.st, dQ.row(b, h, 0), dQ.st);
          kernel::small_gemm(S, d, Tq, ds.data(), 1, Sp, Q.row(b, h, 0), Q.st, dK.row(b, h, 0), dK.st);
          kernel::small_gemm(S, dv, Tq, P.row(b, h, 0), 1, P.st, dO.row(b, h, 0), dO.st, dV.row(b, h, 0), dV.st);
        }
      });
    });
    return {needs_grad(0) ? dq : Tensor(), needs_grad(1) ? dk : Tensor(), needs_grad(2) ? dvv : Tensor()};
  }
};

Tensor attention_fused(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& mask_in,
                       double scale, Tensor* weights) {
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
  // Rows are read in place; only a last dim with a stride is copied.
  auto rows = [](const Tensor& x) { return x.stride(3) == 1 ? x : kernel::contiguous(x); };
  const Tensor q = rows(q_in), k = rows(k_in), v = rows(v_in);
  Tensor out = Tensor::empty({B, Tq, H, dv}, q.dtype());
  Tensor p = Tensor::empty(full, q.dtype());
  {
    ProfileScope scope("attention", 2.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
    visit_floating(q.dtype(), "attention_fused", [&]<class T>() {
      const HeadRows<T> Q(q), K(k), V(v), P(p);
      const T sc = static_cast<T>(scale);
      const int64_t Sp = padded<T>(S);
      T* po = out.data<T>();
      parallel_for(B * H, pair_grain(Tq, S, d, dv), [&](int64_t first, int64_t last) {
        std::vector<T> kt(static_cast<size_t>(d * Sp), T(0)), s(static_cast<size_t>(Tq * Sp));
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t b = pair / H, h = pair % H;
          transpose_rows(K, b, h, S, d, kt.data(), Sp);
          kernel::small_gemm(Tq, Sp, d, Q.row(b, h, 0), Q.st, 1, kt.data(), Sp, s.data(), Sp);  // Q K^T
          for (int64_t i = 0; i < Tq; ++i) {
            T* si = s.data() + i * Sp;
            const uint8_t* mi = mask.row(b, h, i);
            const int64_t ms = mask.base ? mask.st[3] : 1;
            if constexpr (std::is_same_v<T, float>) {
              scaled_masked_softmax(si, mi, ms, S, Sp, sc);
              std::copy(si, si + S, P.row(b, h, i));
            } else {
              scaled_masked_softmax(si, mi, ms, S, sc, P.row(b, h, i));
              std::copy(P.row(b, h, i), P.row(b, h, i) + S, si);  // the weighted sum below reads si
            }
          }
          kernel::small_gemm(Tq, dv, S, s.data(), Sp, 1, V.row(b, h, 0), V.st, po + (b * Tq * H + h) * dv, H * dv);
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
    node->scale = scale;
    attach(y, node, {q_in, k_in, v_in});
  }
  return y;
}

}  // namespace gg
