#pragma once
// The loop under every elementwise kernel: walk a shape in row-major order over N operands
// that each have their own strides (0 on broadcast dims), one innermost run at a time.
// Internal to core/.
#include <array>

#include "core/parallel.h"
#include "core/shape.h"

namespace gg::detail {

template <size_t N>
class StridedLoop {
 public:
  // strides[k] are operand k's strides over `shape` (already broadcast).
  StridedLoop(const Shape& shape, const std::array<Strides, N>& strides) {
    // Drop size-1 dims and merge neighbours that are contiguous in every operand, so a
    // contiguous tensor becomes one long run whatever its shape.
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      bool merge = !shape_.empty();
      for (size_t k = 0; k < N && merge; ++k) merge = strides_[k].back() == strides[k][d] * shape[d];
      if (merge) {
        shape_.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) strides_[k].back() = strides[k][d];
      } else {
        shape_.push_back(shape[d]);
        for (size_t k = 0; k < N; ++k) strides_[k].push_back(strides[k][d]);
      }
    }
    numel_ = shape.numel();
  }

  // Calls row(offsets, n, inner_strides): operand k's run starts at offsets[k] (in
  // elements) and steps by inner_strides[k], n times. Parallel over large shapes.
  template <class Row>
  void run(Row&& row) const {
    parallel_for(numel_, kParallelGrain, [&](int64_t begin, int64_t end) { run_range(begin, end, row); });
  }

 private:
  template <class Row>
  void run_range(int64_t begin, int64_t end, Row& row) const {
    std::array<int64_t, N> offsets{};
    std::array<int64_t, N> inner{};
    const int64_t nd = static_cast<int64_t>(shape_.size());
    if (nd == 0) {  // a single element
      row(offsets, int64_t{1}, inner);
      return;
    }
    for (size_t k = 0; k < N; ++k) inner[k] = strides_[k][nd - 1];
    // Multi-index of `begin`.
    std::vector<int64_t> idx(nd);
    for (int64_t d = nd - 1, rest = begin; d >= 0; --d) {
      idx[d] = rest % shape_[d];
      rest /= shape_[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += idx[d] * strides_[k][d];
    }
    for (int64_t pos = begin; pos < end;) {
      int64_t n = std::min(shape_[nd - 1] - idx[nd - 1], end - pos);
      row(offsets, n, inner);
      pos += n;
      idx[nd - 1] += n;
      for (size_t k = 0; k < N; ++k) offsets[k] += n * inner[k];
      for (int64_t d = nd - 1; d > 0 && idx[d] == shape_[d]; --d) {  // carry
        for (size_t k = 0; k < N; ++k) offsets[k] += strides_[k][d - 1] - idx[d] * strides_[k][d];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }

  Shape shape_;
  std::array<Strides, N> strides_;
  int64_t numel_ = 0;
};

}  // namespace gg::detail
