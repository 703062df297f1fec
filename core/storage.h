#pragma once
// Storage: one block of memory shared by a tensor and all of its views.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace gg {

// Bytes held by all tensor storages right now, and the most held at once since the last
// reset_peak_memory(): what the memory benchmarks report. cached_bytes: freed blocks the
// allocator keeps for reuse (below).
struct MemoryStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t cached_bytes = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();

// The caching allocator. A training loop allocates the same large blocks every step. From
// malloc, a block of 128 KiB or more is fresh memory from the kernel each time (glibc hands
// it back on free), and every page of it is zeroed at first touch: for a 4 MiB gradient
// that costs more than the arithmetic. So blocks of kCacheMinBytes or more go, when freed,
// to per-size free lists, and the next request of that size class takes one back. Sizes are
// rounded up to an eighth of their power of two (at most 12.5% waste). The cache keeps at
// most cache_limit() bytes; empty_cache() gives everything back.
inline constexpr size_t kCacheMinBytes = size_t{64} << 10;
void set_cache_limit(size_t bytes);  // default 2 GiB (0 under AddressSanitizer); 0 turns caching off
size_t cache_limit();
void empty_cache();

class Storage {
 public:
  static constexpr std::align_val_t kAlignment{64};  // a cache line, and room for AVX-512 loads
  // Blocks of kHugePageBytes or more start on a kHugePageBytes boundary, and on Linux ask for
  // transparent huge pages (madvise MADV_HUGEPAGE; Debian 12 gives them only where asked):
  // one TLB entry then maps 2 MiB instead of 4 KiB. Streaming a decoding step's 44 MB of
  // weights through gemv runs 9% faster for it (bench_decode, 20 interleaved pairs).
  static constexpr size_t kHugePageBytes = size_t{2} << 20;

  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

  // Bumped by every in-place write, so a value saved for backward can tell it was overwritten.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  uint64_t version_ = 0;
};

}  // namespace gg
