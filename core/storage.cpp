#include "core/storage.h"

#include <atomic>

namespace gg {
namespace {
std::atomic<int64_t> live_bytes{0};
std::atomic<int64_t> peak_bytes{0};
}  // namespace

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  data_ = nbytes ? ::operator new(nbytes, kAlignment) : nullptr;
  const int64_t live = live_bytes.fetch_add(static_cast<int64_t>(nbytes)) + static_cast<int64_t>(nbytes);
  int64_t peak = peak_bytes.load();
  while (live > peak && !peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

Storage::~Storage() {
  if (data_) ::operator delete(data_, kAlignment);
  live_bytes.fetch_sub(static_cast<int64_t>(nbytes_));
}

MemoryStats memory_stats() { return {live_bytes.load(), peak_bytes.load()}; }
void reset_peak_memory() { peak_bytes.store(live_bytes.load()); }

}  // namespace gg
