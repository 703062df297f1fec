// Int8Screen (models/decode.h): greedy decoding that scores the vocabulary with int8 weights
// and rescores exactly whatever might win picks the float32 model's tokens, with each
// log-probability within the bound it reports; words the int8 copy cannot tell apart are
// settled exactly; and the screen refuses a model it was not built from or one changed since.
#include <catch2/catch.hpp>

#include <cmath>

#include "glassgrad.h"
#include "models/decode.h"
#include "models/rnn_seq2seq.h"
#include "models/transformer_seq2seq.h"

using gg::DType;
using gg::Tensor;
using gg::models::Int8Screen;

namespace {

constexpr int64_t kBos = 1, kEos = 2, kSrcVocab = 40, kTgtVocab = 600;

std::unique_ptr<gg::models::Seq2Seq> make_model(bool transformer) {
  std::unique_ptr<gg::models::Seq2Seq> model;
  if (transformer)
    model = std::make_unique<gg::models::TransformerSeq2Seq>(
        kSrcVocab, kTgtVocab,
        gg::models::TransformerSeq2SeqOptions{.d_model = 32, .heads = 4, .encoder_layers = 1, .decoder_layers = 1,
                                              .dim_feedforward = 64, .dropout = 0.0, .tie_embeddings = true});
  else
    model = std::make_unique<gg::models::RNNSeq2Seq>(
        kSrcVocab, kTgtVocab,
        gg::models::RNNSeq2SeqOptions{.embed = 16, .hidden = 32, .attentional_output = false, .dropout = 0.0});
  model->eval();
  return model;
}

// The output layer's logits for features [D] in float64: the exact values the screen must rank.
std::vector<double> exact_log_probs(gg::models::Seq2Seq& model, const Tensor& features) {
  const auto layer = model.output_layer();
  const Tensor bias = layer.bias.defined() ? layer.bias.to(DType::Float64) : Tensor();
  const Tensor logits = gg::linear(features.to(DType::Float64).unsqueeze(0), layer.weight.to(DType::Float64), bias);
  return gg::log_softmax(logits, -1).to_vector<double>();
}

}  // namespace

TEST_CASE("int8 screen: greedy decoding picks the float32 tokens and attention", "[models][decode]") {
  for (bool transformer : {false, true}) {
    INFO((transformer ? "Transformer (tied embeddings, no bias)" : "LSTM with additive attention"));
    gg::manual_seed(21);
    auto model = make_model(transformer);
    const Int8Screen screen(*model);
    const Tensor src = gg::randint(3, kSrcVocab, {5, 7});
    const Tensor lengths = gg::from_vector(std::vector<int64_t>{7, 5, 7, 2, 6});
    gg::models::DecodeOptions options{.bos = kBos, .eos = kEos, .max_len_ratio = 0.0, .max_len_extra = 14,
                                      .min_len = 3, .keep_attention = true};
    const auto want = gg::models::greedy_decode(*model, src, lengths, options);
    options.screen = &screen;
    const auto got = gg::models::greedy_decode(*model, src, lengths, options);
    for (size_t b = 0; b < want.size(); ++b) {
      INFO("sentence " << b);
      CHECK(got[b].tokens == want[b].tokens);
      // Exact where rescored, int8 estimates elsewhere: within the bound it reports (plus
      // float32 rounding in the reference), and the float32 path reports none.
      CHECK(want[b].log_prob_error == 0);
      CHECK(std::fabs(got[b].log_prob - want[b].log_prob) <= got[b].log_prob_error + 1e-5 * (1 + want[b].tokens.size()));
      REQUIRE(got[b].attention.size() == want[b].attention.size());
      for (size_t t = 0; t < want[b].attention.size(); ++t) CHECK(got[b].attention[t] == want[b].attention[t]);
    }
  }
}

TEST_CASE("int8 screen: each pick is the exact argmax, its log-probability within the reported bound",
          "[models][decode]") {
  for (bool transformer : {false, true}) {
    INFO((transformer ? "Transformer" : "LSTM"));
    gg::manual_seed(8);
    auto model = make_model(transformer);
    const Int8Screen screen(*model);
    gg::NoGradGuard no_grad;
    auto state = model->encode(gg::randint(3, kSrcVocab, {3, 6}), gg::from_vector(std::vector<int64_t>{6, 4, 5}));
    Tensor tokens = gg::from_vector(std::vector<int64_t>{kBos, kBos, kBos});
    int64_t rescored = 0, picks = 0;
    for (int step = 0; step < 8; ++step) {
      const Tensor features = model->decode_features(*state, tokens).contiguous();  // [3, D]
      std::vector<int64_t> next;
      for (int64_t b = 0; b < 3; ++b) {
        const Tensor f = features.select(0, b).contiguous();
        const auto lp = exact_log_probs(*model, f);
        const int64_t barred = step < 2 ? kEos : -1;
        int64_t best = -1;
        for (int64_t v = 0; v < kTgtVocab; ++v)
          if (v != barred && (best < 0 || lp[v] > lp[best])) best = v;
        const auto pick = screen.pick(f.data<float>(), barred);
        INFO("step " << step << " row " << b << ": picked " << pick.token << " (" << pick.rescored
                     << " rescored), exact argmax " << best);
        CHECK(pick.token == best);
        CHECK(std::fabs(pick.log_prob - lp[best]) <= pick.max_error + 1e-6);
        const auto forced = screen.pick(f.data<float>(), -1, kEos);
        CHECK(forced.token == kEos);
        CHECK(forced.rescored == 1);
        CHECK(std::fabs(forced.log_prob - lp[kEos]) <= forced.max_error + 1e-6);
        rescored += pick.rescored;
        ++picks;
        next.push_back(best);
      }
      tokens = gg::from_vector(next);
    }
    // It screens: most of the 600 words are settled by their int8 scores alone.
    CHECK(rescored < picks * kTgtVocab / 4);
  }
}

TEST_CASE("int8 screen: words the int8 copy cannot tell apart are settled exactly", "[models][decode]") {
  gg::manual_seed(5);
  auto model = make_model(false);
  auto layer = model->output_layer();
  const int64_t D = layer.weight.size(1);
  const Tensor x = gg::randn({D});
  // Rows 10..19: one strong row plus perturbations of 1e-6 of its size along x, in a shuffled
  // order; they round to the same int8 values, so only the exact products can rank them.
  const int order[10] = {3, 7, 1, 9, 0, 5, 2, 8, 6, 4};
  {
    gg::NoGradGuard no_grad;
    Tensor w = layer.weight.clone();
    Tensor bias = layer.bias.clone();
    const double norm = std::sqrt(gg::sum(x * x).item());
    for (int k = 0; k < 10; ++k) {
      float* row = w.data<float>() + (10 + k) * D;
      for (int64_t d = 0; d < D; ++d)
        row[d] = static_cast<float>(x.data<float>()[d] / norm * (3.0 + 1e-6 * order[k]));
      bias.data<float>()[10 + k] = 0;
    }
    layer.weight.copy_(w);
    layer.bias.copy_(bias);
  }
  const Int8Screen screen(*model);
  const auto lp = exact_log_probs(*model, x);
  int64_t best = 0;
  for (int64_t v = 0; v < kTgtVocab; ++v)
    if (lp[v] > lp[best]) best = v;
  REQUIRE(best == 13);  // order[3] = 9, the largest perturbation
  const auto pick = screen.pick(x.data<float>());
  CHECK(pick.token == 13);
  CHECK(pick.rescored >= 10);
  CHECK(std::fabs(pick.log_prob - lp[13]) <= pick.max_error + 1e-6);
  const auto second = screen.pick(x.data<float>(), 13);  // barred: the runner-up, order 8
  CHECK(second.token == 17);
}

TEST_CASE("int8 screen: refuses another model, changed weights, training mode and float64", "[models][decode]") {
  gg::manual_seed(2);
  auto model = make_model(false);
  auto other = make_model(false);
  const Int8Screen screen(*model);
  const Tensor src = gg::randint(3, kSrcVocab, {1, 4});
  const Tensor lengths = gg::from_vector(std::vector<int64_t>{4});
  gg::models::DecodeOptions options{.bos = kBos, .eos = kEos, .screen = &screen};
  REQUIRE_NOTHROW(gg::models::greedy_decode(*model, src, lengths, options));
  REQUIRE_THROWS_WITH(gg::models::greedy_decode(*other, src, lengths, options),
                      Catch::Contains("Int8Screen") && Catch::Contains("another model"));
  model->train();
  REQUIRE_THROWS_WITH(gg::models::greedy_decode(*model, src, lengths, options),
                      Catch::Contains("Int8Screen") && Catch::Contains("training mode"));
  model->eval();
  // An optimizer step changes the output layer in place: the int8 copy is stale.
  auto params = model->parameters();
  model->zero_grad();
  gg::sum(model->output_layer().weight).backward();
  gg::optim::SGD(params, {.lr = 0.1}).step();
  REQUIRE_THROWS_WITH(gg::models::greedy_decode(*model, src, lengths, options),
                      Catch::Contains("Int8Screen") && Catch::Contains("changed since the screen was built"));
  gg::models::RNNSeq2Seq wide(kSrcVocab, kTgtVocab, {.embed = 8, .hidden = 8, .dropout = 0.0});
  wide.to(DType::Float64);
  REQUIRE_THROWS_WITH(Int8Screen(wide), Catch::Contains("Int8Screen") && Catch::Contains("float32"));
}
