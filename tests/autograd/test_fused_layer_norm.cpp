// The fused layer norm (autograd/fused_layer_norm.h) against its composed twin, forward and
// backward, over one and two normalized dims, with and without weight and bias; gradchecks
// of the op in float64.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace F = gg::nn::functional;

TEST_CASE("fused layer norm agrees with the composed ops", "[autograd][layer_norm]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-5}})
    for (const gg::Shape& normalized : {gg::Shape{6}, gg::Shape{4, 6}})
      for (int64_t lead : {3, 25})  // 25 x 4 = 100 rows of 6: several blocks of the backward's row sums, one ragged
      for (bool affine : {true, false}) {
        INFO(gg::dtype_name(dtype) << ", normalized over " << normalized << ", x [" << lead << ", 4, 6]"
                                   << (affine ? ", affine" : ""));
        std::vector<std::vector<Tensor>> results;
        for (bool fused : {true, false}) {
          gg::manual_seed(91);
          const gg::TensorOptions leaf{.dtype = dtype, .requires_grad = true};
          Tensor x = gg::uniform({lead, 4, 6}, -2, 3, leaf);  // rows with a nonzero mean
          Tensor w = affine ? gg::uniform(normalized, 0.5, 1.5, leaf) : Tensor();
          Tensor b = affine ? gg::uniform(normalized, -1, 1, leaf) : Tensor();
          Tensor y = F::layer_norm(x, normalized, w, b, 1e-5, fused);
          gg::sum(y * gg::randn(y.shape(), {.dtype = dtype})).backward();
          results.push_back({y, x.grad()});
          if (affine) {
            results.back().push_back(w.grad());
            results.back().push_back(b.grad());
          }
        }
        const char* names[] = {"y", "x grad", "weight grad", "bias grad"};
        for (size_t i = 0; i < results[0].size(); ++i) require_close(results[0][i], results[1][i], rtol, names[i]);
      }
}

TEST_CASE("gradcheck: fused layer norm op", "[gradcheck][autograd][layer_norm]") {
  gg::manual_seed(92);
  auto affine = [](const In& in) { return gg::layer_norm_fused(in[0], 5, in[1], in[2], 1e-5); };
  expect_gradcheck("layer_norm_fused (affine)", "LayerNormBackward", affine,
                            {leaf({3, 2, 5}, -1, 2), leaf({5}, 0.5, 1.5), leaf({5})});
  auto plain = [](const In& in) { return gg::layer_norm_fused(in[0], 10, {}, {}, 1e-5); };
  expect_gradcheck("layer_norm_fused (no affine, two dims)", "LayerNormBackward", plain, {leaf({3, 2, 5}, -1, 2)});
}

TEST_CASE("fused layer norm names the op and the sizes on bad input", "[autograd][layer_norm]") {
  CHECK_THAT(error_message([] { gg::layer_norm_fused(gg::zeros({3, 5}), 5, gg::ones({4}), {}, 1e-5); }),
             Catch::Matchers::Contains("layer_norm_fused") && Catch::Matchers::Contains("5 float32 elements"));
  CHECK_THAT(error_message([] { gg::layer_norm_fused(gg::zeros({3, 5}), 4, {}, {}, 1e-5); }),
             Catch::Matchers::Contains("4 elements per row do not divide x of shape [3, 5]"));
}
