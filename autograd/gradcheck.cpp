#include "autograd/gradcheck.h"

#include <fmt/ranges.h>

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/random.h"

namespace gg {
namespace {

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  // Fresh float64 leaves, so the check neither reads nor disturbs the caller's .grad().
  std::vector<Tensor> xs;
  bool any = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    GG_CHECK(in.defined(), "gradcheck: input {} is undefined", i);
    if (!in.requires_grad()) {
      xs.push_back(in);
      continue;
    }
    GG_CHECK(in.dtype() == DType::Float64,
             "gradcheck: input {} of shape {} is {}, but gradcheck needs float64 (finite differences in float32 "
             "are too noisy); hint: .to(gg::DType::Float64)",
             i, in.shape(), dtype_name(in.dtype()));
    xs.push_back(in.detach().clone().requires_grad_(true));
    any = true;
  }
  GG_CHECK(any, "gradcheck: no input requires grad, so there is nothing to check; hint: call requires_grad_() on "
                "the inputs to differentiate");

  Tensor out = fn(xs);
  GG_CHECK(out.defined() && out.dtype() == DType::Float64,
           "gradcheck: {} must return a float64 tensor, got {}", options.name,
           out.defined() ? dtype_name(out.dtype()) : "an undefined tensor");
  const std::string op = out.grad_fn() ? out.grad_fn()->name() : "no grad_fn";

  Generator rng(options.seed);
  Tensor projection = Tensor::empty(out.shape(), DType::Float64);
  for (int64_t i = 0; i < projection.numel(); ++i) projection.data<double>()[i] = rng.normal();

  if (out.requires_grad()) sum(out * projection).backward();

  auto scalarized = [&]() {
    NoGradGuard no_grad;
    Tensor y = fn(xs);
    GG_CHECK(y.shape() == out.shape(), "gradcheck: {} returned shape {} after a perturbation, {} before",
             options.name, y.shape(), out.shape());
    return sum(y * projection).item<double>();
  };

  GradcheckResult result;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    Tensor analytic = xs[i].grad().defined() ? xs[i].grad().contiguous() : zeros_like(xs[i]);
    const double* a = analytic.data<double>();
    double* x = xs[i].data<double>();
    for (int64_t j = 0; j < xs[i].numel(); ++j) {
      const double original = x[j];
      x[j] = original + options.eps;
      const double plus = scalarized();
      x[j] = original - options.eps;
      const double minus = scalarized();
      x[j] = original;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double diff = std::fabs(a[j] - numeric);
      const double tolerance = options.atol + options.rtol * std::fabs(numeric);
      ++result.elements_checked;
      if (!(diff <= tolerance)) {  // also catches NaN
        if (result.mismatches++ == 0)
          result.message = fmt::format(
              "gradcheck failed for {} (output from {}): input {} of shape {}, element [{}]: analytic {:.10g}, "
              "numeric {:.10g}, |diff| {:.3g} > atol + rtol * |numeric| = {:.3g}",
              options.name, op, i, xs[i].shape(), fmt::join(unravel(j, xs[i].shape()), ", "), a[j], numeric, diff,
              tolerance);
      }
    }
  }
  result.ok = result.mismatches == 0;
  if (!result.ok) result.message += fmt::format(" ({} of {} elements differ)", result.mismatches, result.elements_checked);
  return result;
}

}  // namespace gg
