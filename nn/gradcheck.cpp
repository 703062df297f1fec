#include "nn/gradcheck.h"

namespace gg::nn {

GradcheckResult gradcheck_module(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                                 GradcheckOptions options) {
  auto slots = module.parameter_slots();
  std::vector<Tensor> all = inputs, originals;
  for (auto& [name, slot] : slots) {
    GG_CHECK(slot->dtype() == DType::Float64,
             "gradcheck_module: parameter '{}' of {} is {}; hint: call module.to(gg::DType::Float64) first", name,
             module.name(), dtype_name(slot->dtype()));
    originals.push_back(*slot);
    all.push_back(*slot);
  }
  if (options.name == GradcheckOptions{}.name) options.name = module.name();
  const size_t n = inputs.size();
  auto wrapped = [&](const std::vector<Tensor>& in) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i].second = in[n + i];
    return fn(std::vector<Tensor>(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n)));
  };
  GradcheckResult result;
  try {
    result = gradcheck(wrapped, all, options);
  } catch (...) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i].second = originals[i];
    throw;
  }
  for (size_t i = 0; i < slots.size(); ++i) *slots[i].second = originals[i];
  // Name parameters, not input numbers, in the report.
  for (size_t i = 0; i < slots.size(); ++i) {
    const std::string input = fmt::format("input {} ", n + i);
    if (auto at = result.message.find(input); at != std::string::npos)
      result.message.replace(at, input.size() - 1, fmt::format("parameter '{}'", slots[i].first));
  }
  return result;
}

}  // namespace gg::nn
