// The fused additive attention score and its backward node (see autograd/fused_attention.h).
#include "autograd/fused_attention.h"

#include <cmath>

#include "autograd/node.h"
#include "core/fast_math.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {

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
            const T* k = kp.data<T>() + (b * S + s) * A;
            T* h = record ? hidden.data<T>() + (r * S + s) * A : scratch.data();
            for (int64_t a = 0; a < A; ++a) h[a] = fast::tanh_of(q[a] + k[a]);
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t a = 0; a < A; ++a) acc += pv[a] * h[a];
            scores.data<T>()[r * S + s] = acc;
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

}  // namespace gg
