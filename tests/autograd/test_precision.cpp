// float32 against float64: the same composed function from the same values agrees to about
// 1e-5 relative, forward and backward; and to() carries gradients across dtypes.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;

namespace {

// x [B=4, E=5], w [E, H=3], b [H] -> a scalar through most op families.
Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor h = gg::tanh(gg::matmul(x, w) + b);
  Tensor p = gg::softmax(h * 2.0, -1);
  Tensor s = gg::log(gg::sigmoid(h) + 1.0) * gg::sqrt(p + 0.5);
  return gg::mean(s) + gg::sum(gg::var(gg::log_softmax(x, 0), {1})) * 0.1;
}

}  // namespace

TEST_CASE("float32 and float64 agree to ~1e-5 relative on a composed function, forward and gradients",
          "[autograd][precision]") {
  gg::manual_seed(901);
  const Tensor x64 = leaf({4, 5}), w64 = leaf({5, 3}), b64 = leaf({3});
  auto as_f32 = [](const Tensor& t) { return t.detach().to(gg::DType::Float32).requires_grad_(); };
  const Tensor x32 = as_f32(x64), w32 = as_f32(w64), b32 = as_f32(b64);

  const Tensor y64 = composed(x64, w64, b64), y32 = composed(x32, w32, b32);
  REQUIRE(y32.dtype() == gg::DType::Float32);
  REQUIRE(y64.dtype() == gg::DType::Float64);
  CHECK(y32.item<double>() == Approx(y64.item<double>()).epsilon(1e-5));

  y64.backward();
  y32.backward();
  REQUIRE(x32.grad().dtype() == gg::DType::Float32);
  require_close(x32.grad(), x64.grad(), 1e-5, "dx", 1e-6);
  require_close(w32.grad(), w64.grad(), 1e-5, "dw", 1e-6);
  require_close(b32.grad(), b64.grad(), 1e-5, "db", 1e-6);
}

TEST_CASE("to() carries gradients from float32 back to a float64 leaf", "[autograd][precision]") {
  gg::manual_seed(902);
  const Tensor x = leaf({2, 3});
  const Tensor r = gg::randn({2, 3});  // float32
  const Tensor y = x.to(gg::DType::Float32);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name() == "ToBackward");
  gg::sum(y * r).backward();
  REQUIRE(x.grad().dtype() == gg::DType::Float64);
  require_close(x.grad(), r.to(gg::DType::Float64), 0.0, "dx");  // a float32 value is exact in float64
}

TEST_CASE("to() an integer type records no gradient", "[autograd][precision]") {
  const Tensor x = gg::from_vector<double>({-2.5, 0.75, 4.9}, {3}, kLeaf64);
  const Tensor ids = x.to(gg::DType::Int64);
  CHECK(ids.to_vector<int64_t>() == std::vector<int64_t>{-2, 0, 4});  // truncation toward zero, as a C++ cast
  CHECK_FALSE(ids.requires_grad());
  CHECK(ids.grad_fn() == nullptr);
}
