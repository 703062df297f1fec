// The attention family: masks, the five scoring functions, the Luong attentional state,
// multi-head and efficient attention, and Transformer layers. Gradchecks run in float64
// with respect to the inputs and every parameter, with padding masks and a fully masked row.
#include <catch2/catch.hpp>

#include <cmath>

#include "glassgrad.h"
#include "testing.h"

using namespace gg::testing;

namespace F = gg::nn::functional;
using gg::DType;
using gg::Tensor;

namespace {

Tensor randn64(const gg::Shape& shape) { return gg::randn(shape, {.dtype = DType::Float64}); }

// Batch 2, 3 queries, 4 keys. Row 0 sees keys 0..2; in row 1 query 0 sees nothing (a fully
// masked row), queries 1 and 2 see keys 0..1.
Tensor awkward_mask() {
  std::vector<int64_t> m = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,  //
                            1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
  return gg::ne(gg::from_vector(m, {2, 3, 4}), gg::scalar_tensor(0, {.dtype = DType::Int64}));
}

void require_ok(const gg::GradcheckResult& r) {
  INFO(r.message);
  REQUIRE(r.ok);
  REQUIRE(r.elements_checked > 0);
}

// gradcheck of an attention module on context and weights together, masks included.
void check_attention_module(gg::nn::Attention& m, int64_t dq, int64_t dk, int64_t dv) {
  m.to(DType::Float64);
  Tensor q = randn64({2, 3, dq}).requires_grad_(), k = randn64({2, 4, dk}).requires_grad_(),
         v = randn64({2, 4, dv}).requires_grad_();
  Tensor mask = awkward_mask();
  require_ok(gg::nn::gradcheck_module(
      m,
      [&](const std::vector<Tensor>& in) {
        auto out = m.forward(in[0], in[1], in[2], mask);
        return gg::cat({out.context.flatten(), out.weights.flatten()}, 0);
      },
      {q, k, v}));
}

}  // namespace

TEST_CASE("masks: padding_mask, causal_mask and their combination", "[nn][attention]") {
  Tensor pad = F::padding_mask(gg::from_vector(std::vector<int64_t>{2, 4}), 4);
  REQUIRE(pad.shape() == gg::Shape{2, 1, 4});
  CHECK(pad.to_vector<bool>() == std::vector<bool>{false, false, true, true, false, false, false, false});
  Tensor causal = F::causal_mask(3);
  CHECK(causal.to_vector<bool>() == std::vector<bool>{false, true, true, false, false, true, false, false, false});
  Tensor both = gg::logical_or(pad.narrow(2, 0, 3), causal);  // [2, 3, 3]
  REQUIRE(both.shape() == gg::Shape{2, 3, 3});
  CHECK(both.select(0, 0).to_vector<bool>() == std::vector<bool>{false, true, true, false, false, true, false, false, true});
  // A decoder step that has seen 2 of 4 positions may look at keys 0..2 of query row 0.
  CHECK(F::causal_mask(2, 4).to_vector<bool>() == std::vector<bool>{false, false, false, true, false, false, false, false});
}

TEST_CASE("masked softmax: masked keys get exactly zero, the rest sum to one, a fully masked row is all zero",
          "[nn][attention]") {
  gg::manual_seed(1);
  Tensor scores = randn64({2, 3, 4}) * 5.0;
  Tensor w = F::masked_softmax(scores, awkward_mask());
  auto values = w.to_vector<double>();
  auto masked = awkward_mask().to_vector<bool>();
  for (size_t i = 0; i < values.size(); ++i)
    if (masked[i]) CHECK(values[i] == 0.0);
  Tensor sums = gg::sum(w, {-1});
  auto s = sums.to_vector<double>();
  for (size_t r = 0; r < s.size(); ++r) {
    if (r == 3) CHECK(s[r] == 0.0);  // batch 1, query 0: nothing to attend to
    else CHECK(s[r] == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("attention: a fully masked row gives zero context and zero gradients", "[nn][attention]") {
  gg::manual_seed(2);
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor q = gg::randn({1, 2, 4}, {.dtype = dtype, .requires_grad = true});
    Tensor k = gg::randn({1, 3, 4}, {.dtype = dtype, .requires_grad = true});
    Tensor all_masked = gg::ones({1, 2, 3}, {.dtype = DType::Int64}).to(DType::Bool);
    auto out = F::scaled_dot_product_attention(q, k, k, all_masked);
    for (double x : out.context.to_vector<double>()) CHECK(x == 0.0);
    for (double x : out.weights.to_vector<double>()) CHECK(x == 0.0);
    (gg::sum(out.context * out.context) + gg::sum(out.weights)).backward();
    for (const Tensor& g : {q.grad(), k.grad()})  // the weights are constant zeros: nothing flows back
      for (double x : g.to_vector<double>()) CHECK(x == 0.0);
  }
}

TEST_CASE("attention: masks of the wrong dtype or shape are clear errors", "[nn][attention]") {
  Tensor q = gg::randn({2, 3, 4}), k = gg::randn({2, 5, 4});
  Tensor float_mask = gg::zeros({2, 1, 5});
  REQUIRE_THROWS_WITH(F::scaled_dot_product_attention(q, k, k, float_mask),
                      Catch::Contains("bool") && Catch::Contains("float32") && Catch::Contains("[2, 1, 5]"));
  Tensor wrong = gg::zeros({2, 5}, {.dtype = DType::Int64}).to(DType::Bool);  // forgot unsqueeze(1)
  REQUIRE_THROWS_WITH(F::scaled_dot_product_attention(q, k, k, wrong),
                      Catch::Contains("[2, 5]") && Catch::Contains("[2, 3, 5]") && Catch::Contains("unsqueeze(1)"));
  gg::nn::MultiHeadAttention mha(4, 2, {.batch_first = true});
  REQUIRE_THROWS_WITH(mha.forward(q, k, k, gg::zeros({2, 5})), Catch::Contains("key_padding_mask") && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(mha.forward(q, k, k, {}, gg::zeros({3, 4}, {.dtype = DType::Int64}).to(DType::Bool)),
                      Catch::Contains("attn_mask") && Catch::Contains("[3, 4]") && Catch::Contains("[3, 5]"));
}

TEST_CASE("attention: each scoring function computes its formula", "[nn][attention]") {
  gg::manual_seed(3);
  Tensor s = randn64({1, 1, 3}), h = randn64({1, 2, 3});
  auto sv = s.to_vector<double>(), hv = h.to_vector<double>();
  auto dot = [&](int j) { return sv[0] * hv[3 * j] + sv[1] * hv[3 * j + 1] + sv[2] * hv[3 * j + 2]; };
  auto e = F::dot_scores(s, h).to_vector<double>();
  CHECK(e[0] == Approx(dot(0)));
  CHECK(e[1] == Approx(dot(1)));
  auto scaled = F::scaled_dot_scores(s, h).to_vector<double>();
  CHECK(scaled[1] == Approx(dot(1) / std::sqrt(3.0)));
  // general with W = I is dot; additive and concat against hand loops.
  CHECK(F::general_scores(s, h, gg::from_vector(std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}))
            .to_vector<double>()[1] == Approx(dot(1)));
  Tensor W = randn64({2, 3}), U = randn64({2, 3}), v = randn64({2}), Wc = randn64({2, 6});
  auto Wv = W.to_vector<double>(), Uv = U.to_vector<double>(), vv = v.to_vector<double>(), Wcv = Wc.to_vector<double>();
  Tensor keys_proj = gg::matmul(h, W.t());
  auto add = F::additive_scores(s, keys_proj, U, v).to_vector<double>();
  auto con = F::concat_scores(s, h, Wc, v).to_vector<double>();
  for (int j = 0; j < 2; ++j) {
    double expected_add = 0, expected_concat = 0;
    for (int a = 0; a < 2; ++a) {
      double pre = 0, pre_c = 0;
      for (int i = 0; i < 3; ++i) {
        pre += Wv[a * 3 + i] * hv[3 * j + i] + Uv[a * 3 + i] * sv[i];
        pre_c += Wcv[a * 6 + i] * sv[i] + Wcv[a * 6 + 3 + i] * hv[3 * j + i];
      }
      expected_add += vv[a] * std::tanh(pre);
      expected_concat += vv[a] * std::tanh(pre_c);
    }
    CHECK(add[j] == Approx(expected_add));
    CHECK(con[j] == Approx(expected_concat));
  }
}

TEST_CASE("attention: additive attention with keys projected once equals projecting every time", "[nn][attention]") {
  gg::manual_seed(4);
  gg::nn::AdditiveAttention m(3, 5, 4);
  Tensor keys = gg::randn({2, 6, 5}), q = gg::randn({2, 3});
  Tensor mask = F::padding_mask(gg::from_vector(std::vector<int64_t>{6, 4}), 6);
  auto direct = m.forward(q, keys, keys, mask);
  auto cached = m.forward_projected(q, m.project_keys(keys), keys, mask);
  REQUIRE(direct.context.shape() == gg::Shape{2, 5});  // one query per row: [B, Dv]
  REQUIRE(direct.weights.shape() == gg::Shape{2, 6});
  CHECK(gg::max(gg::abs(direct.context - cached.context)).item() == 0.0);
}

TEST_CASE("gradcheck: dot attention with padding and a fully masked row", "[gradcheck][nn][attention]") {
  gg::manual_seed(10);
  gg::nn::DotAttention m;
  check_attention_module(m, 4, 4, 3);
}

TEST_CASE("gradcheck: scaled dot attention with padding and a fully masked row", "[gradcheck][nn][attention]") {
  gg::manual_seed(11);
  gg::nn::ScaledDotAttention m;
  check_attention_module(m, 4, 4, 3);
}

TEST_CASE("gradcheck: general attention with padding and a fully masked row", "[gradcheck][nn][attention]") {
  gg::manual_seed(12);
  gg::nn::GeneralAttention m(3, 4);
  check_attention_module(m, 3, 4, 2);
}

TEST_CASE("gradcheck: additive attention with padding and a fully masked row", "[gradcheck][nn][attention]") {
  gg::manual_seed(13);
  gg::nn::AdditiveAttention m(3, 4, 5);
  check_attention_module(m, 3, 4, 2);
}

TEST_CASE("gradcheck: concat attention with padding and a fully masked row", "[gradcheck][nn][attention]") {
  gg::manual_seed(14);
  gg::nn::ConcatAttention m(3, 4, 5);
  check_attention_module(m, 3, 4, 2);
}

TEST_CASE("gradcheck: Luong attentional state tanh(W_c [context, s])", "[gradcheck][nn][attention]") {
  gg::manual_seed(15);
  gg::nn::LuongAttentionalState m(3, 4, 5, {.dtype = DType::Float64});
  Tensor c = randn64({2, 3}).requires_grad_(), s = randn64({2, 4}).requires_grad_();
  require_ok(gg::nn::gradcheck_module(m, [&](const std::vector<Tensor>& in) { return m.forward(in[0], in[1]); }, {c, s}));
}

TEST_CASE("gradcheck: multi-head attention with key padding and a causal mask", "[gradcheck][nn][attention]") {
  gg::manual_seed(16);
  gg::nn::MultiHeadAttention m(4, 2, {.batch_first = true, .dtype = DType::Float64});
  Tensor x = randn64({2, 3, 4}).requires_grad_();
  Tensor kpm = gg::ne(gg::from_vector(std::vector<int64_t>{0, 0, 0, 0, 0, 1}, {2, 3}), gg::scalar_tensor(0, {.dtype = DType::Int64}));
  require_ok(gg::nn::gradcheck_module(
      m,
      [&](const std::vector<Tensor>& in) {
        auto out = m.forward(in[0], in[0], in[0], kpm, F::causal_mask(3));
        return gg::cat({out.output.flatten(), out.weights.flatten()}, 0);
      },
      {x}));
}

TEST_CASE("gradcheck: multi-head cross-attention with kdim and vdim", "[gradcheck][nn][attention]") {
  gg::manual_seed(17);
  gg::nn::MultiHeadAttention m(4, 2, {.kdim = 3, .vdim = 5, .batch_first = true, .dtype = DType::Float64});
  Tensor q = randn64({2, 2, 4}).requires_grad_(), k = randn64({2, 3, 3}).requires_grad_(),
         v = randn64({2, 3, 5}).requires_grad_();
  require_ok(gg::nn::gradcheck_module(
      m, [&](const std::vector<Tensor>& in) { return m.forward(in[0], in[1], in[2]).output; }, {q, k, v}));
}

TEST_CASE("gradcheck: efficient attention with key padding", "[gradcheck][nn][attention]") {
  gg::manual_seed(18);
  Tensor q = randn64({2, 3, 4}).requires_grad_(), k = randn64({2, 5, 4}).requires_grad_(),
         v = randn64({2, 5, 3}).requires_grad_();
  Tensor kpm = gg::ne(gg::from_vector(std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, {2, 5}),
                      gg::scalar_tensor(0, {.dtype = DType::Int64}));
  require_ok(gg::gradcheck([&](const std::vector<Tensor>& in) { return F::efficient_attention(in[0], in[1], in[2], kpm); },
                           {q, k, v}, {.name = "efficient_attention"}));
  gg::nn::EfficientAttention m(4, 2, {.dtype = DType::Float64});
  Tensor x = randn64({2, 5, 4}).requires_grad_();
  require_ok(gg::nn::gradcheck_module(m, [&](const std::vector<Tensor>& in) { return m.forward(in[0], in[0], in[0], kpm); }, {x}));
}

TEST_CASE("efficient attention: weights rows sum to one, padding gets zero, padding changes nothing",
          "[nn][attention]") {
  gg::manual_seed(19);
  Tensor q = randn64({1, 3, 4}), k = randn64({1, 5, 4}), v = randn64({1, 5, 2});
  Tensor kpm = gg::ne(gg::from_vector(std::vector<int64_t>{0, 0, 0, 1, 1}, {1, 5}), gg::scalar_tensor(0, {.dtype = DType::Int64}));
  Tensor weights;
  Tensor padded = F::efficient_attention(q, k, v, kpm, &weights);
  for (double s : gg::sum(weights, {-1}).to_vector<double>()) CHECK(s == Approx(1.0).epsilon(1e-12));
  CHECK(gg::sum(gg::abs(weights.narrow(2, 3, 2))).item() == 0.0);
  Tensor alone = F::efficient_attention(q, k.narrow(1, 0, 3), v.narrow(1, 0, 3));
  CHECK(gg::max(gg::abs(padded - alone)).item() < 1e-12);
  // The context is weights @ values: the same linear map, computed the linear-cost way.
  CHECK(gg::max(gg::abs(padded - gg::matmul(weights, v))).item() < 1e-12);
}

TEST_CASE("multi-head attention: averaged weights are the mean of the per-head weights", "[nn][attention]") {
  gg::manual_seed(20);
  gg::nn::MultiHeadAttention m(8, 4, {.batch_first = true});
  Tensor x = gg::randn({2, 5, 8});
  auto avg = m.forward(x, x, x, {}, {}, true, true);
  auto per = m.forward(x, x, x, {}, {}, true, false);
  REQUIRE(per.weights.shape() == gg::Shape{2, 4, 5, 5});
  CHECK(gg::max(gg::abs(avg.weights - gg::mean(per.weights, {1}))).item() < 1e-6);
  CHECK(gg::max(gg::abs(avg.output - per.output)).item() == 0.0);
}

TEST_CASE("gradcheck: Transformer encoder layer, post-norm and pre-norm, with padding", "[gradcheck][nn][transformer]") {
  for (bool norm_first : {false, true}) {
    INFO("norm_first " << norm_first);
    gg::manual_seed(21);
    gg::nn::TransformerEncoderLayer m(4, 2, {.dim_feedforward = 6, .dropout = 0.0, .batch_first = true,
                                             .norm_first = norm_first, .dtype = DType::Float64});
    Tensor x = randn64({2, 3, 4}).requires_grad_();
    Tensor kpm = gg::ne(gg::from_vector(std::vector<int64_t>{0, 0, 0, 0, 0, 1}, {2, 3}), gg::scalar_tensor(0, {.dtype = DType::Int64}));
    require_ok(gg::nn::gradcheck_module(m, [&](const std::vector<Tensor>& in) { return m.forward(in[0], {}, kpm); }, {x}));
  }
}

TEST_CASE("gradcheck: Transformer decoder layer with causal and memory padding masks", "[gradcheck][nn][transformer]") {
  for (bool norm_first : {false, true}) {
    INFO("norm_first " << norm_first);
    gg::manual_seed(22);
    gg::nn::TransformerDecoderLayer m(4, 2, {.dim_feedforward = 6, .dropout = 0.0, .batch_first = true,
                                             .norm_first = norm_first, .dtype = DType::Float64});
    Tensor y = randn64({2, 3, 4}).requires_grad_(), memory = randn64({2, 2, 4}).requires_grad_();
    Tensor mkpm = gg::ne(gg::from_vector(std::vector<int64_t>{0, 0, 0, 1}, {2, 2}), gg::scalar_tensor(0, {.dtype = DType::Int64}));
    require_ok(gg::nn::gradcheck_module(
        m, [&](const std::vector<Tensor>& in) { return m.forward(in[0], in[1], F::causal_mask(3), {}, {}, mkpm); },
        {y, memory}));
  }
}

TEST_CASE("transformer: the causal mask keeps later tokens from changing earlier outputs", "[nn][transformer]") {
  gg::manual_seed(23);
  gg::nn::TransformerDecoderLayer m(8, 2, {.dim_feedforward = 16, .dropout = 0.0, .batch_first = true});
  Tensor y = gg::randn({1, 4, 8}), memory = gg::randn({1, 3, 8});
  Tensor changed = y.clone();
  changed.narrow(1, 3, 1).copy_(gg::randn({1, 1, 8}));
  Tensor a = m.forward(y, memory, F::causal_mask(4)), b = m.forward(changed, memory, F::causal_mask(4));
  CHECK(gg::max(gg::abs(a.narrow(1, 0, 3) - b.narrow(1, 0, 3))).item() == 0.0);
  CHECK(gg::max(gg::abs(a.narrow(1, 3, 1) - b.narrow(1, 3, 1))).item() > 1e-3);
}

TEST_CASE("transformer: decoding one position at a time with the key/value cache equals the whole prefix",
          "[nn][transformer]") {
  // Sequence-first [T, B, D], two layers, a padded memory, both norm placements; in float64,
  // where the two orders of work agree to rounding. Halfway the rows are reordered (and one
  // repeated), as beam search does, and the cache must follow.
  for (const bool norm_first : {false, true}) {
    INFO("norm_first " << norm_first);
    gg::manual_seed(29);
    gg::nn::TransformerDecoder decoder(8, 2, 2, {.dim_feedforward = 16, .dropout = 0.0, .norm_first = norm_first},
                                       norm_first);
    decoder.to(DType::Float64);
    decoder.eval();
    const int64_t T = 5, B = 2, S = 4;
    const Tensor tgt = randn64({T, B, 8}), memory = randn64({S, B, 8});
    const Tensor memory_pad = F::padding_mask(gg::from_vector(std::vector<int64_t>{4, 2}), S).squeeze(1);  // [B, S]
    const Tensor order = gg::from_vector(std::vector<int64_t>{1, 0, 1});
    Tensor weights, weights_reordered;
    const Tensor full = decoder.forward(tgt, memory, F::causal_mask(T), {}, {}, memory_pad, &weights);
    const Tensor full_reordered =
        decoder.forward(gg::index_select(tgt, 1, order), gg::index_select(memory, 1, order), F::causal_mask(T), {}, {},
                        gg::index_select(memory_pad, 0, order), &weights_reordered);
    gg::nn::TransformerDecoder::Cache cache = decoder.start(memory);
    Tensor rows = tgt, pad = memory_pad, expected = full, expected_weights = weights;
    for (int64_t t = 0; t < T; ++t) {
      if (t == 3) {
        for (auto& layer : cache) layer.select(order);
        rows = gg::index_select(tgt, 1, order), pad = gg::index_select(memory_pad, 0, order);
        expected = full_reordered, expected_weights = weights_reordered;
      }
      Tensor step_weights;
      const Tensor y = decoder.forward_step(rows.narrow(0, t, 1), cache, pad, &step_weights);  // [1, B', D]
      INFO("position " << t);
      require_close(y, expected.narrow(0, t, 1), 1e-12, "step output");
      require_close(step_weights, expected_weights.narrow(1, t, 1), 1e-12, "cross-attention weights");
    }
    CHECK(cache[0].self.k.size(1) == T);
  }
}

TEST_CASE("transformer: sinusoidal positions follow sin/cos of pos / 10000^(2i/D)", "[nn][transformer]") {
  gg::nn::SinusoidalPositionalEncoding pe(6, 10, true, DType::Float64);
  Tensor x = gg::zeros({1, 4, 6}, {.dtype = DType::Float64});
  auto p = pe.forward(x, 2).to_vector<double>();  // positions 2..5
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 6; ++i) {
      double angle = (t + 2) / std::pow(10000.0, (2 * (i / 2)) / 6.0);
      CHECK(p[t * 6 + i] == Approx(i % 2 == 0 ? std::sin(angle) : std::cos(angle)).margin(1e-12));
    }
  REQUIRE_THROWS_WITH(pe.forward(gg::zeros({1, 4, 6}, {.dtype = DType::Float64}), 8), Catch::Contains("max_len"));
}

TEST_CASE("multi-head attention: one packed GEMM for self-attention (and for key = value) equals three projections",
          "[nn][attention]") {
  // forward(x, x, x) takes the packed path; copies of x are other tensors and take the
  // separate one. Same outputs, and the same gradients for x and every parameter.
  for (const int kind : {0, 1}) {  // 0: query = key = value, 1: key = value only
    INFO((kind == 0 ? "self-attention" : "key = value"));
    std::vector<std::vector<Tensor>> results;
    for (const bool packed : {true, false}) {
      gg::manual_seed(91);
      gg::nn::MultiHeadAttention mha(8, 2, {.batch_first = true, .dtype = DType::Float64});
      Tensor x = gg::randn({2, 5, 8}, {.dtype = DType::Float64, .requires_grad = true});
      Tensor m = gg::randn({2, 4, 8}, {.dtype = DType::Float64, .requires_grad = true});
      const Tensor q = kind == 0 ? x : m;
      const Tensor k = packed ? x : x * 1.0, v = packed ? x : x * 1.0;  // x * 1.0: equal values, another tensor
      const Tensor mask = F::padding_mask(gg::from_vector<int64_t>({5, 3}), 5).squeeze(1);  // [B, S]
      auto out = mha.forward(kind == 0 && !packed ? x * 1.0 : q, k, v, mask);
      gg::sum(out.output * gg::randn(out.output.shape(), {.dtype = DType::Float64})).backward();
      results.push_back({out.output, x.grad(), mha.in_proj_weight.grad(), mha.in_proj_bias.grad()});
      if (kind == 1) results.back().push_back(m.grad());
    }
    for (size_t i = 0; i < results[0].size(); ++i) {
      INFO("result " << i);
      const auto a = results[0][i].to_vector<double>(), b = results[1][i].to_vector<double>();
      REQUIRE(a.size() == b.size());
      for (size_t j = 0; j < a.size(); ++j) REQUIRE(a[j] == Approx(b[j]).epsilon(1e-12).margin(1e-14));
    }
  }
}

TEST_CASE("Packing: pack keeps the tokens in order, unpack puts them back with zeros at the padding", "[nn][transformer]") {
  const Tensor pad = F::padding_mask(gg::from_vector<int64_t>({2, 3}), 3).squeeze(1);  // [2, 3]: one pad in row 0
  const gg::nn::Packing rows = gg::nn::Packing::from_padding(pad);
  CHECK(rows.index.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 3, 4, 5});
  const Tensor x = gg::arange(12).reshape({2, 3, 2}).to(DType::Float64);
  const Tensor packed = rows.pack(x);
  REQUIRE(packed.shape() == gg::Shape{5, 2});
  CHECK(packed.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 6, 7, 8, 9, 10, 11});
  CHECK(rows.unpack(packed).to_vector<double>() == std::vector<double>{0, 1, 2, 3, 0, 0, 6, 7, 8, 9, 10, 11});
  CHECK_THROWS_WITH(rows.pack(gg::zeros({3, 2, 2})), Catch::Contains("Packing.pack") && Catch::Contains("[3, 2, 2]"));
  CHECK_THROWS_WITH(rows.unpack(gg::zeros({4, 2})), Catch::Contains("5 tokens"));
  CHECK_THROWS_WITH(gg::nn::Packing::from_padding(gg::zeros({2, 3})), Catch::Contains("bool [B, T]"));
}

TEST_CASE("transformer: layers on packed tokens equal the padded layers at every token, values and gradients",
          "[nn][transformer]") {
  // Row 0 of the target has 4 tokens of 4, row 1 has 2; the memory rows have 3 and 1 of 3.
  const Tensor tgt_pad = F::padding_mask(gg::from_vector<int64_t>({4, 2}), 4).squeeze(1);
  const Tensor mem_pad = F::padding_mask(gg::from_vector<int64_t>({3, 1}), 3).squeeze(1);
  const gg::nn::Packing tgt_rows = gg::nn::Packing::from_padding(tgt_pad), mem_rows = gg::nn::Packing::from_padding(mem_pad);
  for (bool norm_first : {false, true}) {
    for (int layer = 0; layer < 3; ++layer) {  // encoder layer, decoder layer, cross-attention with kdim and vdim
      INFO("norm_first " << norm_first << ", layer " << layer);
      std::vector<std::vector<double>> results;
      for (bool packed : {false, true}) {
        gg::manual_seed(24);
        const gg::nn::TransformerLayerOptions o{.dim_feedforward = 6, .dropout = 0.0, .batch_first = true,
                                                .norm_first = norm_first, .dtype = DType::Float64};
        gg::nn::TransformerEncoderLayer enc(4, 2, o);
        gg::nn::TransformerDecoderLayer dec(4, 2, o);
        gg::nn::MultiHeadAttention cross(4, 2, {.kdim = 3, .vdim = 5, .batch_first = true, .dtype = DType::Float64});
        Tensor y = randn64({2, 4, 4}).requires_grad_(), memory = randn64({2, 3, 4}).requires_grad_();
        Tensor k = randn64({2, 3, 3}).requires_grad_(), v = randn64({2, 3, 5}).requires_grad_();
        gg::nn::Module& module = layer == 0 ? static_cast<gg::nn::Module&>(enc)
                                 : layer == 1 ? static_cast<gg::nn::Module&>(dec)
                                              : static_cast<gg::nn::Module&>(cross);
        Tensor out;  // at the target tokens, [N, 4]
        if (!packed) {
          if (layer == 0) out = enc.forward(y, {}, tgt_pad);
          if (layer == 1) out = dec.forward(y, memory, F::causal_mask(4), {}, tgt_pad, mem_pad);
          if (layer == 2) out = cross.forward(y, k, v, mem_pad).output;
          out = tgt_rows.pack(out);
        } else {
          const Tensor yp = tgt_rows.pack(y);
          if (layer == 0) out = enc.forward_packed(yp, tgt_rows);
          if (layer == 1) out = dec.forward_packed(yp, tgt_rows, mem_rows.pack(memory), mem_rows, F::causal_mask(4));
          if (layer == 2) out = cross.forward_packed(yp, mem_rows.pack(k), mem_rows.pack(v), tgt_rows, mem_rows);
        }
        gg::manual_seed(25);
        gg::sum(out * randn64(out.shape())).backward();
        std::vector<double> r = out.to_vector<double>();
        for (const Tensor& t : {y, memory, k, v})
          if (t.grad().defined())  // padding positions get no gradient either way
            for (double g : (t.size(1) == 4 ? tgt_rows : mem_rows).pack(t.grad()).to_vector<double>()) r.push_back(g);
        for (const auto& p : module.parameters())
          for (double g : p.grad().to_vector<double>()) r.push_back(g);
        results.push_back(r);
      }
      REQUIRE(results[0].size() == results[1].size());
      for (size_t i = 0; i < results[0].size(); ++i) REQUIRE(results[0][i] == Approx(results[1][i]).epsilon(1e-10).margin(1e-12));
    }
  }
}

TEST_CASE("gradcheck: Transformer decoder layer on packed tokens", "[gradcheck][nn][transformer]") {
  gg::manual_seed(26);
  gg::nn::TransformerDecoderLayer m(4, 2, {.dim_feedforward = 6, .dropout = 0.0, .batch_first = true,
                                           .dtype = DType::Float64});
  const Tensor tgt_pad = F::padding_mask(gg::from_vector<int64_t>({3, 2}), 3).squeeze(1);
  const Tensor mem_pad = F::padding_mask(gg::from_vector<int64_t>({2, 1}), 2).squeeze(1);
  const gg::nn::Packing tgt_rows = gg::nn::Packing::from_padding(tgt_pad), mem_rows = gg::nn::Packing::from_padding(mem_pad);
  Tensor y = randn64({5, 4}).requires_grad_(), memory = randn64({3, 4}).requires_grad_();
  require_ok(gg::nn::gradcheck_module(
      m,
      [&](const std::vector<Tensor>& in) {
        return m.forward_packed(in[0], tgt_rows, in[1], mem_rows, F::causal_mask(3));
      },
      {y, memory}));
}
