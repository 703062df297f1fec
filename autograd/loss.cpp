// Fused cross-entropy: log-softmax and the negative log-likelihood in one pass over the
// logits (core/cross_entropy.cpp), skipping ignored (padding) targets. Its composed twin is
// below (CrossEntropyOptions::fused = false); tests/nn check that the two agree.
#include "autograd/loss.h"

#include <vector>

#include "autograd/elementwise.h"
#include "autograd/index.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "autograd/softmax.h"
#include "core/kernels.h"

namespace gg {
namespace {

struct Rows {
  int64_t n = 0, classes = 0;
};

Rows check_cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  GG_CHECK(logits.defined() && target.defined(), "cross_entropy: an input tensor is undefined");
  GG_CHECK(logits.is_floating_point(), "cross_entropy: logits must be float, got {}", dtype_name(logits.dtype()));
  GG_CHECK(target.dtype() == DType::Int64,
           "cross_entropy: targets must be int64 class ids, got {} of shape {}; hint: convert with "
           ".to(gg::DType::Int64)",
           dtype_name(target.dtype()), target.shape());
  GG_CHECK(logits.dim() >= 1, "cross_entropy: logits need a class dim, got shape {}", logits.shape());
  Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  GG_CHECK(target.shape() == lead,
           "cross_entropy: logits of shape {} need targets of shape {} (classes on the last dim), got {}",
           logits.shape(), lead, target.shape());
  GG_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0,
           "cross_entropy: label_smoothing must be in [0, 1], got {}", o.label_smoothing);
  return {target.numel(), logits.size(-1)};
}

}  // namespace

// forward: loss_n = (1 - eps) (lse_n - x[n, y_n]) + eps (lse_n - mean_c x[n, c])   (core/cross_entropy.cpp)
// backward: dx[n, c] = w_n (softmax(x_n)_c - (1 - eps) [c == y_n] - eps / C), w_n the row's share
// of dy: dy_n (no reduction), dy (sum), dy / counted (mean); 0 where y_n is ignored.
struct CrossEntropyBackward : Node {
  SavedTensor logits{this}, target{this}, lse{this};  // logits [N, C], target [N], lse [N]
  CrossEntropyOptions options;
  int64_t counted = 0;  // targets not ignored
  std::string name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = kernel::cast(kernel::contiguous(dy_in.reshape({-1})), DType::Float64);
    const double* pdy = dy.data<double>();
    const int64_t* y = target().data<int64_t>();
    std::vector<double> w(static_cast<size_t>(target().numel()), 0.0);
    for (size_t n = 0; n < w.size(); ++n) {
      if (y[n] == options.ignore_index) continue;
      w[n] = options.reduction == Reduction::None ? pdy[n]
             : options.reduction == Reduction::Sum ? pdy[0]
                                                   : pdy[0] / static_cast<double>(counted);
    }
    const Tensor dx = kernel::cross_entropy_backward(logits(), target(), lse(), w, options.label_smoothing);
    return {dx.reshape(inputs[0].shape), Tensor()};
  }
};

namespace {
// The composed twin: log_softmax, gather and masks, op by op.
Tensor cross_entropy_composed(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  const double eps = options.label_smoothing;
  const Tensor keep = ne(target, static_cast<double>(options.ignore_index));  // [...]
  const Tensor safe_target = where(keep, target, zeros_like(target));  // ignored -> class 0, masked below
  const Tensor logp = log_softmax(logits, -1);                                  // [..., C]
  const Tensor nll = -gather(logp, -1, safe_target.unsqueeze(-1)).squeeze(-1);  // [...]
  const Tensor smooth = -mean(logp, {-1});                                      // [...]
  const Tensor losses = masked_fill(nll * (1.0 - eps) + smooth * eps, logical_not(keep), 0.0);
  if (options.reduction == Reduction::None) return losses;
  const Tensor total = sum(losses);
  if (options.reduction == Reduction::Sum) return total;
  const Tensor counted = sum(keep.to(logits.dtype()));
  return total / maximum(counted, ones({}, {.dtype = total.dtype()}));  // 0 when nothing is counted
}
}  // namespace

Tensor cross_entropy(const Tensor& logits_in, const Tensor& target_in, const CrossEntropyOptions& options) {
  const Rows r = check_cross_entropy(logits_in, target_in, options);
  if (!options.fused) return cross_entropy_composed(logits_in, target_in, options);
  const Tensor x = kernel::contiguous(logits_in).view({r.n, r.classes});
  const Tensor y = kernel::contiguous(target_in).view({r.n});
  kernel::CrossEntropyRows rows = kernel::cross_entropy(x, y, options.ignore_index, options.label_smoothing);
  Tensor out;
  if (options.reduction == Reduction::None) {
    out = kernel::view(rows.losses, target_in.shape());
  } else {
    out = kernel::sum(rows.losses, {}, false);
    if (options.reduction == Reduction::Mean)
      kernel::scale(out, rows.counted > 0 ? 1.0 / static_cast<double>(rows.counted) : 0.0);
  }
  if (needs_grad(logits_in)) {
    auto node = std::make_shared<CrossEntropyBackward>();
    node->logits = x;
    node->target = y;
    node->lse = rows.lse;
    node->options = options;
    node->counted = rows.counted;
    attach(out, node, {logits_in, target_in});
  }
  return out;
}

}  // namespace gg
