// The fused additive attention score and multi-head attention on padded batches, with their
// backward nodes (see autograd/fused_attention.h); the loops are core/attention.cpp's.
#include "autograd/fused_attention.h"

#include "autograd/node.h"
#include "core/attention.h"

namespace gg {

// forward:  hidden = tanh(qp[b,q,:] + kp[b,s,:]),  score[b,q,s] = v . hidden
// backward: dh = dscore[b,q,s] * v * (1 - hidden^2)
//           dqp[b,q,:] = sum_s dh     dkp[b,s,:] = sum_q dh     dv = sum_{b,q,s} dscore[b,q,s] * hidden
struct AdditiveScoreBackward : Node {
  SavedTensor hidden{this}, v{this};
  std::string name() const override { return "AdditiveScoreBackward"; }
  std::vector<Tensor> backward(const Tensor& ds) override {
    kernel::AdditiveScoreGrads g = kernel::additive_score_backward(hidden(), v(), kernel::contiguous(ds));
    return {needs_grad(0) ? g.dq : Tensor(), needs_grad(1) ? g.dk : Tensor(), needs_grad(2) ? g.dv : Tensor()};
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
  const Tensor qp = kernel::contiguous(query_proj), kp = kernel::contiguous(keys_proj), vv = kernel::contiguous(v);
  const bool record = needs_grad(query_proj, keys_proj, v);
  Tensor hidden;  // tanh units [B, Tq, S, A], kept only when backward will need them
  Tensor scores = kernel::additive_score(qp, kp, vv, record ? &hidden : nullptr);
  if (record) {
    auto node = std::make_shared<AdditiveScoreBackward>();
    node->hidden = hidden;
    node->v = vv;
    attach(scores, node, {query_proj, keys_proj, v});
  }
  return scores;
}

// ---- Scaled dot-product attention (the op on packed tokens: autograd/packed_attention.cpp) ------

struct AttentionBackward : Node {
  SavedTensor q{this}, k{this}, v{this}, p{this};  // p: the weights [B, h, Tq, S], contiguous
  SavedTensor drop{this};                          // dropout factors [B, h, Tq, S], or undefined
  double scale = 1;
  std::string name() const override { return "AttentionBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    kernel::AttentionGrads g =
        kernel::attention_backward(q(), k(), v(), p(), drop(), kernel::unit_last_stride(dout), scale);
    return {needs_grad(0) ? g.dq : Tensor(), needs_grad(1) ? g.dk : Tensor(), needs_grad(2) ? g.dv : Tensor()};
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
  const Shape full{q_in.size(0), q_in.size(1), q_in.size(2), k_in.size(2)};  // [B, h, Tq, S]
  if (mask_in.defined())
    GG_CHECK(mask_in.dtype() == DType::Bool && mask_in.dim() <= 4 &&
                 broadcast_shapes(full, mask_in.shape(), "attention_fused") == full,
             "attention_fused: the mask must be bool and broadcast to the scores' shape {}, got {} {}", full,
             dtype_name(mask_in.dtype()), mask_in.shape());
  const Tensor q = kernel::unit_last_stride(q_in), k = kernel::unit_last_stride(k_in),
               v = kernel::unit_last_stride(v_in);
  const Tensor drop = kernel::dropout_factors(dropout, full, q.dtype(), "attention_fused");
  kernel::Attention a = kernel::attention(q, k, v, mask_in, scale, drop);
  if (weights) *weights = a.p;
  if (needs_grad(q_in, k_in, v_in)) {
    auto node = std::make_shared<AttentionBackward>();
    node->q = q;
    node->k = k;
    node->v = v;
    node->p = a.p;
    node->drop = drop;
    node->scale = scale;
    attach(a.out, node, {q_in, k_in, v_in});
  }
  return a.out;
}

}  // namespace gg
