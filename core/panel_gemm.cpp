#include "core/panel_gemm.h"

#include <cblas.h>

#include <cstring>
#include <mutex>

#include "core/parallel.h"
#include "core/small_gemm.h"

namespace gg::kernel {
namespace {

constexpr int64_t kPanelMinB = int64_t{1} << 16;        // numbers in b: below, packing costs little
constexpr size_t kPanelMaxStorages = 64;                 // b storages remembered at most

// One remembered b: its storage (weak, so that a new tensor at the same address is not taken
// for it), the view it was read through, and its panels if kept.
struct Entry {
  std::weak_ptr<Storage> storage;
  int64_t offset = 0, K = 0, N = 0, rs = 0, cs = 0;
  uint64_t version = 0;
  Tensor panels;      // undefined until b comes back
  uint64_t used = 0;  // for evicting the least recently used
};

struct Cache {
  std::mutex mutex;
  std::vector<Entry> entries;
  uint64_t clock = 0;
  PanelCacheStats stats;

  int64_t kept_bytes() const {
    int64_t bytes = 0;
    for (const Entry& e : entries)
      if (e.panels.defined()) bytes += e.panels.numel() * static_cast<int64_t>(sizeof(float));
    return bytes;
  }
  // Drops dead storages, then the least recently used panels past the budget, then the least
  // recently used storages past their count.
  void trim() {
    std::erase_if(entries, [](const Entry& e) { return e.storage.expired(); });
    auto oldest = [&](bool with_panels) {
      Entry* pick = nullptr;
      for (Entry& e : entries)
        if ((!with_panels || e.panels.defined()) && (!pick || e.used < pick->used)) pick = &e;
      return pick;
    };
    while (kept_bytes() > kPanelCacheBytes) oldest(true)->panels = Tensor();
    while (entries.size() > kPanelMaxStorages) entries.erase(entries.begin() + (oldest(false) - entries.data()));
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may still come back at exit
  return *c;
}

// One tile: MR rows of one panel's 16 columns of c. With fewer than 16 columns left (the last
// panel), into a scratch tile first, then the columns that exist.
template <bool Add, bool UnitColumns, int MR>
void panel_tile(int64_t K, const float* a, int64_t a_rs, int64_t a_cs_in, const float* panel, float* c, int64_t ldc,
                int64_t cols) {
  const int64_t a_cs = UnitColumns ? 1 : a_cs_in;  // a known 1 lets the tile step its pointers to a by 4 bytes
  if (cols == kPanelWidth) {
    small_gemm_tile<MR, 2, float, Add>(K, a, a_rs, a_cs, panel, kPanelWidth, c, ldc);
    return;
  }
  float t[MR * kPanelWidth];
  small_gemm_tile<MR, 2, float, false>(K, a, a_rs, a_cs, panel, kPanelWidth, t, kPanelWidth);
  for (int r = 0; r < MR; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float& out = c[r * ldc + j];
      out = Add ? out + t[r * kPanelWidth + j] : t[r * kPanelWidth + j];
    }
}

// Rows [0, M) of one panel's 16 columns of c, 6 rows at a time (12 of the 16 AVX registers
// hold the tile, 2 the panel's row, 1 a broadcast number of a).
template <bool Add, bool UnitColumns>
void panel_rows(int64_t M, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* panel, float* c,
                int64_t ldc, int64_t cols) {
  int64_t i = 0;
  for (; i + 6 <= M; i += 6) panel_tile<Add, UnitColumns, 6>(K, a + i * a_rs, a_rs, a_cs, panel, c + i * ldc, ldc, cols);
  const float* ai = a + i * a_rs;
  float* ci = c + i * ldc;
  switch (M - i) {
    case 5: panel_tile<Add, UnitColumns, 5>(K, ai, a_rs, a_cs, panel, ci, ldc, cols); break;
    case 4: panel_tile<Add, UnitColumns, 4>(K, ai, a_rs, a_cs, panel, ci, ldc, cols); break;
    case 3: panel_tile<Add, UnitColumns, 3>(K, ai, a_rs, a_cs, panel, ci, ldc, cols); break;
    case 2: panel_tile<Add, UnitColumns, 2>(K, ai, a_rs, a_cs, panel, ci, ldc, cols); break;
    case 1: panel_tile<Add, UnitColumns, 1>(K, ai, a_rs, a_cs, panel, ci, ldc, cols); break;
    default: break;
  }
}

}  // namespace

bool panels_pay(int64_t M, int64_t N, int64_t K) {
  return M >= 2 && M <= kPanelMaxRows && N >= kPanelWidth && K >= 8 && N * K >= kPanelMinB;
}

Tensor pack_panels(const Tensor& b) {
  GG_CHECK(b.dim() == 2 && b.dtype() == DType::Float32, "pack_panels: expected float32 [K, N], got {} {}",
           dtype_name(b.dtype()), b.shape());
  const int64_t K = b.size(0), N = b.size(1), P = (N + kPanelWidth - 1) / kPanelWidth;
  const int64_t rs = b.stride(0), cs = b.stride(1);
  Tensor panels = Tensor::empty({P, K, kPanelWidth}, DType::Float32);
  const float* src = b.data<float>();
  float* dst = panels.data<float>();
  // Panel p holds b's columns [16 p, 16 p + 16): in row k, b(k, 16 p + j) at k * 16 + j.
  parallel_for(P, K * kPanelWidth >= kParallelGrain ? 2 : P + 1, [&](int64_t p0, int64_t p1) {
    auto full = [&](int64_t p) { return (p + 1) * kPanelWidth <= N; };
    if (cs == 1) {
      // b's rows are contiguous (b = W in dy W): 64 bytes of row k per panel. The rows go in
      // blocks of 8, which stay in L1 while every panel takes its share (panel by panel over
      // all rows, each 64 bytes comes from another page).
      constexpr int64_t kRowBlock = 8;
      for (int64_t k0 = 0; k0 < K; k0 += kRowBlock)
        for (int64_t p = p0; p < p1; ++p)
          for (int64_t k = k0; k < std::min(K, k0 + kRowBlock) && full(p); ++k)
            std::memcpy(dst + (p * K + k) * kPanelWidth, src + k * rs + p * kPanelWidth, sizeof(float) * kPanelWidth);
    } else if (rs == 1) {
      // b's columns are contiguous (b = W^T in x W^T): a panel is 16 rows of W transposed, which
      // OpenBLAS's out-of-place transpose does at memory speed (0.4 ms for [768, 2048], against
      // 2.8 for a plain loop).
      for (int64_t p = p0; p < p1; ++p)
        if (full(p))
          cblas_somatcopy(CblasRowMajor, CblasTrans, kPanelWidth, K, 1.0f, src + p * kPanelWidth * cs, cs,
                          dst + p * K * kPanelWidth, kPanelWidth);
    }
    for (int64_t p = p0; p < p1; ++p) {  // any other layout, and the last panel (zero-padded)
      if (full(p) && (cs == 1 || rs == 1)) continue;
      const int64_t j0 = p * kPanelWidth, cols = std::min(kPanelWidth, N - j0);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < kPanelWidth; ++j)
          dst[(p * K + k) * kPanelWidth + j] = j < cols ? src[k * rs + (j0 + j) * cs] : 0.0f;
    }
  });
  return panels;
}

Tensor panels_of(const Tensor& b) {
  Cache& c = cache();
  const Storage* storage = b.storage().get();
  const uint64_t version = b.storage()->version();
  auto same_view = [&](const Entry& e) {
    return e.offset == b.offset() && e.K == b.size(0) && e.N == b.size(1) && e.rs == b.stride(0) &&
           e.cs == b.stride(1);
  };
  bool keep = false;
  {
    std::lock_guard lock(c.mutex);
    for (Entry& e : c.entries) {
      const std::shared_ptr<Storage> owner = e.storage.lock();
      if (owner.get() != storage || !same_view(e)) continue;
      e.used = ++c.clock;
      if (e.version == version && e.panels.defined()) {
        ++c.stats.hits;
        return e.panels;
      }
      keep = true;  // seen before: pack, and keep
      break;
    }
  }
  Tensor panels = pack_panels(b);  // outside the lock: another thread may pack another b meanwhile
  std::lock_guard lock(c.mutex);
  ++c.stats.packs;
  auto it = std::find_if(c.entries.begin(), c.entries.end(),
                         [&](const Entry& e) { return e.storage.lock().get() == storage && same_view(e); });
  if (it == c.entries.end()) {
    c.entries.push_back({b.storage(), b.offset(), b.size(0), b.size(1), b.stride(0), b.stride(1), version, Tensor(), 0});
    it = c.entries.end() - 1;
  }
  it->version = version;
  it->panels = keep ? panels : Tensor();
  it->used = ++c.clock;
  c.trim();
  return panels;
}

void gemm_panels(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const Tensor& panels,
                 float* c, int64_t ldc, bool add) {
  const int64_t P = (N + kPanelWidth - 1) / kPanelWidth;
  GG_CHECK(panels.dim() == 3 && panels.size(0) == P && panels.size(1) == K && panels.size(2) == kPanelWidth,
           "gemm_panels: panels {} do not hold b [{}, {}]", panels.shape(), K, N);
  const float* packed = panels.data<float>();
  parallel_for(P, M * N * K >= kParallelMinMacs ? 1 : P + 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * kPanelWidth, cols = std::min(kPanelWidth, N - j0);
      const float* panel = packed + p * K * kPanelWidth;
      if (add && a_cs == 1) panel_rows<true, true>(M, K, a, a_rs, a_cs, panel, c + j0, ldc, cols);
      else if (add) panel_rows<true, false>(M, K, a, a_rs, a_cs, panel, c + j0, ldc, cols);
      else if (a_cs == 1) panel_rows<false, true>(M, K, a, a_rs, a_cs, panel, c + j0, ldc, cols);
      else panel_rows<false, false>(M, K, a, a_rs, a_cs, panel, c + j0, ldc, cols);
    }
  });
}

PanelCacheStats panel_cache_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  PanelCacheStats s = c.stats;
  s.storages = 0;
  s.kept = 0;
  for (const Entry& e : c.entries) {
    if (e.storage.expired()) continue;
    ++s.storages;
    if (e.panels.defined()) ++s.kept;
  }
  s.bytes = c.kept_bytes();
  return s;
}

void clear_panel_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.entries.clear();
  c.stats = {};
}

}  // namespace gg::kernel
