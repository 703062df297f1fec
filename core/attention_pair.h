#pragma once
// The kernels of multi-head scaled dot-product attention, one (batch row, head) pair at a time,
// shared by attention on padded batches (core/attention.cpp) and on packed tokens
// (core/packed_attention.cpp). Internal to those two.
//
// For each (b, h), with Q [Tq, d], K [S, d], V [S, dv] that pair's rows:
//   forward:   P = softmax(scale * Q K^T) row by row over the unmasked keys,   O = P V
//   backward:  dV = P^T dO,   dP = dO V^T,   dS = P * (dP - rowsum(P * dP)) * scale,
//              dQ = dS K,     dK = dS^T Q
// Each product is one small_gemm (core/small_gemm.h) on the pair's rows in place; K (forward)
// and V (backward) are first transposed into a buffer whose rows are padded with zeros to a
// whole number of SIMD vectors, so that the [Tq, S] products run on full vectors for any S.
// Masked keys have P = 0, so they get no gradient.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/small_gemm.h"
#include "core/softmax_row.h"

namespace gg::kernel::attention_pair {

// Functions taking an 8-float vector: see core/fast_math.h on -Wpsabi.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

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
    const float8 sum = fast::across_lanes(acc, [](float8 a, float8 b) { return a + b; });
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
inline int64_t pair_grain(int64_t Tq, int64_t S, int64_t d, int64_t dv) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(Tq * S * (d + dv), 1));
}

// S rounded up to whole SIMD vectors of T.
template <class T>
int64_t padded(int64_t S) {
  constexpr int64_t L = kernel::Simd<T>::L;
  return (S + L - 1) / L * L;
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
        fast::transpose8x8(r);
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
    kernel::masked_softmax_row(si, mi, ms, si, nk, scale);
    std::copy(si, si + nk, pi);
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

#pragma GCC diagnostic pop

}  // namespace gg::kernel::attention_pair
