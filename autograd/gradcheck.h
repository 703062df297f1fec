#pragma once
// gg::gradcheck: compares the gradients backward() computes with central finite
// differences, in float64, the way torch.autograd.gradcheck does. Use it on your own code:
//
//   auto result = gg::gradcheck([](const std::vector<gg::Tensor>& in) { return my_layer(in[0], in[1]); },
//                               {x, w}, {.name = "my_layer"});
//   if (!result) std::cout << result.message;
//
// Only inputs with requires_grad() are checked. The output is scalarized as sum(out * R)
// with a fixed random R, so every output element gets a different upstream gradient (an
// all-ones gradient hides transposition bugs).
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gg {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
  uint64_t seed = 0;   // of the projection R
  std::string name = "function";  // how the report names what was checked
};

struct GradcheckResult {
  bool ok = false;
  int64_t elements_checked = 0;
  int64_t mismatches = 0;
  std::string message;  // on failure: op, input, element index, analytic and numeric values
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace gg
