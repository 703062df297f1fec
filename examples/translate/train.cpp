// translate train and translate demo.
#include <fmt/core.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "commands.h"
#include "common.h"
#include "core/file_io.h"
#include "core/random.h"
#include "data/sentencepiece.h"
#include "data/utf8.h"
#include "dist/comm.h"
#include "data/toy.h"
#include "app/checkpoint.h"
#include "pictures/attention_text.h"
#include "app/trainer.h"

namespace translate_cli {
namespace {

struct ModelFlags {
  std::string arch = "rnn", cell = "lstm", attention = "additive", tokenizer = "word", sp_model = "bpe";
  int64_t embed = 256, hidden = 512, layers = 1, sp_vocab = 8000, min_freq = 2, max_vocab = 0;
  bool unidirectional = false, no_input_feeding = false, tie = false, lowercase = false, norm_first = false,
       sp_joint = false;
  double dropout = 0.2;
  int64_t d_model = 256, heads = 4, enc_layers = 3, dec_layers = 3, ff = 1024;
};

void add_model_flags(CLI::App* cmd, ModelFlags& m) {
  cmd->add_option("--arch", m.arch, "rnn or transformer")->check(CLI::IsMember({"rnn", "transformer"}))->capture_default_str();
  cmd->add_option("--cell", m.cell, "rnn: lstm, gru, rnn, rnn-relu")->check(CLI::IsMember({"lstm", "gru", "rnn", "rnn-relu"}))->capture_default_str();
  cmd->add_option("--attention", m.attention, "rnn: none, dot, scaled-dot, general, additive, concat")
      ->check(CLI::IsMember({"none", "dot", "scaled-dot", "general", "additive", "bahdanau", "concat"}))->capture_default_str();
  cmd->add_option("--embed", m.embed, "rnn: embedding size")->check(at_least(1))->capture_default_str();
  cmd->add_option("--hidden", m.hidden, "rnn: hidden size (a bidirectional encoder uses hidden/2 per direction)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--layers", m.layers, "rnn: layers")->check(at_least(1))->capture_default_str();
  cmd->add_flag("--unidirectional", m.unidirectional, "rnn: a one-way encoder");
  cmd->add_flag("--no-input-feeding", m.no_input_feeding, "rnn: do not feed the attentional vector back");
  cmd->add_flag("--tie-embeddings", m.tie, "share the target embedding with the output layer");
  cmd->add_option("--dropout", m.dropout)->check(CLI::Range(0.0, 0.99))->capture_default_str();
  cmd->add_option("--d-model", m.d_model, "transformer: width")->check(at_least(1))->capture_default_str();
  cmd->add_option("--heads", m.heads, "transformer: attention heads")->check(at_least(1))->capture_default_str();
  cmd->add_option("--enc-layers", m.enc_layers)->check(at_least(1))->capture_default_str();
  cmd->add_option("--dec-layers", m.dec_layers)->check(at_least(1))->capture_default_str();
  cmd->add_option("--ff", m.ff, "transformer: feed-forward width")->check(at_least(1))->capture_default_str();
  cmd->add_flag("--norm-first", m.norm_first, "transformer: pre-norm layers");
  cmd->add_option("--tokenizer", m.tokenizer, "word, char or sentencepiece")->check(CLI::IsMember({"word", "char", "sentencepiece"}))->capture_default_str();
  cmd->add_option("--sp-vocab", m.sp_vocab, "sentencepiece: pieces per side (with --sp-joint: in all)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--sp-model", m.sp_model, "sentencepiece: bpe or unigram")->check(CLI::IsMember({"bpe", "unigram"}))->capture_default_str();
  cmd->add_flag("--sp-joint", m.sp_joint, "sentencepiece: one model trained on both languages, instead of one per side");
  cmd->add_flag("--lowercase", m.lowercase, "lowercase the text before tokenizing");
  cmd->add_option("--min-freq", m.min_freq, "vocabulary: drop rarer tokens (they become <unk>)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--max-vocab", m.max_vocab, "vocabulary: at most this many tokens (0: no cap)")->check(at_least(0))->capture_default_str();
}

gg::app::TranslatorConfig make_config(const ModelFlags& m) {
  gg::app::TranslatorConfig c;
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
gg::app::Translator build_translator(const ModelFlags& m, const std::vector<gg::data::SentencePair>& train,
                                        nlohmann::json extra) {
  gg::app::TranslatorConfig config = make_config(m);
  config.extra = std::move(extra);
  config.extra["vocab"] = {{"min_freq", m.min_freq}, {"max_vocab", m.max_vocab}, {"sp_vocab", m.sp_vocab},
                           {"sp_model", m.sp_model}, {"sp_joint", m.sp_joint}};
  std::shared_ptr<gg::data::Tokenizer> src_tok, tgt_tok;
  if (m.tokenizer == "sentencepiece") {
    // Trained in a scratch directory: the model directory changes only once training starts.
    const auto scratch = std::filesystem::temp_directory_path() / fmt::format("glassgrad-sp-{}", ::getpid());
    std::filesystem::create_directories(scratch);
    std::vector<std::string> src_text, tgt_text;
    for (const auto& p : train) {
      src_text.push_back(m.lowercase ? gg::data::to_lower(p.src) : p.src);
      tgt_text.push_back(m.lowercase ? gg::data::to_lower(p.tgt) : p.tgt);
    }
    gg::data::SentencePieceOptions sp{.vocab_size = m.sp_vocab, .model = m.sp_model == "unigram"
                                                                         ? gg::data::SentencePieceModel::Unigram
                                                                         : gg::data::SentencePieceModel::BPE};
    auto train_sp = [&](const std::vector<std::string>& text, const char* name) {
      try {
        return std::make_shared<gg::data::SentencePieceTokenizer>(
            gg::data::SentencePieceTokenizer::train(text, (scratch / name).string(), sp));
      } catch (const gg::Error& e) {
        std::filesystem::remove_all(scratch);
        gg::fail("--tokenizer sentencepiece --sp-model {} --sp-vocab {}{}: training the {} model failed: {}", m.sp_model,
                 m.sp_vocab, m.sp_joint ? " --sp-joint" : "", name, e.what());
      }
    };
    if (m.sp_joint) {  // one model of both languages: shared pieces for shared names and numbers
      src_text.insert(src_text.end(), tgt_text.begin(), tgt_text.end());
      src_tok = tgt_tok = train_sp(src_text, "joint");
    } else {
      src_tok = train_sp(src_text, "src");
      tgt_tok = train_sp(tgt_text, "tgt");
    }
    std::filesystem::remove_all(scratch);  // the tokenizers keep their models in memory
  } else {
    src_tok = gg::app::make_tokenizer(m.tokenizer, m.lowercase);
    tgt_tok = gg::app::make_tokenizer(m.tokenizer, m.lowercase);
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
  try {
    return gg::app::Translator(config, src_tok, tgt_tok, std::move(src_vocab), std::move(tgt_vocab));
  } catch (const gg::Error& e) {
    gg::fail("the model the options describe cannot be built ({}): {}",
             m.arch == "rnn" ? fmt::format("--embed {} --hidden {} --layers {}", m.embed, m.hidden, m.layers)
                             : fmt::format("--d-model {} --heads {} --enc-layers {} --dec-layers {} --ff {}", m.d_model,
                                           m.heads, m.enc_layers, m.dec_layers, m.ff),
             e.what());
  }
}

std::string reduce_flag = "exact";  // --reduce; parsed into TrainOptions::reduce
std::string precision_flag = "fp32";  // --precision; resolve_precision sets TrainOptions::precision from it
std::string save_every_flag = "10m";  // --save-every; parse_save_every sets TrainOptions from it

void parse_save_every(const std::string& flag, gg::app::TrainOptions& t) {
  const bool minutes = flag.ends_with("m");
  double value = -1;
  try {
    size_t used = 0;
    value = std::stod(flag.substr(0, flag.size() - minutes), &used);
    if (used != flag.size() - minutes) value = -1;
  } catch (const std::exception&) {
  }
  GG_CHECK(value >= 0 && (minutes || value == std::floor(value)),
           "--save-every: expected steps (\"500\") or minutes (\"10m\"), got '{}'", flag);
  t.save_every_minutes = minutes ? value : 0;
  t.save_every_steps = minutes ? 0 : static_cast<int64_t>(value);
}

void add_train_flags(CLI::App* cmd, gg::app::TrainOptions& t) {
  cmd->add_option("--epochs", t.epochs)->check(at_least(1))->capture_default_str();
  cmd->add_option("--batch-size", t.batch_size, "sentence pairs per step")->check(at_least(1))->capture_default_str();
  cmd->add_option("--lr", t.lr, "Adam learning rate")->check(above(0))->capture_default_str();
  cmd->add_option("--clip", t.clip, "gradient-norm clipping (0: off)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--label-smoothing", t.label_smoothing)->check(CLI::Range(0.0, 0.99))->capture_default_str();
  cmd->add_option("--teacher-forcing", t.teacher_forcing, "probability of feeding the reference token (rnn)")->check(CLI::Range(0.01, 1.0))->capture_default_str();
  cmd->add_option("--warmup", t.warmup_steps, "> 0: linear warmup then 1/sqrt(step)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--time-budget", t.time_budget_minutes, "stop after this many minutes of this run (0: no limit)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--patience", t.patience, "early stopping after this many epochs without improvement (0: off)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--valid-bleu", t.valid_bleu_sentences, "validation BLEU on this many sentences (0: off)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--seed", t.seed)->capture_default_str();
  cmd->add_flag("--resume", t.resume, "continue the run in --out from its newest checkpoint");
  cmd->add_option("--save-every", save_every_flag, "a checkpoint every N steps (\"500\") or minutes (\"10m\"); 0: at epoch ends only")
      ->capture_default_str();
  cmd->add_option("--keep-checkpoints", t.keep_checkpoints, "keep the newest N checkpoints (0: all)")
      ->check(at_least(0))->capture_default_str();
  cmd->add_option("--precision", precision_flag, "matrix products in fp32, or bf16 (mixed precision, gg::autocast)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--reduce", reduce_flag, "under mpirun: gradients summed in rank order (exact: the bits of one process) or by MPI_Allreduce (fast)")
      ->check(CLI::IsMember({"exact", "fast"}))
      ->capture_default_str();
}

// bf16 only where it pays: on a CPU without bfloat16 instructions oneDNN emulates them, slower
// than float32, so that run trains in float32 and says why.
void resolve_precision(gg::app::TrainOptions& t) {
  t.precision = gg::parse_precision(precision_flag, "--precision");
  if (t.precision != gg::Precision::BFloat16 || gg::bf16_is_fast()) return;
  fmt::print("--precision bf16: {}; training in float32\n", gg::bf16_not_fast_reason());
  t.precision = gg::Precision::Float32;
}

// NAME.tmp.PID: a file whose save a crash interrupted (core/file_io.h). The file it was to
// replace is intact; the temporary is of no use.
void remove_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at != std::string::npos && name.find_first_not_of("0123456789", at + 5) == std::string::npos)
      std::filesystem::remove(entry.path());
  }
}

// --resume continues the saved run as it was: every option given with it must agree with what
// the run recorded (config.json, and the newest checkpoint's training options), and the
// training options not given are taken from the checkpoint, not from the defaults.
void refuse_contradictions(CLI::App* cmd, const gg::app::Translator& saved, const DataOptions& d, const ModelFlags& m,
                           int64_t max_len, gg::app::TrainOptions& t) {
  using nlohmann::json;
  std::string problems;
  auto check = [&](const char* option, const json& given, const json& recorded) {
    if (cmd->count(option) > 0 && given != recorded)
      problems += fmt::format("\n  {} {}: the run in {} has {}", option, given.dump(), t.out_dir, recorded.dump());
  };
  const json now = make_config(m).to_json(), had = saved.config.to_json();
  const std::string arch = "/" + saved.config.architecture + "/";
  for (auto [option, key] : std::initializer_list<std::pair<const char*, std::string>>{
           {"--arch", "/architecture"}, {"--tokenizer", "/tokenizer"}, {"--lowercase", "/lowercase"},
           {"--cell", "/rnn/cell"}, {"--attention", "/rnn/attention"}, {"--embed", "/rnn/embed"},
           {"--hidden", "/rnn/hidden"}, {"--layers", "/rnn/layers"}, {"--unidirectional", "/rnn/bidirectional"},
           {"--no-input-feeding", "/rnn/input_feeding"}, {"--d-model", "/transformer/d_model"},
           {"--heads", "/transformer/heads"}, {"--enc-layers", "/transformer/encoder_layers"},
           {"--dec-layers", "/transformer/decoder_layers"}, {"--ff", "/transformer/dim_feedforward"},
           {"--norm-first", "/transformer/norm_first"}, {"--dropout", arch + "dropout"},
           {"--tie-embeddings", arch + "tie_embeddings"}})
    check(option, now.at(json::json_pointer(key)), had.at(json::json_pointer(key)));
  const json& extra = saved.config.extra;
  const json vocab = extra.value("vocab", json::object());
  check("--min-freq", m.min_freq, vocab.value("min_freq", json()));
  check("--max-vocab", m.max_vocab, vocab.value("max_vocab", json()));
  check("--sp-vocab", m.sp_vocab, vocab.value("sp_vocab", json()));
  check("--sp-model", m.sp_model, vocab.value("sp_model", json("bpe")));  // runs saved before the option: bpe
  check("--sp-joint", m.sp_joint, vocab.value("sp_joint", json(false)));
  check("--max-len", max_len, extra.value("max_len", json()));
  auto absolute = [](const std::string& path) { return path.empty() ? path : std::filesystem::absolute(path).string(); };
  check("--data", absolute(d.tsv), extra.value("data", json()));
  check("--src-col", d.src_col, extra.value("src_col", json()));
  check("--tgt-col", d.tgt_col, extra.value("tgt_col", json()));
  for (auto [option, key, path] : {std::tuple{"--train-src", "train_src", &d.train_src}, {"--train-tgt", "train_tgt", &d.train_tgt},
                                   {"--valid-src", "valid_src", &d.valid_src}, {"--valid-tgt", "valid_tgt", &d.valid_tgt},
                                   {"--test-src", "test_src", &d.test_src}, {"--test-tgt", "test_tgt", &d.test_tgt}})
    check(option, absolute(*path), extra.value(key, json()));
  check("--split-mod", fmt::format("index mod {}: test 0, valid 1", d.split_mod), extra.value("split", json()));

  const auto checkpoints = gg::app::list_checkpoints(t.out_dir);
  GG_CHECK(!checkpoints.empty(),
           "--resume: {} has no checkpoint (the run stopped before its first save, or an older glassgrad wrote it); "
           "start again with --overwrite",
           t.out_dir);
  json recorded;
  try {
    recorded = json::parse(gg::read_file(checkpoints.back() + "/trainer.json")).at("options");
  } catch (const json::exception& e) {
    gg::fail("--resume: {}/trainer.json is damaged ({})", checkpoints.back(), e.what());
  }
  json options = gg::app::resume_options(t);
  for (auto [option, key] : std::initializer_list<std::pair<const char*, const char*>>{
           {"--batch-size", "batch_size"}, {"--lr", "lr"}, {"--clip", "clip"}, {"--label-smoothing", "label_smoothing"},
           {"--teacher-forcing", "teacher_forcing"}, {"--warmup", "warmup_steps"}, {"--seed", "seed"},
           {"--precision", "precision"}}) {
    check(option, options[key], recorded.value(key, json()));
    options[key] = recorded.value(key, options[key]);
  }
  GG_CHECK(problems.empty(), "--resume: these options contradict the run being resumed (drop them to continue it as it was):{}",
           problems);
  t.batch_size = options["batch_size"], t.lr = options["lr"], t.clip = options["clip"];
  t.label_smoothing = options["label_smoothing"], t.teacher_forcing = options["teacher_forcing"];
  t.warmup_steps = options["warmup_steps"], t.seed = options["seed"];
  t.precision = gg::parse_precision(options["precision"].get<std::string>(), "the checkpoint's precision");
}

void report_test(gg::app::Translator& t, const std::vector<gg::data::SentencePair>& test, int64_t beam, size_t samples) {
  if (test.empty()) return;
  Scores s = score(t, test, {.beam = beam});
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
  static gg::app::TrainOptions t;
  static int64_t max_len = 50;
  static bool overwrite = false, allow_changed_data = false;
  static int64_t average_last = 0;
  cmd->add_option("--data", d.tsv, "a TSV file of sentence pairs")->check(CLI::ExistingFile);
  cmd->add_option("--src-col", d.src_col, "1-based source column of --data (Tatoeba Spanish->English: 2)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--tgt-col", d.tgt_col, "1-based target column of --data (Tatoeba Spanish->English: 1)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--train-src", d.train_src)->check(CLI::ExistingFile);
  cmd->add_option("--train-tgt", d.train_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--valid-src", d.valid_src)->check(CLI::ExistingFile);
  cmd->add_option("--valid-tgt", d.valid_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--test-src", d.test_src)->check(CLI::ExistingFile);
  cmd->add_option("--test-tgt", d.test_tgt)->check(CLI::ExistingFile);
  cmd->add_flag("--skip-bad", d.skip_bad, "skip and count malformed lines instead of stopping");
  cmd->add_option("--split-mod", d.split_mod, "line i is test if i % N == 0, valid if i % N == 1 (default: random 90/5/5)")->check(at_least(1));
  cmd->add_option("--max-len", max_len, "drop training pairs longer than this many tokens (0: keep all)")->check(at_least(0))->capture_default_str();
  cmd->add_option("--out", t.out_dir, "the model directory")->required();
  cmd->add_flag("--overwrite", overwrite, "replace the model already in --out (without it, training into a model directory needs --resume)");
  cmd->add_flag("--allow-changed-data", allow_changed_data, "--resume even if the data files changed since the run began");
  cmd->add_option("--average-last", average_last, "at the end, write the mean of the last K checkpoints to OUT-average")
      ->check(at_least(0))->capture_default_str();
  add_model_flags(cmd, m);
  add_train_flags(cmd, t);
  cmd->callback([cmd] {
    parse_save_every(save_every_flag, t);
    t.reduce = gg::dist::parse_mode(reduce_flag);
    // Under mpirun every rank runs this and reads the data; only rank 0 changes the model directory.
    const bool writer = gg::dist::rank() == 0;
    if (average_last > 0 && t.keep_checkpoints > 0) t.keep_checkpoints = std::max(t.keep_checkpoints, average_last);
    GG_CHECK(!(t.resume && overwrite), "--resume continues the model in {} and --overwrite replaces it: give one", t.out_dir);
    const bool holds_model = std::filesystem::exists(t.out_dir + "/config.json") || std::filesystem::exists(t.out_dir + "/checkpoints");
    GG_CHECK(t.resume || overwrite || !holds_model,
             "{} already holds a model: continue its training with --resume, or replace it with --overwrite", t.out_dir);
    GG_CHECK(!t.resume || holds_model, "--resume: {} holds no model to continue", t.out_dir);
    gg::dist::barrier();  // every rank has looked at the directory before rank 0 writes to it
    resolve_precision(t);
    std::unique_ptr<gg::app::Translator> translator;
    gg::data::SplitPairs pairs;
    std::unique_ptr<gg::DirectoryLock> lock;  // from the first change to the model directory to the end
    // A killed run's temporaries go once the directory is ours: before that they may be the
    // files another run is writing (it holds the lock, and this run is about to be refused).
    if (t.resume) {
      if (writer) {
        lock = std::make_unique<gg::DirectoryLock>(t.out_dir);
        remove_temporaries(t.out_dir);
      }
      translator = std::make_unique<gg::app::Translator>(gg::app::Translator::load(t.out_dir));
      refuse_contradictions(cmd, *translator, d, m, max_len, t);
      pairs = saved_pairs(*translator, t.out_dir, allow_changed_data);
      max_len = translator->config.extra.value("max_len", max_len);
    } else {
      d.seed = t.seed;
      gg::manual_seed(t.seed);  // the initial weights
      Splits splits = load_splits(d);
      GG_CHECK(!splits.pairs.train.empty(), "train: the data has no training pairs");
      splits.description["max_len"] = max_len;
      translator = std::make_unique<gg::app::Translator>(build_translator(m, splits.pairs.train, splits.description));
      pairs = std::move(splits.pairs);
      // Everything that can fail early has run: only now does the model directory change.
      if (writer) {
        std::filesystem::create_directories(t.out_dir);
        lock = std::make_unique<gg::DirectoryLock>(t.out_dir);
        remove_temporaries(t.out_dir);
        if (overwrite) remove_model_files(t.out_dir);
        if (splits.has_split) gg::data::save_split(splits.split, t.out_dir + "/split.txt");
      }
    }
    auto train = encode(*translator, pairs.train, max_len), valid = encode(*translator, pairs.valid, max_len);
    GG_CHECK(!train.empty(), "train: no training pairs are left after dropping those longer than --max-len {}", max_len);
    fmt::print("{}\n{} parameters; training on {} pairs, validating on {}\n", translator->model->str(),
               translator->model->num_parameters(), train.size(), valid.size());
    auto result = gg::app::train(*translator, train, valid, pairs.valid, t);
    fmt::print("stopped after {} steps, {:.1f} minutes ({}); best validation loss {:.4f}; model in {}\n", result.steps,
               result.seconds / 60, result.stop_reason, result.best_valid_loss, t.out_dir);
    if (result.signal) {
      fmt::print("checkpoint saved in {}; to continue:\n  translate train --out {} --resume\n", result.checkpoint, t.out_dir);
      throw ExitStatus{128 + result.signal};
    }
    if (average_last > 0 && writer) {
      const int64_t kept = static_cast<int64_t>(gg::app::list_checkpoints(t.out_dir).size());
      average_checkpoints(t.out_dir, std::min(average_last, kept), t.out_dir + "-average", true);
    }
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
    auto translator = build_translator(m, train, {{"task", toy.name}, {"seed", seed}});
    std::filesystem::create_directories(out);
    gg::DirectoryLock lock(out);
    remove_model_files(out);  // a demo replaces the one before it
    auto enc_train = encode(translator, train), enc_valid = encode(translator, valid);
    fmt::print("{}\n{} parameters; {} training pairs; at most {} minutes\n\n", translator.model->str(),
               translator.model->num_parameters(), enc_train.size(), minutes);
    gg::app::TrainOptions t{.out_dir = out, .epochs = 30, .batch_size = 64, .lr = 3e-3, .clip = 1.0,
                               .time_budget_minutes = minutes, .patience = 3, .valid_bleu_sentences = 0, .log_every = 10,
                               .seed = seed};
    auto result = gg::app::train(translator, enc_train, enc_valid, valid, t);
    auto best = gg::app::Translator::load(out);
    report_test(best, test, 1, 8);
    fmt::print("\ntrained {} steps in {:.1f} minutes ({})\n", result.steps, result.seconds / 60, result.stop_reason);
    if (attention == "none") {
      fmt::print("no attention: the decoder reads one fixed context, so there is no picture of where it looks\n");
      fmt::print("the loss curve: {}/loss.png\n", out);
    } else {
      auto one = best.translate({test[0].src}, {.keep_attention = true})[0];
      fmt::print("\nwhere the model looks, translating \"{}\":\n{}", test[0].src,
                 gg::pictures::attention_text(attention_matrix(one), one.source_tokens, with_eos(one.target_tokens)));
      write_attention_png(out + "/attention.png", one);
      fmt::print("pictures: {0}/attention.png (where it looks) and {0}/loss.png (the loss curve)\n", out);
    }
    fmt::print("the model, metrics.jsonl and checkpoints are in {0}; try:\n  echo \"{1}\" | build/bin/translate translate --model {0} --show-attention\n",
               out, test[1].src);
  });
}

}  // namespace translate_cli
