// translate train and translate demo.
#include <fmt/core.h>

#include <filesystem>

#include "commands.h"
#include "common.h"
#include "core/random.h"
#include "data/sentencepiece.h"
#include "data/utf8.h"
#include "data/toy.h"
#include "models/heatmap.h"
#include "models/trainer.h"

namespace translate_cli {
namespace {

struct ModelFlags {
  std::string arch = "rnn", cell = "lstm", attention = "additive", tokenizer = "word";
  int64_t embed = 256, hidden = 512, layers = 1, sp_vocab = 8000, min_freq = 2, max_vocab = 0;
  bool unidirectional = false, no_input_feeding = false, tie = false, lowercase = false, norm_first = false;
  double dropout = 0.2;
  int64_t d_model = 256, heads = 4, enc_layers = 3, dec_layers = 3, ff = 1024;
};

void add_model_flags(CLI::App* cmd, ModelFlags& m) {
  cmd->add_option("--arch", m.arch, "rnn or transformer")->check(CLI::IsMember({"rnn", "transformer"}))->capture_default_str();
  cmd->add_option("--cell", m.cell, "rnn: lstm, gru, rnn, rnn-relu")->check(CLI::IsMember({"lstm", "gru", "rnn", "rnn-relu"}))->capture_default_str();
  cmd->add_option("--attention", m.attention, "rnn: none, dot, scaled-dot, general, additive, concat")
      ->check(CLI::IsMember({"none", "dot", "scaled-dot", "general", "additive", "bahdanau", "concat"}))->capture_default_str();
  cmd->add_option("--embed", m.embed, "rnn: embedding size")->capture_default_str();
  cmd->add_option("--hidden", m.hidden, "rnn: hidden size (a bidirectional encoder uses hidden/2 per direction)")->capture_default_str();
  cmd->add_option("--layers", m.layers, "rnn: layers")->capture_default_str();
  cmd->add_flag("--unidirectional", m.unidirectional, "rnn: a one-way encoder");
  cmd->add_flag("--no-input-feeding", m.no_input_feeding, "rnn: do not feed the attentional vector back");
  cmd->add_flag("--tie-embeddings", m.tie, "share the target embedding with the output layer");
  cmd->add_option("--dropout", m.dropout)->capture_default_str();
  cmd->add_option("--d-model", m.d_model, "transformer: width")->capture_default_str();
  cmd->add_option("--heads", m.heads, "transformer: attention heads")->capture_default_str();
  cmd->add_option("--enc-layers", m.enc_layers)->capture_default_str();
  cmd->add_option("--dec-layers", m.dec_layers)->capture_default_str();
  cmd->add_option("--ff", m.ff, "transformer: feed-forward width")->capture_default_str();
  cmd->add_flag("--norm-first", m.norm_first, "transformer: pre-norm layers");
  cmd->add_option("--tokenizer", m.tokenizer, "word, char or sentencepiece")->check(CLI::IsMember({"word", "char", "sentencepiece"}))->capture_default_str();
  cmd->add_option("--sp-vocab", m.sp_vocab, "sentencepiece: pieces per side")->capture_default_str();
  cmd->add_flag("--lowercase", m.lowercase, "lowercase the text before tokenizing");
  cmd->add_option("--min-freq", m.min_freq, "vocabulary: drop rarer tokens (they become <unk>)")->capture_default_str();
  cmd->add_option("--max-vocab", m.max_vocab, "vocabulary: at most this many tokens (0: no cap)")->capture_default_str();
}

gg::models::TranslatorConfig make_config(const ModelFlags& m) {
  gg::models::TranslatorConfig c;
  c.architecture = m.arch;
  c.rnn = {.embed = m.embed, .hidden = m.hidden, .layers = m.layers, .bidirectional = !m.unidirectional,
           .cell = m.cell == "lstm" ? gg::nn::RNNMode::LSTM : m.cell == "gru" ? gg::nn::RNNMode::GRU
                   : m.cell == "rnn" ? gg::nn::RNNMode::Tanh : gg::nn::RNNMode::Relu,
           .attention = gg::models::parse_attention(m.attention), .input_feeding = !m.no_input_feeding,
           .dropout = m.dropout, .tie_embeddings = m.tie};
  c.transformer = {.d_model = m.d_model, .heads = m.heads, .encoder_layers = m.enc_layers, .decoder_layers = m.dec_layers,
                   .dim_feedforward = m.ff, .dropout = m.dropout, .norm_first = m.norm_first, .tie_embeddings = m.tie};
  c.tokenizer = m.tokenizer;
  c.lowercase = m.lowercase;
  return c;
}

// Tokenizers (training SentencePiece on the training side if asked) and vocabularies.
gg::models::Translator build_translator(const ModelFlags& m, const std::vector<gg::data::SentencePair>& train,
                                        const std::string& out_dir, nlohmann::json extra) {
  gg::models::TranslatorConfig config = make_config(m);
  config.extra = std::move(extra);
  std::shared_ptr<gg::data::Tokenizer> src_tok, tgt_tok;
  if (m.tokenizer == "sentencepiece") {
    std::filesystem::create_directories(out_dir);
    std::vector<std::string> src_text, tgt_text;
    for (const auto& p : train) {
      src_text.push_back(m.lowercase ? gg::data::to_lower(p.src) : p.src);
      tgt_text.push_back(m.lowercase ? gg::data::to_lower(p.tgt) : p.tgt);
    }
    gg::data::SentencePieceOptions sp{.vocab_size = m.sp_vocab};
    src_tok = std::make_shared<gg::data::SentencePieceTokenizer>(gg::data::SentencePieceTokenizer::train(src_text, out_dir + "/src", sp));
    tgt_tok = std::make_shared<gg::data::SentencePieceTokenizer>(gg::data::SentencePieceTokenizer::train(tgt_text, out_dir + "/tgt", sp));
  } else {
    src_tok = gg::models::make_tokenizer(m.tokenizer, m.lowercase);
    tgt_tok = gg::models::make_tokenizer(m.tokenizer, m.lowercase);
  }
  std::vector<std::vector<std::string>> src_tokens, tgt_tokens;
  for (const auto& p : train) {
    src_tokens.push_back(src_tok->encode(p.src));
    tgt_tokens.push_back(tgt_tok->encode(p.tgt));
  }
  gg::data::VocabOptions vo{.min_freq = m.min_freq, .max_size = m.max_vocab};
  auto src_vocab = gg::data::Vocab::build(src_tokens, vo), tgt_vocab = gg::data::Vocab::build(tgt_tokens, vo);
  fmt::print("vocabulary: {} source, {} target tokens ({} tokenizer{}, min frequency {})\n", src_vocab.size(),
             tgt_vocab.size(), m.tokenizer, m.lowercase ? ", lowercased" : "", m.min_freq);
  return gg::models::Translator(config, src_tok, tgt_tok, std::move(src_vocab), std::move(tgt_vocab));
}

std::string precision_flag = "fp32";  // --precision; resolve_precision sets TrainOptions::precision from it

void add_train_flags(CLI::App* cmd, gg::models::TrainOptions& t) {
  cmd->add_option("--epochs", t.epochs)->capture_default_str();
  cmd->add_option("--batch-size", t.batch_size)->capture_default_str();
  cmd->add_option("--lr", t.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--clip", t.clip, "gradient-norm clipping (0: off)")->capture_default_str();
  cmd->add_option("--label-smoothing", t.label_smoothing)->capture_default_str();
  cmd->add_option("--teacher-forcing", t.teacher_forcing, "probability of feeding the reference token (rnn)")->capture_default_str();
  cmd->add_option("--warmup", t.warmup_steps, "> 0: linear warmup then 1/sqrt(step)")->capture_default_str();
  cmd->add_option("--time-budget", t.time_budget_minutes, "stop after this many minutes (0: no limit)")->capture_default_str();
  cmd->add_option("--patience", t.patience, "early stopping after this many epochs without improvement (0: off)")->capture_default_str();
  cmd->add_option("--valid-bleu", t.valid_bleu_sentences, "validation BLEU on this many sentences (0: off)")->capture_default_str();
  cmd->add_option("--seed", t.seed)->capture_default_str();
  cmd->add_flag("--resume", t.resume, "continue the run in --out from its last checkpoint");
  cmd->add_option("--precision", precision_flag, "matrix products in fp32, or bf16 (mixed precision, gg::autocast)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

// bf16 only where it pays: on a CPU without bfloat16 instructions oneDNN emulates them, slower
// than float32, so that run trains in float32 and says why.
void resolve_precision(gg::models::TrainOptions& t) {
  t.precision = gg::parse_precision(precision_flag, "--precision");
  if (t.precision != gg::Precision::BFloat16 || gg::bf16_is_fast()) return;
  fmt::print("--precision bf16: {}; training in float32\n", gg::bf16_not_fast_reason());
  t.precision = gg::Precision::Float32;
}

void report_test(gg::models::Translator& t, const std::vector<gg::data::SentencePair>& test, int64_t beam, size_t samples) {
  if (test.empty()) return;
  Scores s = score(t, test, beam);
  fmt::print("\ntest ({} sentences, {}): exact match {:.1f}%\n", test.size(), beam > 1 ? fmt::format("beam {}", beam) : "greedy",
             100 * s.exact_match);
  fmt::print("{}  ({})\nlowercased: {}  ({})\n", s.bleu.str(), s.bleu.signature, s.bleu_lowercase.str(),
             s.bleu_lowercase.signature);
  for (size_t i = 0; i < std::min(samples, test.size()); ++i)
    fmt::print("  {}  ->  {}{}\n", test[i].src, s.hypotheses[i], s.hypotheses[i] == test[i].tgt ? "" : fmt::format("   (expected {})", test[i].tgt));
}

}  // namespace

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a translator on a TSV file or line-aligned files");
  static DataOptions d;
  static ModelFlags m;
  static gg::models::TrainOptions t;
  static int64_t max_len = 50;
  cmd->add_option("--data", d.tsv, "a TSV file of sentence pairs")->check(CLI::ExistingFile);
  cmd->add_option("--src-col", d.src_col, "1-based source column of --data (Tatoeba Spanish->English: 2)")->capture_default_str();
  cmd->add_option("--tgt-col", d.tgt_col, "1-based target column of --data (Tatoeba Spanish->English: 1)")->capture_default_str();
  cmd->add_option("--train-src", d.train_src)->check(CLI::ExistingFile);
  cmd->add_option("--train-tgt", d.train_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--valid-src", d.valid_src)->check(CLI::ExistingFile);
  cmd->add_option("--valid-tgt", d.valid_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--test-src", d.test_src)->check(CLI::ExistingFile);
  cmd->add_option("--test-tgt", d.test_tgt)->check(CLI::ExistingFile);
  cmd->add_flag("--skip-bad", d.skip_bad, "skip and count malformed lines instead of stopping");
  cmd->add_option("--split-mod", d.split_mod, "line i is test if i % N == 0, valid if i % N == 1 (default: random 90/5/5)");
  cmd->add_option("--max-len", max_len, "drop training pairs longer than this many tokens (0: keep all)")->capture_default_str();
  cmd->add_option("--out", t.out_dir, "the model directory")->required();
  add_model_flags(cmd, m);
  add_train_flags(cmd, t);
  cmd->callback([] {
    d.seed = t.seed;
    gg::manual_seed(t.seed);
    resolve_precision(t);
    Splits splits = load_splits(d);
    std::unique_ptr<gg::models::Translator> translator;
    if (t.resume) {
      translator = std::make_unique<gg::models::Translator>(gg::models::Translator::load(t.out_dir));
    } else {
      translator = std::make_unique<gg::models::Translator>(build_translator(m, splits.pairs.train, t.out_dir, splits.description));
      std::filesystem::create_directories(t.out_dir);
      if (splits.has_split) gg::data::save_split(splits.split, t.out_dir + "/split.txt");
    }
    auto train = encode(*translator, splits.pairs.train, max_len), valid = encode(*translator, splits.pairs.valid, max_len);
    fmt::print("{}\n{} parameters; training on {} pairs, validating on {}\n", translator->model->str(),
               translator->model->num_parameters(), train.size(), valid.size());
    auto result = gg::models::train(*translator, train, valid, splits.pairs.valid, t);
    fmt::print("stopped after {} steps, {:.1f} minutes ({}); best validation loss {:.4f}; model in {}\n", result.steps,
               result.seconds / 60, result.stop_reason, result.best_valid_loss, t.out_dir);
  });
}

void add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "train an attention model on a generated task and show what it learned");
  static std::string task = "dates", out, attention = "additive";
  static double minutes = 3;
  static uint64_t seed = 0;
  std::string names;
  for (const auto& tt : gg::data::toy_tasks()) names += (names.empty() ? "" : ", ") + tt.name;
  cmd->add_option("--task", task, "one of: " + names)->capture_default_str();
  cmd->add_option("--minutes", minutes, "training time budget")->capture_default_str();
  cmd->add_option("--out", out, "the model directory (default runs/demo-TASK)");
  cmd->add_option("--attention", attention, "none, dot, scaled-dot, general, additive or concat")
      ->check(CLI::IsMember({"none", "dot", "scaled-dot", "general", "additive", "bahdanau", "concat"}))->capture_default_str();
  cmd->add_option("--seed", seed)->capture_default_str();
  cmd->callback([] {
    const auto& toy = gg::data::toy_task(task);
    if (out.empty()) out = "runs/demo-" + task;
    gg::manual_seed(seed);
    fmt::print("demo: {} ({})\n", toy.name, toy.description);
    auto pairs = toy.generate(22000, seed);
    std::vector<gg::data::SentencePair> train(pairs.begin(), pairs.begin() + 20000), valid(pairs.begin() + 20000, pairs.begin() + 21000),
        test(pairs.begin() + 21000, pairs.end());
    for (size_t i = 0; i < 3; ++i) fmt::print("  example: {}  ->  {}\n", train[i].src, train[i].tgt);
    ModelFlags m;
    m.tokenizer = toy.make_tokenizer()->name();
    m.embed = 64;
    m.hidden = 128;
    m.dropout = 0.0;
    m.min_freq = 1;
    m.attention = attention;
    auto translator = build_translator(m, train, out, {{"task", toy.name}, {"seed", seed}});
    auto enc_train = encode(translator, train), enc_valid = encode(translator, valid);
    fmt::print("{}\n{} parameters; {} training pairs; at most {} minutes\n\n", translator.model->str(),
               translator.model->num_parameters(), enc_train.size(), minutes);
    gg::models::TrainOptions t{.out_dir = out, .epochs = 30, .batch_size = 64, .lr = 3e-3, .clip = 1.0,
                               .time_budget_minutes = minutes, .patience = 3, .valid_bleu_sentences = 0, .log_every = 10,
                               .seed = seed};
    auto result = gg::models::train(translator, enc_train, enc_valid, valid, t);
    auto best = gg::models::Translator::load(out);
    report_test(best, test, 1, 8);
    fmt::print("\ntrained {} steps in {:.1f} minutes ({})\n", result.steps, result.seconds / 60, result.stop_reason);
    if (attention == "none") {
      fmt::print("no attention: the decoder reads one fixed context, so there is no picture of where it looks\n");
      fmt::print("the loss curve: {}/loss.png\n", out);
    } else {
      auto one = best.translate({test[0].src}, 1, true)[0];
      fmt::print("\nwhere the model looks, translating \"{}\":\n{}", test[0].src,
                 gg::models::attention_text(attention_matrix(one), one.source_tokens, with_eos(one.target_tokens)));
      write_attention_png(out + "/attention.png", one);
      fmt::print("pictures: {0}/attention.png (where it looks) and {0}/loss.png (the loss curve)\n", out);
    }
    fmt::print("the model, metrics.jsonl and checkpoints are in {0}; try:\n  echo \"{1}\" | build/bin/translate translate --model {0} --show-attention\n",
               out, test[1].src);
  });
}

}  // namespace translate_cli
