// The fused attention ops (autograd/fused_attention.h, autograd/packed_attention.cpp): the
// additive score, the masked softmax, the attention pair and attention on packed rows, each
// against its composed twin, forward and backward; float64 gradchecks of each op; their errors.
#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace F = gg::nn::functional;

TEST_CASE("fused additive score agrees with the composed ops", "[autograd][attention]") {
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
    for (size_t i = 0; i < results[0].size(); ++i) require_close(results[0][i], results[1][i], rtol, names[i]);
  }
}

TEST_CASE("gradcheck: fused additive score op", "[gradcheck][autograd][attention]") {
  gg::manual_seed(82);
  auto fn = [](const In& in) { return gg::additive_score_fused(in[0], in[1], in[2]); };
  expect_gradcheck("additive_score_fused", "AdditiveScoreBackward", fn,
                            {leaf({2, 3, 4}, -1.5, 1.5), leaf({2, 5, 4}, -1.5, 1.5), leaf({4})});
}

TEST_CASE("fused additive score names the op and the shapes on bad input", "[autograd][attention]") {
  CHECK_THAT(error_message([] { gg::additive_score_fused(gg::zeros({2, 3, 4}), gg::zeros({2, 5, 3}), gg::zeros({4})); }),
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

TEST_CASE("fused masked softmax agrees with the composed ops, forward and backward", "[autograd][attention]") {
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
      require_close(results[0][0], results[1][0], rtol, "weights");
      require_close(results[0][1], results[1][1], rtol, "scores grad");
      const auto w = results[0][0].to(gg::DType::Float64).to_vector<double>();
      const auto m = mask.expand(shape).contiguous().to_vector<bool>();
      for (size_t i = 0; i < w.size(); ++i)
        if (m[i]) REQUIRE(w[i] == 0.0);  // exactly zero, not merely small
    }
  }
}

TEST_CASE("gradcheck: fused masked softmax", "[gradcheck][autograd][attention]") {
  for (const auto& [shape, mask] : softmax_masks()) {
    INFO("mask " << mask.shape());
    gg::manual_seed(85);
    auto fn = [mask](const In& in) { return gg::masked_softmax(in[0], mask); };
    expect_gradcheck("masked_softmax", "SoftmaxBackward", fn, {leaf(shape, -2.0, 2.0)});
  }
}

TEST_CASE("fused masked softmax names the op and the shapes on bad input", "[autograd][attention]") {
  CHECK_THAT(error_message([] { gg::masked_softmax(gg::zeros({2, 3, 4}), gg::zeros({2, 1, 5}).to(gg::DType::Bool)); }),
             Catch::Matchers::Contains("masked_softmax") && Catch::Matchers::Contains("[2, 1, 5]"));
  CHECK_THAT(error_message([] { gg::masked_softmax(gg::zeros({2, 3, 4}), gg::zeros({2, 1, 4})); }),
             Catch::Matchers::Contains("masked_softmax") && Catch::Matchers::Contains("bool"));
}

// ---- scaled dot-product attention over heads: one op (gg::attention_fused) against the composed
// ops (scores, scale, masked softmax, weighted sum) ----

namespace {
struct AttentionCase {
  int64_t B, h, Tq, S, d, dv;
};
// Sizes that reach every path of the kernel: sizes under one SIMD vector, whole 8 x 8 transpose
// blocks with rows and columns left over (S = 19, d = 12), a row count not a multiple of 4, and
// the bench's 16 x 16 x 16 heads.
const AttentionCase kAttentionCases[] = {{2, 3, 5, 7, 4, 6}, {2, 2, 9, 19, 12, 16}, {1, 2, 16, 16, 16, 16}};

// Masks for scores [B, h, Tq, S]: none, key padding with batch 0 fully padded, causal, both,
// one per head, and a key padding mask stored column by column.
std::vector<Tensor> attention_masks(const AttentionCase& c) {
  std::vector<int64_t> lengths(static_cast<size_t>(c.B), c.S);
  lengths[0] = 0;
  const Tensor pad = F::padding_mask(gg::from_vector(lengths), c.S).unsqueeze(1);  // [B, 1, 1, S]
  const Tensor causal = F::causal_mask(c.Tq, c.S);                                  // [Tq, S]
  const Tensor per_head = gg::gt(gg::uniform({c.B, c.h, c.Tq, c.S}, 0, 1), 0.6);
  const Tensor pad_cols = pad.reshape({c.B, c.S}).t().contiguous().t().unsqueeze(1).unsqueeze(1);
  return {Tensor(), pad, causal, gg::logical_or(pad, causal), per_head, pad_cols};
}

// The heads of q, k and v as views into one projection [B, T, 2 * h * d + h * dv], as
// MultiHeadAttention's split_heads leaves them (rows with a stride, heads interleaved).
std::vector<Tensor> attention_inputs(const AttentionCase& c, gg::DType dtype) {
  const int64_t T = std::max(c.Tq, c.S), width = 2 * c.h * c.d + c.h * c.dv;
  Tensor proj = gg::uniform({c.B, T, width}, -2, 2, {.dtype = dtype});
  auto heads = [&](int64_t first, int64_t rows, int64_t d) {
    Tensor x = proj.narrow(2, first, c.h * d).narrow(1, 0, rows).reshape({c.B, rows, c.h, d}).permute({0, 2, 1, 3});
    x.requires_grad_();
    return x;
  };
  return {heads(0, c.Tq, c.d), heads(c.h * c.d, c.S, c.d), heads(2 * c.h * c.d, c.S, c.dv)};
}
}  // namespace

TEST_CASE("fused attention agrees with the composed ops: output, weights and gradients, with and without dropout",
          "[autograd][attention]") {
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-5}}) {
    for (const AttentionCase& c : kAttentionCases) {
      gg::manual_seed(86);
      const std::vector<Tensor> masks = attention_masks(c);
      const Tensor dropout = F::dropout_scale({c.B, c.h, c.Tq, c.S}, 0.3, dtype);
      for (size_t run = 0; run < 2 * masks.size(); ++run) {
        const size_t mi = run % masks.size();
        const Tensor& mask = masks[mi];
        const Tensor drop = run < masks.size() ? Tensor() : dropout;  // each mask without, then with dropout
        INFO(gg::dtype_name(dtype) << " B " << c.B << " h " << c.h << " Tq " << c.Tq << " S " << c.S << " d " << c.d
                                   << " dv " << c.dv << " mask #" << mi << (drop.defined() ? ", dropout" : ""));
        const double scale = 0.37;
        std::vector<std::vector<Tensor>> results;
        for (bool fused : {true, false}) {
          gg::manual_seed(87);
          std::vector<Tensor> in = attention_inputs(c, dtype);
          Tensor out, weights;
          if (fused) {
            out = gg::attention_fused(in[0], in[1], in[2], mask, scale, &weights, drop);
          } else {  // dropout as functional::dropout applies it, to the weights
            weights = F::masked_softmax(gg::matmul(in[0], in[1].transpose(-1, -2)) * scale, mask, false);
            out = gg::matmul(drop.defined() ? weights * drop : weights, in[2]);
          }
          gg::sum(out * gg::randn(out.shape(), {.dtype = dtype})).backward();
          results.push_back({out, weights, in[0].grad(), in[1].grad(), in[2].grad()});
        }
        const char* names[] = {"output", "weights", "q grad", "k grad", "v grad"};
        for (size_t i = 0; i < results[0].size(); ++i)
          require_close(results[0][i], results[1][i], rtol, names[i]);
        if (mask.defined()) {  // masked keys get exactly zero weight, fully masked rows zero output
          const auto w = results[0][1].to(gg::DType::Float64).to_vector<double>();
          const auto m = mask.expand({c.B, c.h, c.Tq, c.S}).contiguous().to_vector<bool>();
          for (size_t i = 0; i < w.size(); ++i)
            if (m[i]) REQUIRE(w[i] == 0.0);
        }
      }
    }
  }
}

TEST_CASE("gradcheck: fused attention", "[gradcheck][autograd][attention]") {
  const AttentionCase c{2, 2, 3, 5, 3, 2};
  gg::manual_seed(88);
  for (const Tensor& mask : attention_masks(c)) {
    INFO("mask " << (mask.defined() ? mask.shape() : gg::Shape{}));
    auto fn = [mask](const In& in) { return gg::attention_fused(in[0], in[1], in[2], mask, 0.8); };
    expect_gradcheck("attention_fused", "AttentionBackward", fn,
                              {leaf({2, 2, 3, 3}), leaf({2, 2, 5, 3}), leaf({2, 2, 5, 2})});
  }
}

TEST_CASE("gradcheck: fused attention with dropout", "[gradcheck][autograd][attention]") {
  const AttentionCase c{2, 2, 3, 5, 3, 2};
  gg::manual_seed(96);
  const Tensor drop = F::dropout_scale({2, 2, 3, 5}, 0.4, gg::DType::Float64), mask = attention_masks(c)[3];
  auto fn = [&](const In& in) { return gg::attention_fused(in[0], in[1], in[2], mask, 0.8, nullptr, drop); };
  expect_gradcheck("attention_fused with dropout", "AttentionBackward", fn,
                            {leaf({2, 2, 3, 3}), leaf({2, 2, 5, 3}), leaf({2, 2, 5, 2})});
}

// ---- the same attention on packed rows (gg::attention_packed) against attention_fused on the
// padded batch ----

namespace {
// Padding (true = padding) from rows of 0/1.
Tensor padding_rows(const std::vector<std::vector<int>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return gg::from_vector(flat)
      .reshape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())})
      .to(gg::DType::Bool);
}

// Queries [B = 4, Tq = 5]: a full row, right padding, left padding (positions from 2, so the
// kernel gathers its mask rows), and a row without tokens. Keys [4, S = 6]: none at all for
// row 0 (its queries get zeros), holes in row 1, a full row, left padding for row 3 (whose keys
// no query reads: zero gradients).
const Tensor kQueryPadding = padding_rows({{0, 0, 0, 0, 0}, {0, 0, 0, 1, 1}, {1, 1, 0, 0, 0}, {1, 1, 1, 1, 1}});
const Tensor kKeyPadding = padding_rows({{1, 1, 1, 1, 1, 1}, {0, 1, 0, 0, 1, 1}, {0, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0}});

gg::PackedRows packed_rows(const gg::nn::Packing& p) { return {p.index, p.B(), p.T()}; }

// attention_packed's reference: the sources unpacked, split into heads, attention_fused with
// the key padding as a mask, merged and packed again.
Tensor packed_reference(const Tensor& q_src, int64_t q_col, const Tensor& kv_src, int64_t k_col, int64_t v_col,
                        int64_t H, int64_t d, const gg::nn::Packing& q_rows, const gg::nn::Packing& k_rows,
                        const Tensor& attn_mask, double scale, const Tensor& drop) {
  const int64_t B = q_rows.B(), Tq = q_rows.T(), S = k_rows.T();
  auto heads = [&](const gg::nn::Packing& rows, const Tensor& src, int64_t col) {
    return rows.unpack(src).narrow(2, col, H * d).reshape({B, rows.T(), H, d}).permute({0, 2, 1, 3});
  };
  Tensor mask = k_rows.padding.reshape({B, 1, 1, S});
  if (attn_mask.defined())
    mask = gg::logical_or(mask, attn_mask.dim() == 3 ? attn_mask.reshape({B, H, Tq, S}) : attn_mask);
  const Tensor out = gg::attention_fused(heads(q_rows, q_src, q_col), heads(k_rows, kv_src, k_col),
                                         heads(k_rows, kv_src, v_col), mask, scale, nullptr, drop);
  return q_rows.pack(out.permute({0, 2, 1, 3}).reshape({B, Tq, H * d}));
}
}  // namespace

TEST_CASE("attention on packed rows equals the padded fused attention: output and gradients", "[autograd][attention]") {
  const gg::nn::Packing q_rows = gg::nn::Packing::from_padding(kQueryPadding);
  const gg::nn::Packing k_rows = gg::nn::Packing::from_padding(kKeyPadding);
  const int64_t H = 2, d = 3, E = H * d, B = 4, Tq = 5, S = 6;
  for (auto [dtype, rtol] : {std::pair{gg::DType::Float64, 1e-12}, std::pair{gg::DType::Float32, 2e-5}}) {
    gg::manual_seed(90);
    const std::vector<std::pair<const char*, Tensor>> masks = {
        {"none", Tensor()},
        {"causal", F::causal_mask(Tq, S)},
        {"per head", gg::gt(gg::uniform({B * H, Tq, S}, 0, 1), 0.6)}};
    for (const auto& [mask_name, mask] : masks) {
      for (auto [one_source, dropout] : {std::pair{false, false}, std::pair{true, false}, std::pair{false, true},
                                         std::pair{true, true}}) {
        INFO(gg::dtype_name(dtype) << ", mask " << mask_name << (one_source ? ", one source" : ", two sources")
                                   << (dropout ? ", dropout" : ""));
        const gg::nn::Packing& kr = one_source ? q_rows : k_rows;  // self-attention: the same rows
        const Tensor m = one_source && mask.defined() ? mask.narrow(-1, 0, Tq) : mask;
        const Tensor drop = dropout ? F::dropout_scale({B, H, Tq, kr.T()}, 0.3, dtype) : Tensor();
        std::vector<std::vector<Tensor>> results;
        for (bool packed : {true, false}) {
          gg::manual_seed(91);
          const gg::TensorOptions leaf{.dtype = dtype, .requires_grad = true};
          // Two sources: q in columns [2, 8) of 9 (some columns unused), v before k in [Nk, 2E + 1].
          // One source: [N, 3E] with q last.
          Tensor q_src = gg::uniform({q_rows.tokens(), one_source ? 3 * E : E + 3}, -2, 2, leaf);
          Tensor kv_src = one_source ? q_src : gg::uniform({kr.tokens(), 2 * E + 1}, -2, 2, leaf);
          const int64_t q_col = one_source ? 2 * E : 2, k_col = one_source ? 0 : E + 1, v_col = one_source ? E : 0;
          const Tensor out =
              packed ? gg::attention_packed(q_src, q_col, kv_src, k_col, v_col, H, d, packed_rows(q_rows),
                                            packed_rows(kr), m, 0.45, drop)
                     : packed_reference(q_src, q_col, kv_src, k_col, v_col, H, d, q_rows, kr, m, 0.45, drop);
          REQUIRE(out.shape() == gg::Shape({q_rows.tokens(), E}));
          gg::manual_seed(92);
          gg::sum(out * gg::randn(out.shape(), {.dtype = dtype})).backward();
          results.push_back({out, q_src.grad(), one_source ? q_src.grad() : kv_src.grad()});
        }
        const char* names[] = {"output", "q source grad", "kv source grad"};
        for (size_t i = 0; i < results[0].size(); ++i)
          require_close(results[0][i], results[1][i], rtol, names[i]);
      }
    }
  }
}

TEST_CASE("gradcheck: attention on packed rows", "[gradcheck][autograd][attention]") {
  gg::manual_seed(93);
  const gg::nn::Packing rows = gg::nn::Packing::from_padding(padding_rows({{0, 0, 0, 1}, {1, 0, 0, 0}, {0, 1, 1, 1}}));
  const gg::nn::Packing keys = gg::nn::Packing::from_padding(padding_rows({{0, 0, 1}, {0, 1, 0}, {1, 1, 1}}));
  const Tensor causal = F::causal_mask(4, 4), per_head = gg::gt(gg::uniform({6, 4, 3}, 0, 1), 0.7);
  auto self = [&](const In& in) {
    return gg::attention_packed(in[0], 0, in[0], 4, 8, 2, 2, packed_rows(rows), packed_rows(rows), causal, 0.7);
  };
  expect_gradcheck("attention_packed, one source", "PackedAttentionBackward", self, {leaf({rows.tokens(), 12})});
  auto cross = [&](const In& in) {
    return gg::attention_packed(in[0], 1, in[1], 4, 0, 2, 2, packed_rows(rows), packed_rows(keys), per_head, 0.7);
  };
  expect_gradcheck("attention_packed, two sources", "PackedAttentionBackward", cross,
                            {leaf({rows.tokens(), 5}), leaf({keys.tokens(), 8})});
  const Tensor drop = F::dropout_scale({3, 2, 4, 3}, 0.4, gg::DType::Float64);
  auto dropped = [&](const In& in) {
    return gg::attention_packed(in[0], 1, in[1], 4, 0, 2, 2, packed_rows(rows), packed_rows(keys), {}, 0.7, drop);
  };
  expect_gradcheck("attention_packed, dropout", "PackedAttentionBackward", dropped,
                            {leaf({rows.tokens(), 5}), leaf({keys.tokens(), 8})});
}

TEST_CASE("attention on packed rows names the problem on bad input", "[autograd][attention]") {
  const gg::nn::Packing rows = gg::nn::Packing::from_padding(padding_rows({{0, 0, 1}, {0, 1, 1}}));  // 3 tokens
  const Tensor qkv = gg::zeros({3, 12});
  const gg::PackedRows r = packed_rows(rows);
  auto message = [&](auto f) { return error_message(f); };
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 2, 8, 2, 2, r, r, {}, 1.0); }),
             Catch::Matchers::Contains("attention_packed") && Catch::Matchers::Contains("overlap"));
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 4, 10, 2, 2, r, r, {}, 1.0); }),
             Catch::Matchers::Contains("[3, 12]"));
  const gg::PackedRows backwards{gg::from_vector<int64_t>({3, 1, 0}), 2, 3};
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 4, 8, 2, 2, backwards, backwards, {}, 1.0); }),
             Catch::Matchers::Contains("index[1] = 1") && Catch::Matchers::Contains("increasing"));
  const gg::PackedRows too_few{gg::from_vector<int64_t>({0, 1}), 2, 3};
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 4, 8, 2, 2, too_few, too_few, {}, 1.0); }),
             Catch::Matchers::Contains("int64 [3]"));
  const gg::PackedRows other_batch{gg::from_vector<int64_t>({0, 1, 2}), 1, 3};
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 4, 8, 2, 2, r, other_batch, {}, 1.0); }),
             Catch::Matchers::Contains("2 sequences") && Catch::Matchers::Contains("from 1"));
  CHECK_THAT(message([&] { gg::attention_packed(qkv, 0, qkv, 4, 8, 2, 2, r, r, F::causal_mask(3, 4), 1.0); }),
             Catch::Matchers::Contains("attn_mask") && Catch::Matchers::Contains("[3, 4]"));
}

TEST_CASE("fused attention names the op and the shapes on bad input", "[autograd][attention]") {
  const Tensor q = gg::zeros({2, 3, 4, 5}), kv = gg::zeros({2, 3, 6, 5});
  CHECK_THAT(error_message([&] { gg::attention_fused(q, gg::zeros({2, 3, 6, 4}), kv, {}, 1.0); }),
             Catch::Matchers::Contains("attention_fused") && Catch::Matchers::Contains("[2, 3, 6, 4]"));
  CHECK_THAT(error_message([&] { gg::attention_fused(q, kv, kv, gg::zeros({2, 1, 1, 6}), 1.0); }),
             Catch::Matchers::Contains("attention_fused") && Catch::Matchers::Contains("bool"));
  const Tensor wrong = gg::zeros({2, 1, 1, 7}).to(gg::DType::Bool);
  CHECK_THAT(error_message([&] { gg::attention_fused(q, kv, kv, wrong, 1.0); }),
             Catch::Matchers::Contains("[2, 1, 1, 7]"));
}
