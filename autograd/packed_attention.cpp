// Multi-head attention on packed token rows and its backward node (see autograd/fused_attention.h).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "autograd/attention_pair.h"
#include "autograd/fused_attention.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg {

using namespace attention_pair;

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
