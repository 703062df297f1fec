// Attention modules with `fused` on and off: the additive attention and the multi-head
// attention give the same outputs and gradients through the fused ops as through the composed ones.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace F = gg::nn::functional;

TEST_CASE("additive attention module: fused and composed give the same weights and gradients under a padding mask",
          "[nn][attention]") {
  std::vector<std::vector<Tensor>> results;
  for (bool fused : {true, false}) {
    gg::manual_seed(83);
    gg::nn::AdditiveAttention att(5, 6, 7, {.dtype = gg::DType::Float64, .fused = fused});
    Tensor q = leaf({3, 5}), keys = leaf({3, 4, 6});
    const Tensor mask = F::padding_mask(gg::from_vector<int64_t>({4, 1, 2}), 4);  // [B, 1, S]
    gg::nn::AttentionOutput out = att.forward(q, keys, keys, mask);
    gg::sum(out.context * gg::randn(out.context.shape(), {.dtype = gg::DType::Float64})).backward();
    results.push_back({out.weights, out.context, q.grad(), keys.grad(), att.v.grad(), att.U->weight.grad(), att.W->weight.grad()});
  }
  for (size_t i = 0; i < results[0].size(); ++i) require_close(results[0][i], results[1][i], 1e-12, "output " + std::to_string(i));
}

TEST_CASE("multi-head attention: the fused and composed attention give the same outputs and gradients",
          "[nn][attention]") {
  for (auto [packed, dropout] : {std::pair{false, 0.0}, std::pair{true, 0.0}, std::pair{false, 0.3}, std::pair{true, 0.3}}) {
    INFO((packed ? "forward_packed" : "forward") << ", dropout " << dropout);
    std::vector<std::vector<Tensor>> results;
    for (bool fused : {true, false}) {
      gg::manual_seed(89);
      gg::nn::MultiHeadAttention mha(
          12, 3, {.dropout = dropout, .batch_first = true, .dtype = gg::DType::Float64, .fused = fused});
      Tensor x = leaf({3, 5, 12});
      const Tensor lengths = gg::from_vector<int64_t>({5, 2, 4});
      const Tensor padding = F::padding_mask(lengths, 5).squeeze(1);  // [B, S]
      const Tensor causal = F::causal_mask(5, 5);
      Tensor out;
      if (packed) {
        const gg::nn::Packing rows = gg::nn::Packing::from_padding(padding);
        out = mha.forward_packed(rows.pack(x), rows.pack(x), rows.pack(x), rows, rows, causal);
      } else {
        out = mha.forward(x, x, x, padding, causal, /*need_weights=*/false).output;
      }
      gg::sum(out * gg::randn(out.shape(), {.dtype = gg::DType::Float64})).backward();
      results.push_back({out, x.grad(), mha.in_proj_weight.grad(), mha.out_proj->weight.grad()});
    }
    for (size_t i = 0; i < results[0].size(); ++i)
      require_close(results[0][i], results[1][i], 1e-12, "output " + std::to_string(i));
  }
}

