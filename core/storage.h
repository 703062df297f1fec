#pragma once
// Storage: one block of memory shared by a tensor and all of its views.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace gg {

// Bytes held by all tensor storages right now, and the most held at once since the last
// reset_peak_memory(): what the memory benchmarks report.
struct MemoryStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();

class Storage {
 public:
  static constexpr std::align_val_t kAlignment{64};  // a cache line, and room for AVX-512 loads

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
