// The fused additive score (autograd/fused_attention.h) against its composed twin, forward and
// backward, and a float64 gradcheck of the op itself; then through the module with a mask.
#include "nn_testing.h"

using gg::Tensor;
namespace F = gg::nn::functional;
using nn_test::In;

TEST_CASE("fused additive score agrees with the composed ops", "[nn][attention]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-5}}) {
    INFO(gg::dtype_name(dtype));
    std::vector<std::vector<Tensor>> results;
    for (bool fused : {true, false}) {
      gg::manual_seed(81);
      const gg::TensorOptions leaf{.dtype = dtype, .requires_grad = true};
      // queries [B=2, Tq=3, Dq=5], projected keys [2, S=4, A=6], U [6, 5], v [6]
      Tensor q = gg::uniform({2, 3, 5}, -1, 1, leaf), kp = gg::uniform({2, 4, 6}, -1, 1, leaf),
             U = gg::uniform({6, 5}, -1, 1, leaf), v = gg::uniform({6}, -1, 1, leaf);
      Tensor scores = F::additive_scores(q, kp, U, v, fused);
      gg::sum(scores * gg::randn({2, 3, 4}, {.dtype = dtype})).backward();
      results.push_back({scores, q.grad(), kp.grad(), U.grad(), v.grad()});
    }
    const char* names[] = {"scores", "query grad", "keys_proj grad", "U grad", "v grad"};
    for (size_t i = 0; i < results[0].size(); ++i) nn_test::require_close(results[0][i], results[1][i], rtol, names[i]);
  }
}

TEST_CASE("gradcheck: fused additive score op", "[gradcheck][nn][attention]") {
  gg::manual_seed(82);
  auto fn = [](const In& in) { return gg::additive_score_fused(in[0], in[1], in[2]); };
  nn_test::expect_gradcheck("additive_score_fused", fn,
                            {nn_test::leaf({2, 3, 4}, -1.5, 1.5), nn_test::leaf({2, 5, 4}, -1.5, 1.5), nn_test::leaf({4})});
}

TEST_CASE("additive attention module: fused and composed give the same weights and gradients under a padding mask",
          "[nn][attention]") {
  std::vector<std::vector<Tensor>> results;
  for (bool fused : {true, false}) {
    gg::manual_seed(83);
    gg::nn::AdditiveAttention att(5, 6, 7, gg::DType::Float64);
    att.fused = fused;
    Tensor q = nn_test::leaf({3, 5}), keys = nn_test::leaf({3, 4, 6});
    const Tensor mask = F::padding_mask(gg::from_vector<int64_t>({4, 1, 2}), 4);  // [B, 1, S]
    gg::nn::AttentionOutput out = att.forward(q, keys, keys, mask);
    gg::sum(out.context * gg::randn(out.context.shape(), {.dtype = gg::DType::Float64})).backward();
    results.push_back({out.weights, out.context, q.grad(), keys.grad(), att.v.grad(), att.U->weight.grad(), att.W->weight.grad()});
  }
  for (size_t i = 0; i < results[0].size(); ++i) nn_test::require_close(results[0][i], results[1][i], 1e-12, "output " + std::to_string(i));
}

TEST_CASE("fused additive score names the op and the shapes on bad input", "[nn][attention]") {
  CHECK_THAT(nn_test::error_message([] { gg::additive_score_fused(gg::zeros({2, 3, 4}), gg::zeros({2, 5, 3}), gg::zeros({4})); }),
             Catch::Matchers::Contains("additive_score_fused") && Catch::Matchers::Contains("[2, 5, 3]"));
}
