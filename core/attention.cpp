// Additive scores and scaled dot-product attention on padded batches, forward and backward
// (core/attention.h; autograd/fused_attention.cpp makes them differentiable ops).
#include "core/attention.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/attention_pair.h"
#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {
namespace {

// One score: h = tanh(q + k) (kept for backward), returns v . h. One pass, on pointers that
// never overlap: without __restrict GCC versions the tanh loop for aliasing and turns the
// separate dot product into gathers through the stack.
template <class T>
T tanh_dot(const T* __restrict q, const T* __restrict k, const T* __restrict v, T* __restrict h, int64_t A) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t a = 0; a < A; ++a) {
    h[a] = fast::tanh_of(q[a] + k[a]);
    acc += v[a] * h[a];
  }
  return acc;
}

// One score's backward, g = its gradient: dh = g v (1 - h^2) added to dq and dk, g h to dv. On
// __restrict pointers, for the reason tanh_dot gives.
template <class T>
void additive_grad(T g, const T* __restrict v, const T* __restrict h, T* __restrict dq, T* __restrict dk,
                   T* __restrict dv, int64_t A) {
#pragma omp simd
  for (int64_t a = 0; a < A; ++a) {
    const T d = g * v[a] * (T(1) - h[a] * h[a]);
    dq[a] += d;
    dk[a] += d;
    dv[a] += g * h[a];
  }
}

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

}  // namespace

using namespace attention_pair;

// ---- additive score ------------------------------------------------------------------------------

Tensor additive_score(const Tensor& qp, const Tensor& kp, const Tensor& v, Tensor* hidden_out) {
  const int64_t B = qp.size(0), Tq = qp.size(1), S = kp.size(1), A = v.size(0);
  GG_PROFILE("additive_score", 3.0 * static_cast<double>(B * Tq * S * A));
  const bool keep = hidden_out != nullptr;
  // The hidden units are kept only when backward will need them; otherwise one row at a time.
  Tensor hidden = Tensor::empty(keep ? Shape{B, Tq, S, A} : Shape{0}, qp.dtype());
  Tensor scores = Tensor::empty({B, Tq, S}, qp.dtype());
  visit_floating(qp.dtype(), "additive_score", [&]<class T>() {
    const T* pv = v.data<T>();
    parallel_for(B * Tq, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(S * A, 1)), [&](int64_t r0, int64_t r1) {
      std::vector<T> scratch(keep ? 0 : static_cast<size_t>(A));
      for (int64_t r = r0; r < r1; ++r) {  // r = b * Tq + q
        const int64_t b = r / Tq;
        const T* q = qp.data<T>() + r * A;
        for (int64_t s = 0; s < S; ++s) {
          T* h = keep ? hidden.data<T>() + (r * S + s) * A : scratch.data();
          scores.data<T>()[r * S + s] = tanh_dot(q, kp.data<T>() + (b * S + s) * A, pv, h, A);
        }
      }
    });
  });
  if (keep) *hidden_out = hidden;
  return scores;
}

AdditiveScoreGrads additive_score_backward(const Tensor& hidden, const Tensor& v, const Tensor& dscore) {
  const int64_t B = hidden.size(0), Tq = hidden.size(1), S = hidden.size(2), A = hidden.size(3);
  GG_PROFILE("additive_score", 6.0 * static_cast<double>(B * Tq * S * A));
  const TensorOptions like{.dtype = hidden.dtype()};
  AdditiveScoreGrads g{zeros({B, Tq, A}, like), zeros({B, S, A}, like), Tensor()};
  Tensor dv_parts = zeros({B, A}, like);  // per batch row, summed at the end
  visit_floating(hidden.dtype(), "additive_score_backward", [&]<class T>() {
    const T* pv = v.data<T>();
    parallel_for(B, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(Tq * S * A, 1)), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        T* pdv = dv_parts.data<T>() + b * A;
        for (int64_t q = 0; q < Tq; ++q) {
          T* pdq = g.dq.data<T>() + (b * Tq + q) * A;
          for (int64_t s = 0; s < S; ++s) {
            const T ds = dscore.data<T>()[(b * Tq + q) * S + s];
            if (ds == T(0)) continue;  // masked keys: softmax gave them no gradient
            const T* h = hidden.data<T>() + ((b * Tq + q) * S + s) * A;
            additive_grad(ds, pv, h, pdq, g.dk.data<T>() + (b * S + s) * A, pdv, A);
          }
        }
      }
    });
  });
  g.dv = sum(dv_parts, {0}, false);
  return g;
}

// ---- scaled dot-product attention on padded batches ----------------------------------------------

Tensor dropout_factors(const Tensor& drop, const Shape& full, DType dtype, const char* op) {
  if (!drop.defined()) return drop;
  GG_CHECK(drop.dtype() == dtype && drop.shape() == full,
           "{}: dropout must be {} factors of the scores' shape {} (nn::functional::dropout_scale), got {} {}", op,
           dtype_name(dtype), full, dtype_name(drop.dtype()), drop.shape());
  return contiguous(drop);
}

Attention attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask_in, double scale,
                    const Tensor& drop) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), d = q.size(3), S = k.size(2), dv = v.size(3);
  GG_PROFILE("attention", 2.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
  const Shape full{B, H, Tq, S};
  MaskRows mask;
  Tensor mask_t;  // keeps a copied mask alive
  if (mask_in.defined()) {
    mask_t = broadcast_strides(mask_in.shape(), mask_in.strides(), full).back() > 1 ? contiguous(mask_in) : mask_in;
    mask.base = reinterpret_cast<const uint8_t*>(mask_t.data<bool>());
    mask.st = broadcast_strides(mask_t.shape(), mask_t.strides(), full);
  }
  Tensor out = Tensor::empty({B, Tq, H, dv}, q.dtype());
  Tensor p = Tensor::empty(full, q.dtype());
  visit_floating(q.dtype(), "attention", [&]<class T>() {
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
  return {out.permute({0, 2, 1, 3}), p};
}

AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& p,
                                  const Tensor& drop, const Tensor& dout, double scale) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), d = q.size(3), S = k.size(2), dv = v.size(3);
  GG_PROFILE("attention", 4.0 * static_cast<double>(B * H * Tq * S * (d + dv)));
  // The gradients in the inputs' layout: split_heads' views of [B, T, h, d] get [B, T, h, d]
  // tensors back, which its reshape's backward reads as views (a [B, h, T, d] one it copied).
  auto like = [](const Tensor& x, int64_t width) {
    const int64_t b = x.size(0), h = x.size(1), t = x.size(2);
    if (x.stride(1) < x.stride(2)) return Tensor::empty({b, t, h, width}, x.dtype()).permute({0, 2, 1, 3});
    return Tensor::empty({b, h, t, width}, x.dtype());
  };
  AttentionGrads g{like(q, d), like(k, d), like(v, dv)};
  visit_floating(q.dtype(), "attention_backward", [&]<class T>() {
    const HeadRows<T> Q(q), K(k), V(v), P(p), dO(dout), dQ(g.dq), dK(g.dk), dV(g.dv);
    parallel_for(B * H, pair_grain(Tq, S, d, dv), [&](int64_t first, int64_t last) {
      PairScratch<T> w(Tq, S, std::max(d, dv));
      for (int64_t pair = first; pair < last; ++pair) {
        const int64_t b = pair / H, h = pair % H;
        auto in = [&](const HeadRows<T>& x) { return Rows<const T>{x.row(b, h, 0), x.st}; };
        auto out = [&](const HeadRows<T>& x) { return Rows<T>{x.row(b, h, 0), x.st}; };
        auto drop_row = [&](int64_t i) -> const T* {
          return drop.defined() ? drop.data<T>() + ((b * H + h) * Tq + i) * S : nullptr;
        };
        pair_backward<T>(Tq, S, d, dv, in(Q), in(K), in(V), in(P), in(dO), drop_row, static_cast<T>(scale), out(dQ),
                         out(dK), out(dV), w);
      }
    });
  });
  return g;
}

}  // namespace gg::kernel
