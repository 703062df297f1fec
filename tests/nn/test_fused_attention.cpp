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

// ---- masked softmax: one op (gg::masked_softmax) against masked_fill, softmax, masked_fill ----

namespace {
// Masks that broadcast the ways attention uses them: key padding [B, 1, S], causal [Tq, S],
// both, and multi-head [B, 1, 1, S] against [B, h, Tq, S]; row 1 of batch 1 is fully masked.
// The causal mask also comes stored column by column (strides (1, 3)), which the fused kernel
// must not read as rows.
std::vector<std::pair<gg::Shape, Tensor>> softmax_masks() {
  const Tensor pad = F::padding_mask(gg::from_vector<int64_t>({4, 0}), 4);  // [2, 1, 4]; batch 1 all masked
  const Tensor causal = F::causal_mask(3, 4);                                // [3, 4]
  return {{{2, 3, 4}, pad},
          {{2, 3, 4}, causal},
          {{2, 3, 4}, gg::logical_or(pad, causal)},
          {{2, 2, 3, 4}, pad.unsqueeze(1)},
          {{2, 3, 4}, causal.t().contiguous().t()}};
}
}  // namespace

TEST_CASE("fused masked softmax agrees with the composed ops, forward and backward", "[nn][attention]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-6}}) {
    for (const auto& [shape, mask] : softmax_masks()) {
      INFO(gg::dtype_name(dtype) << " scores " << shape << " mask " << mask.shape());
      std::vector<std::vector<Tensor>> results;
      for (bool fused : {true, false}) {
        gg::manual_seed(84);
        Tensor x = gg::randn(shape, {.dtype = dtype}) * 3.0;
        x.requires_grad_();
        Tensor w = F::masked_softmax(x, mask, fused);
        gg::sum(w * gg::randn(shape, {.dtype = dtype})).backward();
        results.push_back({w, x.grad()});
      }
      nn_test::require_close(results[0][0], results[1][0], rtol, "weights");
      nn_test::require_close(results[0][1], results[1][1], rtol, "scores grad");
      const auto w = results[0][0].to(gg::DType::Float64).to_vector<double>();
      const auto m = mask.expand(shape).contiguous().to_vector<bool>();
      for (size_t i = 0; i < w.size(); ++i)
        if (m[i]) REQUIRE(w[i] == 0.0);  // exactly zero, not merely small
    }
  }
}

TEST_CASE("gradcheck: fused masked softmax", "[gradcheck][nn][attention]") {
  for (const auto& [shape, mask] : softmax_masks()) {
    INFO("mask " << mask.shape());
    gg::manual_seed(85);
    auto fn = [mask](const In& in) { return gg::masked_softmax(in[0], mask); };
    nn_test::expect_gradcheck("masked_softmax", fn, {nn_test::leaf(shape, -2.0, 2.0)});
  }
}

TEST_CASE("fused masked softmax names the op and the shapes on bad input", "[nn][attention]") {
  CHECK_THAT(nn_test::error_message([] { gg::masked_softmax(gg::zeros({2, 3, 4}), gg::zeros({2, 1, 5}).to(gg::DType::Bool)); }),
             Catch::Matchers::Contains("masked_softmax") && Catch::Matchers::Contains("[2, 1, 5]"));
  CHECK_THAT(nn_test::error_message([] { gg::masked_softmax(gg::zeros({2, 3, 4}), gg::zeros({2, 1, 4})); }),
             Catch::Matchers::Contains("masked_softmax") && Catch::Matchers::Contains("bool"));
}
