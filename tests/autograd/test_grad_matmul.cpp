// Gradchecks of matmul (autograd/linalg.cpp): 2-D, batched, broadcast batch dims, 1-D
// operands on either side, and transposed views fed to BLAS with its transpose flags.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

namespace {
Tensor mm(const In& in) { return gg::matmul(in[0], in[1]); }
}  // namespace

TEST_CASE("gradcheck: matmul 2-D [3,4] @ [4,5]", "[gradcheck][autograd]") {
  gg::manual_seed(201);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({3, 4}), leaf({4, 5})});
}

TEST_CASE("gradcheck: matmul batched [2,3,4] @ [2,4,5]", "[gradcheck][autograd]") {
  gg::manual_seed(202);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({2, 3, 4}), leaf({2, 4, 5})});
}

TEST_CASE("gradcheck: matmul with broadcast batch dims [2,1,3,4] @ [5,4,2]", "[gradcheck][autograd]") {
  gg::manual_seed(203);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({2, 1, 3, 4}), leaf({5, 4, 2})});
}

TEST_CASE("gradcheck: matmul of a batch with one matrix [3,2,4] @ [4,3]", "[gradcheck][autograd]") {
  gg::manual_seed(204);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({3, 2, 4}), leaf({4, 3})});
}

TEST_CASE("gradcheck: matmul vector @ matrix [4] @ [4,3] and [4] @ [2,4,3]", "[gradcheck][autograd]") {
  gg::manual_seed(205);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({4}), leaf({4, 3})});
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({4}), leaf({2, 4, 3})});
}

TEST_CASE("gradcheck: matmul matrix @ vector [3,4] @ [4] and [2,3,4] @ [4]", "[gradcheck][autograd]") {
  gg::manual_seed(206);
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({3, 4}), leaf({4})});
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({2, 3, 4}), leaf({4})});
}

TEST_CASE("gradcheck: matmul vector @ vector [4] @ [4] (a dot product)", "[gradcheck][autograd]") {
  gg::manual_seed(207);
  const Tensor a = leaf({4}), b = leaf({4});
  CHECK(gg::matmul(a, b).shape() == gg::Shape{});
  expect_gradcheck("matmul", "MatmulBackward", mm, {a, b});
}

TEST_CASE("gradcheck: matmul of transposed views [4,3]^T @ [5,4]^T", "[gradcheck][autograd]") {
  gg::manual_seed(208);
  expect_gradcheck("matmul", "MatmulBackward", [](const In& in) { return gg::matmul(in[0].t(), in[1].t()); },
                   {leaf({4, 3}), leaf({5, 4})});
}

TEST_CASE("gradcheck: matmul of batched transposed views [2,4,3]^T @ [2,4,5]", "[gradcheck][autograd]") {
  gg::manual_seed(209);
  expect_gradcheck("matmul", "MatmulBackward",
                   [](const In& in) { return gg::matmul(in[0].transpose(-1, -2), in[1]); },
                   {leaf({2, 4, 3}), leaf({2, 4, 5})});
}

TEST_CASE("gradcheck: matmul with a constant operand [3,4] @ const [4,2]", "[gradcheck][autograd]") {
  gg::manual_seed(210);
  const Tensor w = gg::randn({4, 2}, {.dtype = gg::DType::Float64});
  expect_gradcheck("matmul", "MatmulBackward", mm, {leaf({3, 4}), w});
  expect_gradcheck("matmul", "MatmulBackward", mm, {w.t(), leaf({4, 3})});
}

TEST_CASE("gradcheck: matmul followed by sum (an expanded, stride-0 upstream gradient)", "[gradcheck][autograd]") {
  gg::manual_seed(211);
  expect_gradcheck("matmul", "MatmulBackward", [](const In& in) { return gg::sum(gg::matmul(in[0], in[1])) * in[2]; },
                   {leaf({3, 4}), leaf({4, 2}), leaf({})});
}
