#include "optim/clip.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/reduce.h"

namespace gg::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipOptions& options) {
  GG_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be non-negative, got {}", max_norm);
  NoGradGuard no_grad;
  const bool inf_norm = std::isinf(options.norm_type);
  double total = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (inf_norm) {
      const double m = max(abs(g)).item<double>();
      if (std::isnan(m) || m > total) total = m;  // keeps a NaN, which std::max(total, m) would drop
    } else {
      total += sum(pow(abs(g), options.norm_type)).item<double>();
    }
  }
  if (!inf_norm) total = std::pow(total, 1.0 / options.norm_type);
  if (!std::isfinite(total)) {
    GG_CHECK(!options.error_if_nonfinite,
             "clip_grad_norm_: the total gradient norm is {}, so some gradient holds a NaN or inf; hint: lower the "
             "learning rate, check the loss for log(0) or division by zero, or pass error_if_nonfinite = false",
             total);
    return total;
  }
  const double scale = max_norm / (total + 1e-6);  // torch's clip_coef
  if (scale < 1)
    for (const Tensor& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  GG_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got {}", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace gg::optim
