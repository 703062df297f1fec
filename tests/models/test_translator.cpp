// Tiny translators on a toy task: they must overfit it, start from a pinned loss
// trajectory, and decode the same sentence the same way whatever the batch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <iomanip>
#include <tuple>

#include "glassgrad.h"
#include "models/decode.h"
#include "models/rnn_seq2seq.h"
#include "models/transformer_seq2seq.h"

namespace {

constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kFirstDigit = 3, kVocab = 13;  // digits 0..9 -> ids 3..12

// Reverse a digit string: source [B, S] padded, target in/out [B, T], lengths [B].
struct Toy {
  gg::Tensor src, src_lengths, tgt_in, tgt_out;
  std::vector<std::vector<int64_t>> sources, targets;
};

Toy make_reverse_task(int64_t B, uint64_t seed) {
  gg::Generator rng(seed);
  Toy toy;
  int64_t S = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = 3 + static_cast<int64_t>(rng.below(4));
    std::vector<int64_t> s;
    for (int64_t i = 0; i < len; ++i) s.push_back(kFirstDigit + static_cast<int64_t>(rng.below(10)));
    toy.sources.push_back(s);
    toy.targets.emplace_back(s.rbegin(), s.rend());
    S = std::max(S, len);
  }
  std::vector<int64_t> src(B * S, kPad), in(B * (S + 1), kPad), out(B * (S + 1), kPad), lengths;
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = toy.sources[b];
    const auto& t = toy.targets[b];
    lengths.push_back(static_cast<int64_t>(s.size()));
    in[b * (S + 1)] = kBos;
    for (size_t i = 0; i < s.size(); ++i) {
      src[b * S + static_cast<int64_t>(i)] = s[i];
      in[b * (S + 1) + static_cast<int64_t>(i) + 1] = t[i];
      out[b * (S + 1) + static_cast<int64_t>(i)] = t[i];
    }
    out[b * (S + 1) + static_cast<int64_t>(t.size())] = kEos;
  }
  toy.src = gg::from_vector(src, {B, S});
  toy.src_lengths = gg::from_vector(lengths);
  toy.tgt_in = gg::from_vector(in, {B, S + 1});
  toy.tgt_out = gg::from_vector(out, {B, S + 1});
  return toy;
}

// Trains on one fixed batch; returns the loss after every step. The forward pass (and so the
// backward's products) in `precision` (gg::autocast).
std::vector<double> train(gg::models::Seq2Seq& model, const Toy& toy, int steps, double lr,
                          gg::Precision precision = gg::Precision::Float32) {
  gg::optim::Adam optimizer(model.parameters(), {.lr = lr});
  std::vector<double> losses;
  model.train();
  for (int step = 0; step < steps; ++step) {
    gg::Tensor loss;
    {
      gg::autocast scope(precision);
      gg::Tensor logits = model.forward(toy.src, toy.src_lengths, toy.tgt_in);
      loss = gg::nn::functional::cross_entropy(logits, toy.tgt_out, {.ignore_index = kPad});
    }
    optimizer.zero_grad();
    loss.backward();
    gg::optim::clip_grad_norm_(model.parameters(), 1.0);
    optimizer.step();
    losses.push_back(loss.item());
  }
  model.eval();
  return losses;
}

double exact_match(gg::models::Seq2Seq& model, const Toy& toy) {
  auto hyps = gg::models::greedy_decode(model, toy.src, toy.src_lengths, {.bos = kBos, .eos = kEos});
  int correct = 0;
  for (size_t b = 0; b < hyps.size(); ++b) correct += hyps[b].tokens == toy.targets[b];
  return static_cast<double>(correct) / static_cast<double>(hyps.size());
}

// The same through beam search (beam 3). Its first finished hypotheses are the unlikely ones
// that end early; it must not stop at them while a likelier one is still alive.
double beam_match(gg::models::Seq2Seq& model, const Toy& toy) {
  auto hyps = gg::models::beam_search(model, toy.src, toy.src_lengths, {.beam = 3}, {.bos = kBos, .eos = kEos});
  int correct = 0;
  for (size_t b = 0; b < hyps.size(); ++b) {
    INFO("sentence " << b);
    CHECK(hyps[b][0].tokens == toy.targets[b]);
    correct += hyps[b][0].tokens == toy.targets[b];
  }
  return static_cast<double>(correct) / static_cast<double>(hyps.size());
}

}  // namespace

TEST_CASE("model: an LSTM translator with additive attention overfits the reversal task", "[model]") {
  gg::manual_seed(7);
  gg::models::RNNSeq2Seq model(kVocab, kVocab, {.embed = 16, .hidden = 32, .dropout = 0.0});
  Toy toy = make_reverse_task(16, 1);
  std::vector<double> losses = train(model, toy, 150, 1e-2);
  INFO(std::setprecision(8) << "losses: " << losses[0] << ", " << losses[1] << ", " << losses[2] << " ... " << losses.back());
  // The first steps of the trajectory, pinned: a change in init, ops or Adam shows up here.
  CHECK(losses[0] == Approx(2.5826693).epsilon(1e-4));
  CHECK(losses[1] == Approx(2.516793).epsilon(1e-4));
  CHECK(losses[2] == Approx(2.437897).epsilon(1e-4));
  CHECK(losses.back() < 0.05);
  CHECK(exact_match(model, toy) == 1.0);
  CHECK(beam_match(model, toy) == 1.0);
}

TEST_CASE("model: a Transformer translator overfits the reversal task", "[model]") {
  gg::manual_seed(7);
  gg::models::TransformerSeq2Seq model(kVocab, kVocab,
                                       {.d_model = 32, .heads = 4, .encoder_layers = 1, .decoder_layers = 1,
                                        .dim_feedforward = 64, .dropout = 0.0});
  Toy toy = make_reverse_task(16, 1);
  std::vector<double> losses = train(model, toy, 150, 3e-3);
  INFO(std::setprecision(8) << "losses: " << losses[0] << ", " << losses[1] << ", " << losses[2] << " ... " << losses.back());
  CHECK(losses[0] == Approx(2.7087915).epsilon(1e-4));
  CHECK(losses[1] == Approx(2.5488584).epsilon(1e-4));
  CHECK(losses[2] == Approx(2.4220226).epsilon(1e-4));
  CHECK(losses.back() < 0.05);
  CHECK(exact_match(model, toy) == 1.0);
  CHECK(beam_match(model, toy) == 1.0);
}

TEST_CASE("model: both translators overfit the reversal task in mixed precision (bf16 autocast)", "[model]") {
  // Products with bfloat16 inputs: the first loss within bfloat16's rounding of float32's
  // (pinned above), the task learnt as well, and every product of training in bfloat16.
  Toy toy = make_reverse_task(16, 1);
  gg::manual_seed(7);
  gg::models::RNNSeq2Seq rnn(kVocab, kVocab, {.embed = 16, .hidden = 32, .dropout = 0.0});
  gg::manual_seed(7);
  gg::models::TransformerSeq2Seq transformer(kVocab, kVocab,
                                             {.d_model = 32, .heads = 4, .encoder_layers = 1, .decoder_layers = 1,
                                              .dim_feedforward = 64, .dropout = 0.0});
  for (auto [model, lr, first] : {std::tuple<gg::models::Seq2Seq*, double, double>{&rnn, 1e-2, 2.5826693},
                                  {&transformer, 3e-3, 2.7087915}}) {
    INFO(model->str().substr(0, model->str().find('(')));
    std::vector<double> losses;
    {
      gg::Profiler profiler;
      losses = train(*model, toy, 150, lr, gg::Precision::BFloat16);
      for (const auto& [key, entry] : profiler.entries()) CHECK(key.first != "matmul");  // all "matmul bf16"
      CHECK(profiler.entries().count({"matmul bf16", "forward"}) == 1);
      CHECK(profiler.entries().count({"matmul bf16", "backward"}) == 1);
    }
    INFO(std::setprecision(8) << "losses: " << losses[0] << ", " << losses[1] << " ... " << losses.back());
    CHECK(losses[0] == Approx(first).epsilon(1e-2));
    CHECK(losses[0] != Approx(first).epsilon(1e-6));  // the products did round their inputs
    CHECK(losses.back() < 0.05);
    CHECK(exact_match(*model, toy) == 1.0);  // decoded in float32
    // Decoded in bfloat16 as well: the same tokens as float32's decoding of this confident model,
    // greedy and beam, with every product of decoding in bf16.
    const gg::models::DecodeOptions fp32{.bos = kBos, .eos = kEos};
    gg::models::DecodeOptions bf16 = fp32;
    bf16.precision = gg::Precision::BFloat16;
    const auto greedy_fp32 = gg::models::greedy_decode(*model, toy.src, toy.src_lengths, fp32);
    const auto beam_fp32 = gg::models::beam_search(*model, toy.src, toy.src_lengths, {.beam = 3}, fp32);
    gg::Profiler profiler;
    const auto greedy_bf16 = gg::models::greedy_decode(*model, toy.src, toy.src_lengths, bf16);
    const auto beam_bf16 = gg::models::beam_search(*model, toy.src, toy.src_lengths, {.beam = 3}, bf16);
    for (size_t b = 0; b < toy.targets.size(); ++b) {
      CHECK(greedy_bf16[b].tokens == greedy_fp32[b].tokens);
      CHECK(beam_bf16[b][0].tokens == beam_fp32[b][0].tokens);
    }
    CHECK(profiler.entries().count({"matmul", "forward"}) == 0);
    CHECK(profiler.entries().count({"matmul bf16", "forward"}) == 1);
  }
}

TEST_CASE("model: every attention kind trains (loss falls by half in 60 steps)", "[model]") {
  using gg::models::AttentionKind;
  for (AttentionKind kind : {AttentionKind::None, AttentionKind::Dot, AttentionKind::ScaledDot, AttentionKind::General,
                             AttentionKind::Additive, AttentionKind::Concat}) {
    INFO("attention " << gg::models::attention_name(kind));
    gg::manual_seed(3);
    gg::models::RNNSeq2Seq model(kVocab, kVocab, {.embed = 16, .hidden = 32, .attention = kind, .dropout = 0.0});
    std::vector<double> losses = train(model, make_reverse_task(16, 2), 60, 1e-2);
    CHECK(losses.back() < 0.5 * losses.front());
  }
}

TEST_CASE("model: beam search gives each sentence the same translation whatever the batch", "[models][decode]") {
  gg::manual_seed(11);
  gg::models::RNNSeq2Seq model(kVocab, kVocab, {.embed = 16, .hidden = 32, .dropout = 0.0});
  Toy toy = make_reverse_task(8, 3);
  train(model, toy, 40, 1e-2);  // partly trained: the beams have real choices to make
  auto batched = gg::models::beam_search(model, toy.src, toy.src_lengths, {.beam = 4, .n_best = 2},
                                         {.bos = kBos, .eos = kEos});
  auto greedy_batched = gg::models::greedy_decode(model, toy.src, toy.src_lengths, {.bos = kBos, .eos = kEos});
  for (int64_t b = 0; b < 8; ++b) {
    const int64_t len = toy.src_lengths.to_vector<int64_t>()[b];
    gg::Tensor one = toy.src.narrow(0, b, 1).narrow(1, 0, len).contiguous();  // alone, without padding
    gg::Tensor one_len = gg::from_vector(std::vector<int64_t>{len});
    auto alone = gg::models::beam_search(model, one, one_len, {.beam = 4, .n_best = 2}, {.bos = kBos, .eos = kEos});
    REQUIRE(alone[0].size() == batched[b].size());
    for (size_t k = 0; k < alone[0].size(); ++k) {
      CHECK(alone[0][k].tokens == batched[b][k].tokens);
      CHECK(alone[0][k].score == Approx(batched[b][k].score).epsilon(1e-5));
    }
    auto greedy_alone = gg::models::greedy_decode(model, one, one_len, {.bos = kBos, .eos = kEos});
    CHECK(greedy_alone[0].tokens == greedy_batched[b].tokens);
  }
}

TEST_CASE("SourceRows: a beam's rows share their sentence's source row, which moves only when sentences leave",
          "[models][decode]") {
  auto rows = [](std::vector<int64_t> v) { return gg::from_vector(v); };
  auto kept = [](const gg::Tensor& t) { return t.defined() ? t.to_vector<int64_t>() : std::vector<int64_t>{-1}; };
  gg::models::SourceRows source(3);  // 3 sentences
  CHECK(kept(source.select(rows({0, 0, 1, 1, 2, 2}))) == std::vector<int64_t>{-1});  // beam 2: nothing moves
  CHECK(source.of_row == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(kept(source.select(rows({1, 1, 3, 2, 4, 4}))) == std::vector<int64_t>{-1});  // reordered within sentences
  CHECK(kept(source.select(rows({0, 1, 4, 4}))) == std::vector<int64_t>{0, 2});     // sentence 1 is done
  CHECK(source.of_row == std::vector<int64_t>{0, 0, 1, 1});
  CHECK(kept(source.select(rows({0, 2, 3}))) == std::vector<int64_t>{0, 1, 1});      // not runs: one row each
  CHECK(source.of_row == std::vector<int64_t>{0, 1, 2});
  gg::models::SourceRows unshared(2, false);  // one source row per decoding row, always
  CHECK(kept(unshared.select(rows({0, 0, 1, 1}))) == std::vector<int64_t>{0, 0, 1, 1});
}

TEST_CASE("model: Transformer decoding with the key/value cache equals re-running the decoder over the prefix",
          "[models][decode]") {
  // A partly trained model (the beams have real choices), two decoder layers, a padded batch.
  gg::manual_seed(17);
  gg::models::TransformerSeq2Seq model(kVocab, kVocab,
                                       {.d_model = 32, .heads = 4, .encoder_layers = 1, .decoder_layers = 2,
                                        .dim_feedforward = 64, .dropout = 0.0});
  Toy toy = make_reverse_task(8, 5);
  train(model, toy, 15, 3e-3);
  auto decode_all = [&](bool cache) {
    model.kv_cache = cache;
    auto greedy = gg::models::greedy_decode(model, toy.src, toy.src_lengths, {.bos = kBos, .eos = kEos});
    auto beam = gg::models::beam_search(model, toy.src, toy.src_lengths, {.beam = 4, .n_best = 2},
                                        {.bos = kBos, .eos = kEos, .keep_attention = true});
    return std::make_pair(greedy, beam);
  };
  const auto [greedy, beam] = decode_all(true);
  const auto [greedy_ref, beam_ref] = decode_all(false);
  // The partly trained model still gets some sentences wrong, so its choices are not forced.
  int64_t wrong = 0;
  for (size_t b = 0; b < greedy.size(); ++b) {
    INFO("sentence " << b);
    CHECK(greedy[b].tokens == greedy_ref[b].tokens);
    CHECK(greedy[b].log_prob == Approx(greedy_ref[b].log_prob).epsilon(1e-5));
    wrong += greedy[b].tokens != toy.targets[b];
    REQUIRE(beam[b].size() == beam_ref[b].size());
    for (size_t k = 0; k < beam[b].size(); ++k) {
      CHECK(beam[b][k].tokens == beam_ref[b][k].tokens);
      CHECK(beam[b][k].score == Approx(beam_ref[b][k].score).epsilon(1e-5));
      const auto &a = beam[b][k].attention, &a_ref = beam_ref[b][k].attention;
      REQUIRE(a.size() == a_ref.size());
      REQUIRE(!a.empty());
      double worst = 0;
      for (size_t t = 0; t < a.size(); ++t) {
        REQUIRE(a[t].size() == a_ref[t].size());
        for (size_t j = 0; j < a[t].size(); ++j) worst = std::max(worst, std::fabs(double(a[t][j]) - a_ref[t][j]));
      }
      CHECK(worst < 1e-5);
    }
  }
  CHECK(wrong > 0);
}

TEST_CASE("model: beam search with beam 1 equals greedy decoding", "[models][decode]") {
  gg::manual_seed(5);
  gg::models::RNNSeq2Seq model(kVocab, kVocab, {.embed = 16, .hidden = 32, .dropout = 0.0});
  Toy toy = make_reverse_task(6, 4);
  train(model, toy, 30, 1e-2);
  auto beam = gg::models::beam_search(model, toy.src, toy.src_lengths, {.beam = 1, .length_penalty = 0.0},
                                      {.bos = kBos, .eos = kEos});
  auto greedy = gg::models::greedy_decode(model, toy.src, toy.src_lengths, {.bos = kBos, .eos = kEos});
  for (size_t b = 0; b < greedy.size(); ++b) {
    CHECK(beam[b][0].tokens == greedy[b].tokens);
    CHECK(beam[b][0].log_prob == Approx(greedy[b].log_prob).epsilon(1e-6));
  }
}

TEST_CASE("model: scheduled sampling still learns, and is off outside training", "[models][decode]") {
  gg::manual_seed(13);
  gg::models::RNNSeq2Seq model(kVocab, kVocab, {.embed = 16, .hidden = 32, .dropout = 0.0});
  Toy toy = make_reverse_task(16, 6);
  model.eval();
  gg::Tensor forced = model.forward(toy.src, toy.src_lengths, toy.tgt_in);
  model.teacher_forcing = 0.5;
  gg::Tensor still_forced = model.forward(toy.src, toy.src_lengths, toy.tgt_in);  // eval: no sampling
  CHECK(gg::max(gg::abs(forced - still_forced)).item() == 0.0);
  std::vector<double> losses = train(model, toy, 80, 1e-2);
  CHECK(losses.back() < 0.5 * losses.front());
}

TEST_CASE("model: loss() (only non-padding rows projected) equals cross-entropy of forward(), value and gradients",
          "[models][loss]") {
  Toy toy = make_reverse_task(6, 41);
  // Target lengths 4..7 out of order, so the RNN's loss sorts the rows and shrinks its batch as
  // targets end; one target with an ignored position inside it; one row with no target at all.
  {
    std::vector<int64_t> out = toy.tgt_out.to_vector<int64_t>(), steps;
    const int64_t T = toy.tgt_out.size(1);
    for (int64_t b = 0; b < 6; ++b) {
      int64_t n = 0;
      for (int64_t t = 0; t < T; ++t) n += out[static_cast<size_t>(b * T + t)] != kPad;
      steps.push_back(n);
    }
    REQUIRE_FALSE(std::is_sorted(steps.rbegin(), steps.rend()));
    out[1] = kPad;
    for (int64_t t = 0; t < T; ++t) out[static_cast<size_t>(4 * T + t)] = kPad;
    toy.tgt_out = gg::from_vector(out, toy.tgt_out.shape());
  }
  // A second batch with a padding token fed inside a target (tgt_in[2, 2]) while tgt_out there
  // still has a target: the Transformer's packed loss has no output at that position and must
  // take the padded path; both must still equal cross_entropy(forward()).
  Toy holed = toy;
  {
    std::vector<int64_t> in = toy.tgt_in.to_vector<int64_t>();
    in[static_cast<size_t>(2 * toy.tgt_in.size(1) + 2)] = kPad;
    holed.tgt_in = gg::from_vector(in, toy.tgt_in.shape());
  }
  const std::vector<gg::models::RNNSeq2SeqOptions> rnns = {
      {.embed = 8, .hidden = 8, .dropout = 0.0},
      {.embed = 8, .hidden = 8, .layers = 2, .cell = gg::nn::RNNMode::GRU, .attention = gg::models::AttentionKind::General,
       .attentional_output = false, .dropout = 0.0},
      {.embed = 8, .hidden = 8, .bidirectional = false, .cell = gg::nn::RNNMode::Tanh,
       .attention = gg::models::AttentionKind::Concat, .input_feeding = false, .dropout = 0.0},
      {.embed = 8, .hidden = 8, .attention = gg::models::AttentionKind::None, .dropout = 0.0},
  };
  for (size_t arch = 0; arch < 2 * (rnns.size() + 2); ++arch) {
    const bool with_hole = arch >= rnns.size() + 2;
    const Toy& batch = with_hole ? holed : toy;
    const size_t model_kind = arch % (rnns.size() + 2);
    INFO((model_kind < rnns.size() ? "RNN " + std::to_string(model_kind)
                                   : "Transformer " + std::to_string(model_kind - rnns.size()))
         << (with_hole ? ", padding fed inside a target" : ""));
    for (auto reduction : {gg::Reduction::Mean, gg::Reduction::Sum, gg::Reduction::None}) {
      std::vector<std::vector<double>> results;
      for (bool via_loss : {true, false}) {
        gg::manual_seed(42);
        std::shared_ptr<gg::models::Seq2Seq> model;
        if (model_kind < rnns.size())
          model = std::make_shared<gg::models::RNNSeq2Seq>(kVocab, kVocab, rnns[model_kind]);
        else
          model = std::make_shared<gg::models::TransformerSeq2Seq>(
              kVocab, kVocab, gg::models::TransformerSeq2SeqOptions{.d_model = 8, .heads = 2, .encoder_layers = 1,
                                                                    .decoder_layers = 1, .dim_feedforward = 16, .dropout = 0.0,
                                                                    .norm_first = model_kind > rnns.size()});
        // In float64, so that the two paths' different summation orders (other GEMM shapes, the
        // rows in another order) stay far below the tolerance.
        model->to(gg::DType::Float64);
        const gg::CrossEntropyOptions options{.ignore_index = kPad, .label_smoothing = 0.1, .reduction = reduction};
        gg::Tensor loss = via_loss ? model->loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out, options)
                                   : gg::nn::functional::cross_entropy(model->forward(batch.src, batch.src_lengths, batch.tgt_in),
                                                                       batch.tgt_out, options);
        gg::sum(loss).backward();
        std::vector<double> r = loss.to_vector<double>();
        for (const auto& p : model->parameters())
          for (double g : p.grad().to_vector<double>()) r.push_back(g);
        results.push_back(r);
      }
      REQUIRE(results[0].size() == results[1].size());
      for (size_t i = 0; i < results[0].size(); ++i) REQUIRE(results[0][i] == Approx(results[1][i]).epsilon(1e-10).margin(1e-13));
    }
  }
}
