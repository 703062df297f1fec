// Multi-head attention on packed token rows and its backward node (see autograd/fused_attention.h);
// the loops are core/packed_attention.cpp's.
#include "autograd/fused_attention.h"
#include "autograd/node.h"
#include "core/attention.h"

namespace gg {

struct PackedAttentionBackward : Node {
  SavedTensor q_src{this}, kv_src{this}, p{this};
  SavedTensor drop{this};  // dropout factors [B, h, Tq, S] by position, or undefined
  kernel::PackedLayout layout;
  double scale = 1;
  bool one_source = false;  // q and k, v columns of one tensor: one input, one gradient
  std::string name() const override { return "PackedAttentionBackward"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    const Tensor qs = q_src(), kvs = one_source ? qs : kv_src();
    const kernel::PackedLayout& L = layout;
    // The gradients of the sources: every column q, k and v do not cover is zero.
    auto gradient = [&](const Tensor& src, std::initializer_list<int64_t> widths) {
      int64_t covered = 0;
      for (int64_t w : widths) covered += w;
      return covered == src.size(1) ? Tensor::empty(src.shape(), src.dtype()) : zeros(src.shape(), {.dtype = src.dtype()});
    };
    Tensor gq, gkv;
    if (one_source) gq = gkv = gradient(qs, {L.H * L.d, L.H * L.d, L.H * L.dv});
    else gq = gradient(qs, {L.H * L.d}), gkv = gradient(kvs, {L.H * L.d, L.H * L.dv});
    kernel::packed_attention_backward(qs, kvs, p(), drop(), kernel::contiguous(dout), scale, L, gq, gkv);
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
  const int64_t Tq = q_rows.T, S = k_rows.T;
  Tensor mask;  // bool [Tq, S] or [B * H, Tq, S], by position
  if (attn_mask.defined()) {
    GG_CHECK(attn_mask.dtype() == DType::Bool &&
                 (attn_mask.shape() == Shape({Tq, S}) || attn_mask.shape() == Shape({q_rows.B * H, Tq, S})),
             "attention_packed: attn_mask must be bool [Tq, S] = [{}, {}] or [B * heads, Tq, S] = [{}, {}, {}], got "
             "{} {}",
             Tq, S, q_rows.B * H, Tq, S, dtype_name(attn_mask.dtype()), attn_mask.shape());
    mask = kernel::contiguous(attn_mask);
  }
  kernel::PackedLayout L = kernel::packed_layout(q_rows.index, q_src_in.size(0), k_rows.index, kv_src_in.size(0),
                                                q_rows.B, Tq, S, H, d, q_col, k_col, v_col);
  const Tensor q_src = kernel::unit_last_stride(q_src_in);
  const Tensor kv_src = one_source ? q_src : kernel::unit_last_stride(kv_src_in);
  const Tensor drop = kernel::dropout_factors(dropout, {L.B, H, Tq, S}, q_src.dtype(), "attention_packed");
  kernel::Attention a = kernel::packed_attention(q_src, kv_src, L, mask, scale, drop);
  const bool grad = one_source ? needs_grad(q_src_in) : needs_grad(q_src_in, kv_src_in);
  if (grad) {
    auto node = std::make_shared<PackedAttentionBackward>();
    node->q_src = q_src;
    if (!one_source) node->kv_src = kv_src;
    node->p = a.p;
    node->drop = drop;
    node->layout = std::move(L);
    node->scale = scale;
    node->one_source = one_source;
    if (one_source) attach(a.out, node, {q_src_in});
    else attach(a.out, node, {q_src_in, kv_src_in});
  }
  return a.out;
}

}  // namespace gg
