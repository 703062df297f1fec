// The fused additive attention score and multi-head attention on padded batches, with their
// backward nodes (see autograd/fused_attention.h).
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
#include "autograd/attention_pair.h"

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
// The per-pair kernels are in autograd/attention_pair.h; the op on packed tokens in
// autograd/packed_attention.cpp.
using namespace attention_pair;

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

}  // namespace gg
