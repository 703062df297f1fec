// Scaled dot-product attention on packed token rows, forward and backward (core/attention.h;
// autograd/packed_attention.cpp makes it a differentiable op).
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/attention.h"
#include "core/attention_pair.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {
namespace {

// index (the rows' flat positions b * T + t) -> start (B + 1) and position per row, after
// checking that it is what nn::Packing makes: increasing flat positions below B * T, one per row.
void split_rows(const Tensor& index_t, int64_t n, int64_t B, int64_t T, const char* which, std::vector<int64_t>& start,
                std::vector<int64_t>& pos) {
  GG_CHECK(index_t.defined() && index_t.dtype() == DType::Int64 && index_t.dim() == 1 && index_t.numel() == n &&
               B >= 0 && T >= 0,
           "attention_packed: {} rows must index its {} rows with int64 [{}], got {} {} (B = {}, T = {})", which, which,
           n, index_t.defined() ? dtype_name(index_t.dtype()) : "undefined", index_t.defined() ? index_t.shape() : Shape{},
           B, T);
  const std::vector<int64_t> index = index_t.to_vector<int64_t>();
  start.assign(static_cast<size_t>(B + 1), 0);
  pos.resize(index.size());
  for (size_t i = 0; i < index.size(); ++i) {
    GG_CHECK(index[i] >= 0 && index[i] < B * T && (i == 0 || index[i] > index[i - 1]),
             "attention_packed: {} rows: index[{}] = {} is not an increasing flat position b * T + t below B * T = "
             "{} * {}",
             which, i, index[i], B, T);
    ++start[static_cast<size_t>(index[i] / T + 1)];
    pos[i] = index[i] % T;
  }
  for (int64_t b = 0; b < B; ++b) start[b + 1] += start[b];
}

// Multiply-adds of the pairs' products, times `per` (2 forward, 4 backward).
double pair_flops(const PackedLayout& L, double per) {
  double flops = 0;
  for (int64_t b = 0; b < L.B; ++b) flops += per * static_cast<double>(L.H * L.nq(b) * L.nk(b) * (L.d + L.dv));
  return flops;
}

}  // namespace

using namespace attention_pair;

PackedLayout packed_layout(const Tensor& q_index, int64_t Nq, const Tensor& k_index, int64_t Nk, int64_t B,
                           int64_t Tq, int64_t S, int64_t H, int64_t d, int64_t q_col, int64_t k_col, int64_t v_col) {
  PackedLayout L;
  L.B = B, L.H = H, L.d = d, L.dv = d, L.q_col = q_col, L.k_col = k_col, L.v_col = v_col, L.Tq = Tq, L.S = S;
  split_rows(q_index, Nq, B, Tq, "query", L.q_start, L.q_pos);
  split_rows(k_index, Nk, B, S, "key", L.k_start, L.k_pos);
  L.p_start.assign(static_cast<size_t>(B + 1), 0);
  for (int64_t b = 0; b < B; ++b) {
    L.p_start[b + 1] = L.p_start[b] + H * L.nq(b) * L.nk(b);
    L.max_q = std::max(L.max_q, L.nq(b));
    L.max_k = std::max(L.max_k, L.nk(b));
  }
  return L;
}

Attention packed_attention(const Tensor& q_src, const Tensor& kv_src, const PackedLayout& L, const Tensor& mask,
                           double scale, const Tensor& drop) {
  GG_PROFILE("attention", pair_flops(L, 2.0));
  const int64_t H = L.H, d = L.d, Tq = L.Tq, S = L.S;
  Attention a{Tensor::empty({q_src.size(0), H * d}, q_src.dtype()), Tensor::empty({L.p_start[L.B]}, q_src.dtype())};
  const uint8_t* mask_base = mask.defined() ? reinterpret_cast<const uint8_t*>(mask.data<bool>()) : nullptr;
  const int64_t mask_head = mask.defined() && mask.dim() == 3 ? Tq * S : 0;
  visit_floating(q_src.dtype(), "attention_packed", [&]<class T>() {
    const T *q = q_src.data<T>(), *kv = kv_src.data<T>();
    T *po = a.out.data<T>(), *pw = a.p.data<T>();
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
        pair_forward<T>(nq, nk, d, d, {q + qr * ldq + L.q_col + h * d, ldq}, {kv + kr * ldkv + L.k_col + h * d, ldkv},
                        {kv + kr * ldkv + L.v_col + h * d, ldkv}, mask_row, drop_row, static_cast<T>(scale),
                        {pw + L.p_start[b] + h * nq * nk, nk}, {po + qr * ldo + h * d, ldo}, w);
      }
    });
  });
  return a;
}

void packed_attention_backward(const Tensor& q_src, const Tensor& kv_src, const Tensor& p, const Tensor& drop,
                               const Tensor& dout, double scale, const PackedLayout& L, const Tensor& gq,
                               const Tensor& gkv) {
  GG_PROFILE("attention", pair_flops(L, 4.0));
  visit_floating(q_src.dtype(), "attention_packed_backward", [&]<class T>() {
    const T *q = q_src.data<T>(), *kv = kv_src.data<T>(), *pw = p.data<T>(), *go = dout.data<T>();
    T *dq = gq.data<T>(), *dkv = gkv.data<T>();
    const int64_t ldq = q_src.stride(0), ldkv = kv_src.stride(0), ldo = L.H * L.dv, lgq = gq.size(1),
                  lgkv = gkv.size(1);
    parallel_for(L.B * L.H, pair_grain(L.max_q, L.max_k, L.d, L.dv), [&](int64_t first, int64_t last) {
      PairScratch<T> w(L.max_q, L.max_k, std::max(L.d, L.dv));
      std::vector<T> gathered(static_cast<size_t>(L.max_k));
      for (int64_t pair = first; pair < last; ++pair) {
        const int64_t b = pair / L.H, h = pair % L.H, nq = L.nq(b), nk = L.nk(b);
        const int64_t qr = L.q_start[b], kr = L.k_start[b];
        auto drop_row = [&](int64_t i) {
          return drop.defined() ? L.by_position<T>(drop.data<T>(), L.Tq * L.S, b, h, i, gathered.data()) : nullptr;
        };
        pair_backward<T>(nq, nk, L.d, L.dv, {q + qr * ldq + L.q_col + h * L.d, ldq},
                         {kv + kr * ldkv + L.k_col + h * L.d, ldkv}, {kv + kr * ldkv + L.v_col + h * L.dv, ldkv},
                         {pw + L.p_start[b] + h * nq * nk, nk}, {go + qr * ldo + h * L.dv, ldo}, drop_row,
                         static_cast<T>(scale), {dq + qr * lgq + L.q_col + h * L.d, lgq},
                         {dkv + kr * lgkv + L.k_col + h * L.d, lgkv}, {dkv + kr * lgkv + L.v_col + h * L.dv, lgkv}, w);
      }
    });
  });
}

}  // namespace gg::kernel
