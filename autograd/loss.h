#pragma once
// Fused losses: one kernel forward (core/cross_entropy.cpp), one node backward, and the
// composed twin they are tested against (CrossEntropyOptions::fused = false).
// nn/functional.h has the documented entry points.
#include "core/tensor.h"

namespace gg {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;   // targets equal to this contribute no loss and no gradient
  double label_smoothing = 0.0;  // eps: the target distribution is (1 - eps) one-hot + eps / C
  Reduction reduction = Reduction::Mean;  // Mean divides by the number of targets not ignored
  // One op, one pass over each row of logits (core/cross_entropy.cpp); false: the composed
  // twin, log_softmax, gather and masks op by op, the reference the two are tested against.
  bool fused = true;
};

// logits [..., C] (classes on the LAST dim, unlike PyTorch's dim 1), target int64 [...].
// loss = (1 - eps) * (logsumexp(x) - x[target]) + eps * (logsumexp(x) - mean_c x_c)
// With Reduction::None the result has target's shape; ignored positions are 0.
// A mean over zero counted targets is 0 (PyTorch gives nan).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});

}  // namespace gg
