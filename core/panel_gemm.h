#pragma once
// Products with few rows against a large right operand that comes back. A decoder step
// multiplies [64, 768] by the same W_ih^T [768, 2048] at every one of its 24 steps, and its
// backward multiplies by W_ih 24 times; an encoder direction does the same with W_hh. OpenBLAS
// packs all of b into its own layout on every call (6 MB for that W_ih), and with 64 rows the
// packing is a fifth of the call; when b has left the cache since the last step, more.
//
// Here b is packed once into panels of 16 columns, [ceil(N / 16), K, 16] (row k of a panel
// holds its 16 numbers of b's row k side by side; the last panel is zero-padded), kept while
// b's storage is alive and unchanged, and multiplied by small_gemm_tile (core/small_gemm.h):
// a tile of 6 rows x 16 columns of c stays in 12 AVX registers for the whole sum over k, each
// step loading one row of the panel and broadcasting 6 numbers of a, read from a where it is.
//
// "Unchanged" is what autograd's saved tensors check too: the storage's version, bumped by
// every in-place write (optimizers, copy_, add_, fill_). A write through a raw data pointer
// bumps nothing; call clear_panel_cache() after one.
//
// Measured (microbench, 2 threads, the panels built beforehand, b just read from memory /
// still in cache), GFLOP/s, OpenBLAS -> panels: [64, 768] x [768, 2048] 105-112 -> 137-152,
// [40, 768] x [768, 2048] 93 -> 106-120, [20, 2048] x [2048, 768] 66 -> 88.
#include <cstdint>

#include "core/tensor.h"

namespace gg::kernel {

constexpr int64_t kPanelWidth = 16;                      // columns per panel: two AVX vectors of float
constexpr int64_t kPanelMaxRows = 64;                    // above, OpenBLAS's own packing is paid back
constexpr int64_t kPanelCacheBytes = int64_t{64} << 20;  // panels kept at most (the least recently used go first)

// Whether c[M, N] = a[M, K] b[K, N] in float32 goes through panels: 2..64 rows (one row is a
// matrix-vector product, which reads b once anyway), and b of at least 64 Ki numbers.
bool panels_pay(int64_t M, int64_t N, int64_t K);

// b [K, N] (float32, any strides) -> panels [ceil(N / 16), K, 16].
Tensor pack_panels(const Tensor& b);

// The panels of b. Kept from an earlier call if b (the same storage, at the same version, with
// the same offset, shape and strides) was packed before; packed and kept if b's storage has
// been seen before at another version (a weight the optimizer has updated since); otherwise
// packed for this call only, and the storage remembered: most products with few rows meet a
// given b once.
Tensor panels_of(const Tensor& b);

// c[M, N] (row stride ldc) = a b, or c += a b when add. a(i, k) = a[i * a_rs + k * a_cs]; N is
// b's width, panels as pack_panels made them. Each number of c is one sum over k in order, so
// the result does not depend on the number of threads, nor on whether the panels were cached.
void gemm_panels(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const Tensor& panels,
                 float* c, int64_t ldc, bool add);

struct PanelCacheStats {
  int64_t storages = 0;  // remembered b storages
  int64_t kept = 0;      // of them, with panels kept
  int64_t bytes = 0;     // held by the kept panels
  int64_t hits = 0;      // calls served by kept panels, since the last clear
  int64_t packs = 0;     // panels packed, since the last clear
};
PanelCacheStats panel_cache_stats();
// Forgets every storage and frees every kept panel.
void clear_panel_cache();

}  // namespace gg::kernel
