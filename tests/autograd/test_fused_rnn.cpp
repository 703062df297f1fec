// The fused LSTM ops (autograd/fused_rnn.h): float64 gradchecks of the cell and the layer, in
// both directions and with padding; the bidirectional op against its two directions; errors.
#include <string>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;

TEST_CASE("gradcheck: fused LSTM cell op", "[gradcheck][autograd][rnn]") {
  gg::manual_seed(73);
  // x_proj, h_proj [B=3, 4H=8], c [3, 2]; pre-activations up to +-2 to reach the curved parts
  auto fn = [](const In& in) { return gg::lstm_cell_fused(in[0], in[1], in[2]); };
  expect_gradcheck("lstm_cell_fused", "LSTMCellBackward", fn, {leaf({3, 8}, -2, 2), leaf({3, 8}, -2, 2), leaf({3, 2})});
}

TEST_CASE("gradcheck: fused LSTM layer op, both directions, with and without lengths", "[gradcheck][autograd][rnn]") {
  for (bool reverse : {false, true})
    for (bool padded : {false, true}) {
      INFO((reverse ? "reverse" : "forward") << (padded ? ", lengths {4, 2, 3}" : ", no lengths"));
      gg::manual_seed(74);
      const Tensor lengths = padded ? gg::from_vector<int64_t>({4, 2, 3}) : Tensor();
      // x_proj [T=4, B=3, 4H=8], w_hh [8, 2], b_hh [8], h0 and c0 [3, 2]
      auto fn = [&](const In& in) { return gg::lstm_layer_fused(in[0], in[1], in[2], in[3], in[4], lengths, reverse); };
      expect_gradcheck("lstm_layer_fused", "LSTMLayerBackward", fn,
                                {leaf({4, 3, 8}, -2, 2), leaf({8, 2}), leaf({8}),
                                 leaf({3, 2}), leaf({3, 2})});
    }
}

TEST_CASE("the bidirectional LSTM op equals its two directions run one by one", "[autograd][rnn]") {
  // T = 5, B = 3, H = 4; per direction x_proj [5, 3, 16], w_hh [16, 4], b_hh [16], h0 and c0 [3, 4].
  for (bool padded : {false, true}) {
    INFO((padded ? "lengths {5, 2, 4}" : "no lengths"));
    const Tensor lengths = padded ? gg::from_vector<int64_t>({5, 2, 4}) : Tensor();
    std::vector<std::vector<Tensor>> results;
    for (bool together : {true, false}) {
      gg::manual_seed(76);
      std::vector<Tensor> in;
      for (int d = 0; d < 2; ++d)
        for (const gg::Shape& shape : {gg::Shape{5, 3, 16}, gg::Shape{16, 4}, gg::Shape{16}, gg::Shape{3, 4}, gg::Shape{3, 4}})
          in.push_back(leaf(shape, -2, 2));
      Tensor out;
      if (together) {
        out = gg::lstm_bidirectional_fused({in[0], in[1], in[2], in[3], in[4]}, {in[5], in[6], in[7], in[8], in[9]},
                                           lengths);
      } else {
        const Tensor f = gg::lstm_layer_fused(in[0], in[1], in[2], in[3], in[4], lengths, false);
        const Tensor b = gg::lstm_layer_fused(in[5], in[6], in[7], in[8], in[9], lengths, true);
        out = gg::cat({f, b}, 2);
      }
      REQUIRE(out.shape() == gg::Shape({7, 3, 8}));
      gg::manual_seed(77);
      gg::sum(out * gg::randn(out.shape(), {.dtype = gg::DType::Float64})).backward();
      std::vector<Tensor> r{out};
      for (const Tensor& t : in) r.push_back(t.grad());
      results.push_back(r);
    }
    for (size_t i = 0; i < results[0].size(); ++i)
      require_close(results[0][i], results[1][i], 1e-12, i == 0 ? "output" : "grad " + std::to_string(i - 1));
  }
}

TEST_CASE("gradcheck: bidirectional LSTM op", "[gradcheck][autograd][rnn]") {
  gg::manual_seed(78);
  const Tensor lengths = gg::from_vector<int64_t>({3, 1, 2});
  auto fn = [&](const In& in) {
    return gg::lstm_bidirectional_fused({in[0], in[1], in[2], in[3], in[4]}, {in[5], in[6], in[7], in[8], in[9]}, lengths);
  };
  In in;
  for (int d = 0; d < 2; ++d)
    for (const gg::Shape& shape : {gg::Shape{3, 3, 8}, gg::Shape{8, 2}, gg::Shape{8}, gg::Shape{3, 2}, gg::Shape{3, 2}})
      in.push_back(leaf(shape, -2, 2));
  expect_gradcheck("lstm_bidirectional_fused", "LSTMLayerBackward", fn, in);
}

TEST_CASE("fused LSTM ops name the op and the shapes on bad input", "[autograd][rnn]") {
  const Tensor g = gg::zeros({3, 8}), c = gg::zeros({3, 2});
  CHECK_THAT(error_message([&] { gg::lstm_cell_fused(gg::zeros({3, 7}), g, c); }),
             Catch::Matchers::Contains("lstm_cell_fused") && Catch::Matchers::Contains("[3, 7]"));
  CHECK_THAT(error_message([&] { gg::lstm_cell_fused(g, g, gg::zeros({3, 3})); }),
             Catch::Matchers::Contains("c [3, 2]") && Catch::Matchers::Contains("[3, 3]"));
  CHECK_THAT(error_message([&] { gg::lstm_cell_fused(g, g.to(gg::DType::Float64), c); }),
             Catch::Matchers::Contains("h_proj must be float32"));
  const Tensor xp = gg::zeros({4, 3, 8}), w = gg::zeros({8, 2}), h0 = gg::zeros({3, 2});
  CHECK_THAT(error_message([&] { gg::lstm_layer_fused(xp, gg::zeros({8, 3}), {}, h0, h0, {}, false); }),
             Catch::Matchers::Contains("w_hh must be [8, 2]"));
  CHECK_THAT(error_message([&] { gg::lstm_layer_fused(xp, w, {}, h0, h0, gg::from_vector<int64_t>({4, 0, 3}), false); }),
             Catch::Matchers::Contains("length 0 is outside 1..4"));
  CHECK_THAT(error_message([&] {
               gg::lstm_bidirectional_fused({xp, w, {}, h0, h0}, {gg::zeros({5, 3, 8}), w, {}, h0, h0}, {});
             }),
             Catch::Matchers::Contains("lstm_bidirectional_fused") && Catch::Matchers::Contains("[5, 3, 8]"));
}
