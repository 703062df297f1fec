// Gradient clipping: the total norm over all parameters, scaling to max_norm, the max
// norm, non-finite gradients, and clamping by value.
#include <cmath>
#include <limits>

#include "optim_testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;
namespace optim = gg::optim;

namespace {

using Vec = std::vector<double>;

// Two parameters with gradients [3, 4] and [12]: total 2-norm 13, max norm 12.
struct Params {
  Tensor a = param({0.0, 0.0}), b = param({0.0});
  Params() {
    set_grad(a, {3.0, 4.0});
    set_grad(b, {-12.0});
  }
  std::vector<Tensor> all() const { return {a, b}; }
  double norm() const {
    double s = 0;
    for (const Tensor& p : all())
      for (double g : values(p.grad())) s += g * g;
    return std::sqrt(s);
  }
};

}  // namespace

TEST_CASE("clip_grad_norm_: returns the total norm and scales the gradients to max_norm", "[optim][clip]") {
  Params p;
  const double total = optim::clip_grad_norm_(p.all(), 6.5);
  CHECK(total == Approx(13.0).epsilon(1e-15));
  CHECK(p.norm() == Approx(6.5).epsilon(1e-6));  // torch's clip_coef = max_norm / (total + 1e-6)
  const double scale = 6.5 / (13.0 + 1e-6);
  CHECK(values(p.a.grad()) == Vec{3.0 * scale, 4.0 * scale});
  CHECK(values(p.b.grad()) == Vec{-12.0 * scale});
  // Clipping again finds the new norm and leaves it (it is already under max_norm).
  CHECK(optim::clip_grad_norm_(p.all(), 6.5) == Approx(6.5).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm_: leaves the gradients alone when under max_norm", "[optim][clip]") {
  Params p;
  CHECK(optim::clip_grad_norm_(p.all(), 20.0) == Approx(13.0).epsilon(1e-15));
  CHECK(values(p.a.grad()) == Vec{3.0, 4.0});
  CHECK(values(p.b.grad()) == Vec{-12.0});
}

TEST_CASE("clip_grad_norm_: the max norm (norm_type = inf) and the 1-norm", "[optim][clip]") {
  Params p;
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(optim::clip_grad_norm_(p.all(), 6.0, {.norm_type = inf}) == 12.0);
  const double scale = 6.0 / (12.0 + 1e-6);
  CHECK(values(p.a.grad()) == Vec{3.0 * scale, 4.0 * scale});
  CHECK(values(p.b.grad()) == Vec{-12.0 * scale});

  Params q;
  CHECK(optim::clip_grad_norm_(q.all(), 100.0, {.norm_type = 1.0}) == Approx(19.0).epsilon(1e-15));
}

TEST_CASE("clip_grad_norm_: parameters without a gradient are skipped", "[optim][clip]") {
  Params p;
  Tensor none = param({100.0});
  CHECK(optim::clip_grad_norm_({p.a, none, p.b}, 1.0) == Approx(13.0).epsilon(1e-15));
  CHECK_FALSE(none.grad().defined());
  CHECK(optim::clip_grad_norm_({none}, 1.0) == 0.0);
}

TEST_CASE("clip_grad_norm_: a NaN or inf gradient is an error by default, or returned untouched", "[optim][clip]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (double norm_type : {2.0, 1.0, inf}) {
    INFO("norm_type " << norm_type);
    // The NaN in the first parameter (then a finite norm follows) and in the last.
    Params p;
    set_grad(p.a, {3.0, nan});
    const std::string msg =
        error_message([&] { optim::clip_grad_norm_(p.all(), 1.0, {.norm_type = norm_type}); });
    CHECK_THAT(msg, Contains("nan"));
    CHECK_THAT(msg, Contains("hint"));
    CHECK(values(p.b.grad()) == Vec{-12.0});

    const double total = optim::clip_grad_norm_(p.all(), 1.0, {.norm_type = norm_type, .error_if_nonfinite = false});
    CHECK(std::isnan(total));
    CHECK(values(p.a.grad())[0] == 3.0);
    CHECK(std::isnan(values(p.a.grad())[1]));
    CHECK(values(p.b.grad()) == Vec{-12.0});

    Params last;
    set_grad(last.b, {nan});
    CHECK_THAT(error_message([&] { optim::clip_grad_norm_(last.all(), 1.0, {.norm_type = norm_type}); }),
               Contains("nan"));
    CHECK(std::isnan(optim::clip_grad_norm_(last.all(), 1.0, {.norm_type = norm_type, .error_if_nonfinite = false})));
    CHECK(values(last.a.grad()) == Vec{3.0, 4.0});

    Params q;
    set_grad(q.b, {inf});
    CHECK_THAT(error_message([&] { optim::clip_grad_norm_(q.all(), 1.0, {.norm_type = norm_type}); }),
               Contains("inf"));
    CHECK(std::isinf(optim::clip_grad_norm_(q.all(), 1.0, {.norm_type = norm_type, .error_if_nonfinite = false})));
    CHECK(values(q.a.grad()) == Vec{3.0, 4.0});
  }
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_ reject negative limits", "[optim][clip]") {
  Params p;
  CHECK_THROWS_AS(optim::clip_grad_norm_(p.all(), -1.0), gg::Error);
  CHECK_THROWS_AS(optim::clip_grad_value_(p.all(), -1.0), gg::Error);
}

TEST_CASE("clip_grad_value_: clamps every element into [-c, c]", "[optim][clip]") {
  Params p;
  Tensor none = param({1.0});
  optim::clip_grad_value_({p.a, none, p.b}, 3.5);
  CHECK(values(p.a.grad()) == Vec{3.0, 3.5});
  CHECK(values(p.b.grad()) == Vec{-3.5});
  CHECK_FALSE(none.grad().defined());
}

TEST_CASE("clip_grad_norm_ works on float32 gradients of a module", "[optim][clip]") {
  gg::manual_seed(3);
  gg::nn::Linear m(4, 3);
  gg::sum(m.forward(gg::randn({5, 4})) * 10.0).backward();
  const double total = optim::clip_grad_norm_(m.parameters(), 0.5);
  CHECK(total > 0.5);
  double s = 0;
  for (const Tensor& p : m.parameters())
    for (double g : values(p.grad())) s += g * g;
  CHECK(std::sqrt(s) == Approx(0.5).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm_: the one-pass 2-norm of large float32 and float64 gradients matches a double sum",
          "[optim][clip]") {
  for (const gg::DType dtype : {gg::DType::Float32, gg::DType::Float64}) {
    INFO(gg::dtype_name(dtype));
    gg::manual_seed(9);
    // 100,000 and 7 elements: several chunks of the fused reduction, and a tail.
    std::vector<Tensor> ps{gg::zeros({500, 200}, {.dtype = dtype}), gg::zeros({7}, {.dtype = dtype})};
    double squares = 0;
    for (Tensor& p : ps) {
      p.requires_grad_();
      set_grad(p, gg::randn(p.shape(), {.dtype = dtype}));
      for (double g : p.grad().to_vector<double>()) squares += g * g;
    }
    const double norm = optim::clip_grad_norm_(ps, 1.0);
    CHECK(norm == Approx(std::sqrt(squares)).epsilon(1e-12));
    double after = 0;
    for (const Tensor& p : ps)
      for (double g : p.grad().to_vector<double>()) after += g * g;
    const double expected = norm / (norm + 1e-6);  // torch's clip_coef: max_norm / (norm + 1e-6)
    CHECK(std::sqrt(after) == Approx(expected).epsilon(dtype == gg::DType::Float32 ? 1e-6 : 1e-12));
  }
}
