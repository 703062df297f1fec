#pragma once
// Products of small matrices, computed in registers: c = a b for a few dozen rows and columns,
// as attention does for every (batch row, head) pair (16 x 16 x 16 in bench/'s small
// Transformer). A BLAS call takes 0.3-0.5 us for that size, most of it before it multiplies
// anything (argument checks, packing both operands into its own layout), and a loop of axpys
// into memory waits on its own stores. Here a tile of 4 rows x 16 columns of c (8 AVX
// registers of float) stays in registers for the whole sum over k: each step loads one row of
// b and broadcasts 4 numbers of a; 16 x 16 x 16 takes 0.12-0.17 us.
//
// Written with GCC's vector extension (a 32-byte vector of T, 8 floats or 4 doubles), which
// compiles to AVX with -march=native and to pairs of SSE operations without.
#include <cstdint>
#include <cstring>

namespace gg::kernel {

template <class T>
struct Simd {
  typedef T V __attribute__((vector_size(32)));
  static constexpr int64_t L = 32 / sizeof(T);  // lanes
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V broadcast(T x) {  // one vbroadcastss (V{} + x would first add 0, which -0 keeps from being dropped)
    if constexpr (L == 8) return V{x, x, x, x, x, x, x, x};
    else return V{x, x, x, x};
  }
};

// c[0, MR) x [0, NV * L) = a b over k < K, with a(i, k) = a[i * a_rs + k * a_cs]
// and b's rows contiguous (b(k, j) = b[k * ldb + j]).
template <int MR, int NV, class T>
inline void small_gemm_tile(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb, T* c,
                            int64_t ldc) {
  using S = Simd<T>;
  using V = typename S::V;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < K; ++k) {
    V bk[NV];
    for (int v = 0; v < NV; ++v) {
      bk[v] = S::load(b + k * ldb + v * S::L);
#if defined(__x86_64__)
      // Keep the row of b in a register. Left alone, GCC folds the load into each of the MR
      // FMAs that use it, and the loads (12 per 8 FMAs) become the bottleneck: 16 x 16 x 16
      // took 0.19-0.21 us that way, 0.12-0.17 us with this empty asm.
      asm("" : "+x"(bk[v]));
#endif
    }
    for (int r = 0; r < MR; ++r) {
      const V x = S::broadcast(a[r * a_rs + k * a_cs]);
      for (int v = 0; v < NV; ++v) acc[r][v] += x * bk[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) S::store(c + r * ldc + v * S::L, acc[r][v]);
}

// Rows [0, M) of c's columns [0, NV * L), four rows at a time.
template <int NV, class T>
inline void small_gemm_rows(int64_t M, int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb,
                            T* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) small_gemm_tile<4, NV>(K, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc);
  const T* ai = a + i * a_rs;
  T* ci = c + i * ldc;
  switch (M - i) {
    case 3: small_gemm_tile<3, NV>(K, ai, a_rs, a_cs, b, ldb, ci, ldc); break;
    case 2: small_gemm_tile<2, NV>(K, ai, a_rs, a_cs, b, ldb, ci, ldc); break;
    case 1: small_gemm_tile<1, NV>(K, ai, a_rs, a_cs, b, ldb, ci, ldc); break;
    default: break;
  }
}

// c[M, N] = a[M, K] b[K, N], overwriting c (row stride ldc). a(i, k) = a[i * a_rs + k * a_cs],
// so a transposed a is a_rs = 1, a_cs = its row stride; b's rows are contiguous with stride ldb.
// Columns come 2 vectors at a time, then one; a last N % L columns (N not a multiple of 8
// floats) are summed one by one.
template <class T>
void small_gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb,
                T* c, int64_t ldc) {
  constexpr int64_t L = Simd<T>::L;
  int64_t j = 0;
  for (; j + 2 * L <= N; j += 2 * L) small_gemm_rows<2>(M, K, a, a_rs, a_cs, b + j, ldb, c + j, ldc);
  if (j + L <= N) {
    small_gemm_rows<1>(M, K, a, a_rs, a_cs, b + j, ldb, c + j, ldc);
    j += L;
  }
  for (; j < N; ++j)
    for (int64_t i = 0; i < M; ++i) {
      T sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += a[i * a_rs + k * a_cs] * b[k * ldb + j];
      c[i * ldc + j] = sum;
    }
}

}  // namespace gg::kernel
