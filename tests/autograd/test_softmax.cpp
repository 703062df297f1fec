// softmax and log_softmax (autograd/softmax.cpp): gradchecks over several dims, and the
// fused kernels against their composed twins built from gg ops, in values and gradients:
//   softmax(x)     = exp(x - max) / sum(exp(x - max))
//   log_softmax(x) = (x - max) - log(sum(exp(x - max)))
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

namespace {

// The library's composed twins (fused = false).
Tensor composed_softmax(const Tensor& x, int64_t dim) { return gg::softmax(x, dim, /*fused=*/false); }
Tensor composed_log_softmax(const Tensor& x, int64_t dim) { return gg::log_softmax(x, dim, /*fused=*/false); }

// Runs `fused` and `composed` on separate copies of x, backpropagates the same random
// projection through both, and compares the outputs and x's gradients.
void expect_fused_matches_composed(const Tensor& x_in, const std::function<Tensor(const Tensor&)>& fused,
                                   const std::function<Tensor(const Tensor&)>& composed) {
  const Tensor x1 = x_in.detach().clone().requires_grad_(), x2 = x_in.detach().clone().requires_grad_();
  const Tensor y1 = fused(x1), y2 = composed(x2);
  REQUIRE(y1.shape() == x_in.shape());
  require_close(y1, y2, 1e-12, "output", 1e-14);
  const Tensor r = gg::randn(y1.shape(), {.dtype = gg::DType::Float64});
  gg::sum(y1 * r).backward();
  gg::sum(y2 * r).backward();
  require_close(x1.grad(), x2.grad(), 1e-9, "input gradient", 1e-12);
}

}  // namespace

// ---- gradchecks -----------------------------------------------------------------------------

TEST_CASE("gradcheck: softmax over the last dim of [3,5]", "[gradcheck][autograd]") {
  gg::manual_seed(301);
  expect_gradcheck("softmax", "SoftmaxBackward", [](const In& in) { return gg::softmax(in[0], -1); },
                   {leaf({3, 5}, -2.0, 2.0)});
}

TEST_CASE("gradcheck: softmax over dims 0, 1 and 2 of [2,3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(302);
  const Tensor x = leaf({2, 3, 4}, -2.0, 2.0);
  for (int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    expect_gradcheck("softmax", "SoftmaxBackward", [dim](const In& in) { return gg::softmax(in[0], dim); }, {x});
  }
}

TEST_CASE("gradcheck: softmax over a size-1 dim of [3,1]", "[gradcheck][autograd]") {
  gg::manual_seed(303);
  expect_gradcheck("softmax", "SoftmaxBackward", [](const In& in) { return gg::softmax(in[0], 1) * in[0]; },
                   {leaf({3, 1})});
}

TEST_CASE("gradcheck: log_softmax over the last dim of [4,6]", "[gradcheck][autograd]") {
  gg::manual_seed(304);
  expect_gradcheck("log_softmax", "LogSoftmaxBackward", [](const In& in) { return gg::log_softmax(in[0], -1); },
                   {leaf({4, 6}, -3.0, 3.0)});
}

TEST_CASE("gradcheck: log_softmax over dims 0, 1 and -1 of [2,3,4]", "[gradcheck][autograd]") {
  gg::manual_seed(305);
  const Tensor x = leaf({2, 3, 4}, -2.0, 2.0);
  for (int64_t dim : {0, 1, -1}) {
    INFO("dim " << dim);
    expect_gradcheck("log_softmax", "LogSoftmaxBackward",
                     [dim](const In& in) { return gg::log_softmax(in[0], dim); }, {x});
  }
}

TEST_CASE("gradcheck: log_softmax of a transposed view [5,3]^T over dim 1", "[gradcheck][autograd]") {
  gg::manual_seed(306);
  expect_gradcheck("log_softmax", "LogSoftmaxBackward",
                   [](const In& in) { return gg::log_softmax(in[0].t(), 1); }, {leaf({5, 3}, -2.0, 2.0)});
}

// ---- fused vs composed ----------------------------------------------------------------------

TEST_CASE("softmax agrees with exp(x - max) / sum(exp(x - max)) in values and gradients", "[autograd][softmax]") {
  gg::manual_seed(310);
  const Tensor x = leaf_distinct({3, 4, 5}, 0.3);
  for (int64_t dim : {0, 1, 2, -1}) {
    INFO("dim " << dim);
    expect_fused_matches_composed(x, [dim](const Tensor& t) { return gg::softmax(t, dim); },
                                  [dim](const Tensor& t) { return composed_softmax(t, dim); });
  }
}

TEST_CASE("log_softmax agrees with (x - max) - log(sum(exp(x - max))) in values and gradients",
          "[autograd][softmax]") {
  gg::manual_seed(311);
  const Tensor x = leaf_distinct({3, 4, 5}, 0.3);
  for (int64_t dim : {0, 1, 2, -1}) {
    INFO("dim " << dim);
    expect_fused_matches_composed(x, [dim](const Tensor& t) { return gg::log_softmax(t, dim); },
                                  [dim](const Tensor& t) { return composed_log_softmax(t, dim); });
  }
}

TEST_CASE("softmax and log_softmax stay finite and match the composed forms for large inputs",
          "[autograd][softmax]") {
  gg::manual_seed(312);
  // exp(800) overflows a double: only the max-shifted forms survive.
  const Tensor x = leaf_distinct({2, 6}, 0.3) * 1000.0 + 200.0;
  const Tensor y = gg::softmax(x, 1), ly = gg::log_softmax(x, 1);
  for (double v : y.to_vector<double>()) CHECK(std::isfinite(v));
  for (double v : ly.to_vector<double>()) CHECK(std::isfinite(v));
  expect_fused_matches_composed(x, [](const Tensor& t) { return gg::softmax(t, 1); },
                                [](const Tensor& t) { return composed_softmax(t, 1); });
  expect_fused_matches_composed(x, [](const Tensor& t) { return gg::log_softmax(t, 1); },
                                [](const Tensor& t) { return composed_log_softmax(t, 1); });
}
