#pragma once
// Fused losses: one kernel forward, one node backward. nn/functional.h has the composed
// twins they are tested against, and the documented entry points.
#include "core/tensor.h"

namespace gg {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;   // targets equal to this contribute no loss and no gradient
  double label_smoothing = 0.0;  // eps: the target distribution is (1 - eps) one-hot + eps / C
  Reduction reduction = Reduction::Mean;  // Mean divides by the number of targets not ignored
};

// logits [..., C] (classes on the LAST dim, unlike PyTorch's dim 1), target int64 [...].
// loss = (1 - eps) * (logsumexp(x) - x[target]) + eps * (logsumexp(x) - mean_c x_c)
// With Reduction::None the result has target's shape; ignored positions are 0.
// A mean over zero counted targets is 0 (PyTorch gives nan).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});

}  // namespace gg
