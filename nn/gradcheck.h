#pragma once
// gradcheck for a whole module: with respect to the given inputs AND every parameter.
//
//   nn::LSTM lstm(3, 4, {.dtype = DType::Float64});
//   auto result = nn::gradcheck_module(lstm, [&](const std::vector<Tensor>& in) {
//     return lstm.forward(in[0]).output;
//   }, {x});
//
// The module must be float64 (module.to(DType::Float64)). During the check each parameter
// is temporarily replaced by the copy gradcheck perturbs; the originals are put back after.
#include "autograd/gradcheck.h"
#include "nn/module.h"

namespace gg::nn {

GradcheckResult gradcheck_module(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                                 GradcheckOptions options = {});

}  // namespace gg::nn
