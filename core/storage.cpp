#include "core/storage.h"

#include <atomic>
#include <bit>
#include <map>
#include <mutex>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace gg {
namespace {

// Huge pages for large blocks (see Storage::kHugePageBytes). Only whole huge pages are
// advised, so the tail of a block past its last 2 MiB boundary stays in small pages. The
// advice may be refused (a kernel without THP): then the block is simply in small pages.
constexpr size_t kHugePage = Storage::kHugePageBytes;
std::align_val_t alignment(size_t bytes) {
  return bytes >= kHugePage ? std::align_val_t{kHugePage} : Storage::kAlignment;
}

void* allocate(size_t bytes) {
  void* p = ::operator new(bytes, alignment(bytes));
#ifdef MADV_HUGEPAGE
  if (bytes >= kHugePage) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
  return p;
}
void release(void* p, size_t bytes) { ::operator delete(p, alignment(bytes)); }

std::atomic<int64_t> live_bytes{0};
std::atomic<int64_t> peak_bytes{0};

// n rounded up to a multiple of an eighth of its power of two: 65536 -> 65536,
// 65537 -> 73728, 1000000 -> 1048576.
size_t size_class(size_t n) {
  const size_t step = std::bit_floor(n) / 8;
  return (n + step - 1) / step * step;
}

class BlockCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= bytes;
    return p;
  }
  bool give(void* p, size_t bytes) {  // false: over the limit, the caller frees it
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > limit_) return false;
    free_[bytes].push_back(p);
    cached_ += bytes;
    return true;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) release(p, bytes);
    free_.clear();
    cached_ = 0;
  }
  void set_limit(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
    }
    if (cached_bytes() > bytes) clear();
  }
  size_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  size_t cached_ = 0;
#ifdef __SANITIZE_ADDRESS__
  size_t limit_ = 0;  // under AddressSanitizer every free is a real free, so use-after-free is caught
#else
  size_t limit_ = size_t{2} << 30;
#endif
};

// Never destroyed: storages freed during static destruction may still return blocks to it.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

}  // namespace

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  if (nbytes >= kCacheMinBytes) {
    const size_t bytes = size_class(nbytes);
    data_ = cache().take(bytes);
    if (!data_) data_ = allocate(bytes);
  } else {
    data_ = nbytes ? allocate(nbytes) : nullptr;
  }
  const int64_t live = live_bytes.fetch_add(static_cast<int64_t>(nbytes)) + static_cast<int64_t>(nbytes);
  int64_t peak = peak_bytes.load();
  while (live > peak && !peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

Storage::~Storage() {
  if (data_ && !(nbytes_ >= kCacheMinBytes && cache().give(data_, size_class(nbytes_))))
    release(data_, nbytes_ >= kCacheMinBytes ? size_class(nbytes_) : nbytes_);
  live_bytes.fetch_sub(static_cast<int64_t>(nbytes_));
}

MemoryStats memory_stats() {
  return {live_bytes.load(), peak_bytes.load(), static_cast<int64_t>(cache().cached_bytes())};
}
void reset_peak_memory() { peak_bytes.store(live_bytes.load()); }

void set_cache_limit(size_t bytes) { cache().set_limit(bytes); }
size_t cache_limit() { return cache().limit(); }
void empty_cache() { cache().clear(); }

}  // namespace gg
