#pragma once
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace gg::optim {

struct ClipOptions {
  double norm_type = 2.0;  // or std::numeric_limits<double>::infinity() for the max norm
  // A non-finite total norm (a NaN or inf gradient) is an error naming it; with false, the
  // norm is returned and the gradients are left untouched.
  bool error_if_nonfinite = true;
};

// Scales all gradients by max_norm / total_norm when the total norm (over all parameters
// together) exceeds max_norm. Returns the total norm before clipping.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipOptions& options = {});
// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace gg::optim
