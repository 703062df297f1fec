#include "common.h"

#include <fmt/core.h>

#include <filesystem>

#include "core/file_io.h"
#include "data/bleu.h"
#include "app/checkpoint.h"
#include "data/utf8.h"
#include "pictures/plot.h"

namespace translate_cli {

using gg::data::SentencePair;

Splits load_splits(const DataOptions& o) {
  Splits s;
  gg::data::ReadOptions read{.skip_bad = o.skip_bad};
  std::vector<SentencePair> all;
  if (!o.tsv.empty()) {
    auto corpus = gg::data::read_tsv(o.tsv, o.src_col, o.tgt_col, read);
    fmt::print("read {}: {}\n", o.tsv, corpus.summary.str());
    print_attribution_if_tatoeba(o.tsv);
    all = std::move(corpus.pairs);
    s.description = {{"data", std::filesystem::absolute(o.tsv).string()}, {"src_col", o.src_col}, {"tgt_col", o.tgt_col}};
    record_data_file(s.description, o.tsv);
  } else {
    GG_CHECK(!o.train_src.empty() && !o.train_tgt.empty(),
             "train: give --data FILE.tsv (with --src-col/--tgt-col) or --train-src and --train-tgt");
    auto corpus = gg::data::read_parallel(o.train_src, o.train_tgt, read);
    fmt::print("read {} + {}: {}\n", o.train_src, o.train_tgt, corpus.summary.str());
    all = std::move(corpus.pairs);
    s.description = {{"train_src", std::filesystem::absolute(o.train_src).string()},
                     {"train_tgt", std::filesystem::absolute(o.train_tgt).string()}};
    record_data_file(s.description, o.train_src);
    record_data_file(s.description, o.train_tgt);
    if (!o.valid_src.empty()) {
      s.pairs.valid = gg::data::read_parallel(o.valid_src, o.valid_tgt, read).pairs;
      s.description["valid_src"] = std::filesystem::absolute(o.valid_src).string();
      s.description["valid_tgt"] = std::filesystem::absolute(o.valid_tgt).string();
      record_data_file(s.description, o.valid_src);
      record_data_file(s.description, o.valid_tgt);
    }
    if (!o.test_src.empty()) {
      s.pairs.test = gg::data::read_parallel(o.test_src, o.test_tgt, read).pairs;
      s.description["test_src"] = std::filesystem::absolute(o.test_src).string();
      s.description["test_tgt"] = std::filesystem::absolute(o.test_tgt).string();
      record_data_file(s.description, o.test_src);
      record_data_file(s.description, o.test_tgt);
    }
    if (!s.pairs.valid.empty() || !s.pairs.test.empty()) {
      s.pairs.train = std::move(all);
      return s;
    }
  }
  s.split = o.split_mod > 0 ? gg::data::split_by_index_mod(all, {.modulus = o.split_mod})
                            : gg::data::split_random(all, {.seed = o.seed});
  s.description["split"] = o.split_mod > 0 ? fmt::format("index mod {}: test 0, valid 1", o.split_mod)
                                           : fmt::format("random 90/5/5, seed {}", o.seed);
  s.description["split_file"] = "split.txt";
  s.has_split = true;
  s.pairs = gg::data::apply_split(all, s.split);
  fmt::print("split: {} train, {} valid, {} test ({})\n", s.pairs.train.size(), s.pairs.valid.size(),
             s.pairs.test.size(), s.description["split"].get<std::string>());
  return s;
}

gg::data::SplitPairs saved_pairs(const gg::app::Translator& t, const std::string& model_dir, bool allow_changed_data) {
  const auto& d = t.config.extra;
  GG_CHECK(d.is_object() && (d.contains("data") || d.contains("train_src")),
           "{} records no training data; give --data or --test-src/--test-tgt", model_dir);
  check_data_unchanged(d, allow_changed_data, model_dir);
  gg::data::SplitPairs pairs;
  if (d.contains("data")) print_attribution_if_tatoeba(d["data"]);
  if (!d.contains("split_file")) {  // line-aligned train, valid and test files
    pairs.train = gg::data::read_parallel(d["train_src"], d["train_tgt"], {.skip_bad = true}).pairs;
    if (d.contains("valid_src")) pairs.valid = gg::data::read_parallel(d["valid_src"], d["valid_tgt"], {.skip_bad = true}).pairs;
    if (d.contains("test_src")) pairs.test = gg::data::read_parallel(d["test_src"], d["test_tgt"], {.skip_bad = true}).pairs;
    return pairs;
  }
  gg::data::Split split = gg::data::load_split(model_dir + "/" + d["split_file"].get<std::string>());
  const auto all = d.contains("data") ? gg::data::read_tsv(d["data"], d["src_col"], d["tgt_col"], {.skip_bad = true}).pairs
                                      : gg::data::read_parallel(d["train_src"], d["train_tgt"], {.skip_bad = true}).pairs;
  return gg::data::apply_split(all, split);
}

void record_data_file(nlohmann::json& description, const std::string& path) {
  const std::string bytes = gg::read_file(path);
  description["data_files"][std::filesystem::absolute(path).string()] = {{"bytes", bytes.size()},
                                                                         {"sha256", gg::sha256_hex(bytes)}};
}

void check_data_unchanged(const nlohmann::json& description, bool allow_changed_data, const std::string& model_dir) {
  if (!description.contains("data_files")) {
    fmt::print("note: {} records no sizes or hashes of its data files (an older glassgrad wrote it), so they cannot be "
               "checked\n", model_dir);
    return;
  }
  for (const auto& [path, recorded] : description["data_files"].items()) {
    GG_CHECK(std::filesystem::exists(path), "{}, the data {} was trained on, is gone", path, model_dir);
    nlohmann::json now;
    record_data_file(now, path);
    const auto& actual = now["data_files"][path];
    if (actual == recorded) continue;
    const std::string what = fmt::format(
        "{} has changed since {} was trained on it ({} bytes, SHA-256 {}; then {} bytes, SHA-256 {}): the saved split "
        "names lines by number, so held-out sentences and training sentences may now be mixed",
        path, model_dir, actual["bytes"].dump(), actual["sha256"].get<std::string>(), recorded.value("bytes", nlohmann::json()).dump(),
        recorded.value("sha256", nlohmann::json()).dump());
    GG_CHECK(allow_changed_data, "{}; use the original file, or --allow-changed-data to go on regardless", what);
    fmt::print(stderr, "WARNING: {}. Going on because of --allow-changed-data: scores may include training sentences.\n",
               what);
  }
}

std::vector<gg::data::EncodedPair> encode(const gg::app::Translator& t, const std::vector<SentencePair>& pairs,
                                          int64_t max_tokens) {
  auto encoded = gg::data::encode_pairs(pairs, *t.src_tokenizer, t.src_vocab, *t.tgt_tokenizer, t.tgt_vocab);
  if (max_tokens <= 0) return encoded;
  std::vector<gg::data::EncodedPair> kept;
  for (auto& p : encoded)
    if (static_cast<int64_t>(p.src.size()) <= max_tokens && static_cast<int64_t>(p.tgt.size()) <= max_tokens &&
        !p.src.empty() && !p.tgt.empty())
      kept.push_back(std::move(p));
  return kept;
}

Scores score(gg::app::Translator& t, const std::vector<SentencePair>& pairs, const gg::app::TranslateOptions& options) {
  Scores s;
  std::vector<std::string> sources, references;
  for (const auto& p : pairs) {
    sources.push_back(p.src);
    references.push_back(p.tgt);
  }
  int64_t exact = 0;
  auto translations = t.translate(sources, options);
  for (size_t i = 0; i < translations.size(); ++i) {
    s.hypotheses.push_back(translations[i].text);
    // A lowercasing model is judged against the lowercased reference.
    exact += translations[i].text == (t.config.lowercase ? gg::data::to_lower(references[i]) : references[i]);
  }
  s.exact_match = pairs.empty() ? 0 : static_cast<double>(exact) / static_cast<double>(pairs.size());
  s.bleu = gg::data::corpus_bleu(s.hypotheses, references);
  s.bleu_lowercase = gg::data::corpus_bleu(s.hypotheses, references, {.lowercase = true});
  return s;
}

void average_checkpoints(const std::string& model_dir, int64_t last, const std::string& out, bool overwrite) {
  GG_CHECK(std::filesystem::weakly_canonical(out) != std::filesystem::weakly_canonical(model_dir),
           "average: --out must be another directory than --model");
  GG_CHECK(overwrite || !std::filesystem::exists(out + "/config.json"),
           "average: {} already holds a model; replace it with --overwrite", out);
  auto t = gg::app::Translator::load(model_dir);  // the configuration, tokenizers and vocabularies
  const auto checkpoints = gg::app::list_checkpoints(model_dir);
  GG_CHECK(static_cast<int64_t>(checkpoints.size()) >= last,
           "average: --last {} but {} has {} checkpoint(s); train with --keep-checkpoints {} (or 0, all) to keep more",
           last, model_dir, checkpoints.size(), last);
  // The mean of each weight, summed in float64 so that the order of the checkpoints does not matter.
  gg::NamedTensors mean;
  std::vector<int64_t> steps;
  for (auto dir = checkpoints.end() - last; dir != checkpoints.end(); ++dir) {
    const gg::app::Checkpoint c = gg::app::load_checkpoint(*dir);
    steps.push_back(c.step);
    if (mean.empty())
      for (const auto& [name, w] : c.model) mean.emplace_back(name, gg::zeros(w.shape(), {.dtype = gg::DType::Float64}));
    GG_CHECK(c.model.size() == mean.size(), "average: {} holds other weights than the checkpoints after it", *dir);
    for (size_t i = 0; i < mean.size(); ++i) {
      GG_CHECK(c.model[i].first == mean[i].first && c.model[i].second.shape() == mean[i].second.shape(),
               "average: {} holds other weights than the checkpoints after it ('{}')", *dir, c.model[i].first);
      mean[i].second = mean[i].second + c.model[i].second.to(gg::DType::Float64);
    }
  }
  for (auto& [name, w] : mean) w = (w / static_cast<double>(last)).to(gg::DType::Float32);
  t.model->load_state_dict(mean);
  std::filesystem::create_directories(out);
  gg::DirectoryLock lock(out);
  remove_model_files(out);
  t.save(out);
  if (std::filesystem::exists(model_dir + "/split.txt"))  // eval's held-out test split
    gg::write_file_atomic(out + "/split.txt", gg::read_file(model_dir + "/split.txt"));
  fmt::print("averaged the weights of {} checkpoints (steps {} to {}) of {} into {}\n", last, steps.front(),
             steps.back(), model_dir, out);
}

void remove_model_files(const std::string& dir) {
  for (const char* name : {"config.json", "model.safetensors", "src.vocab", "tgt.vocab", "src.model", "tgt.model",
                           "split.txt", "metrics.jsonl", "loss.png", "attention.png", "checkpoints",
                           "last.safetensors", "optimizer.safetensors", "trainer.json"})  // the last three: older versions
    std::filesystem::remove_all(std::filesystem::path(dir) / name);
}

namespace {
CLI::Validator number_check(double min, bool strict) {
  return CLI::Validator(
      [=](std::string& value) -> std::string {
        try {
          size_t used = 0;
          const double x = std::stod(value, &used);
          if (used == value.size() && (strict ? x > min : x >= min)) return {};
        } catch (const std::exception&) {
        }
        return fmt::format("must be a number {} {}, got '{}'", strict ? "above" : "at least", min, value);
      },
      fmt::format("NUMBER {} {}", strict ? ">" : ">=", min));
}
}  // namespace

CLI::Validator at_least(double min) { return number_check(min, false); }
CLI::Validator above(double min) { return number_check(min, true); }

void print_attribution_if_tatoeba(const std::string& path) {
  if (path.find("tatoeba") != std::string::npos || path.find("spa.txt") != std::string::npos)
    fmt::print("data: Tatoeba sentence pairs, CC-BY 2.0, www.manythings.org/anki and tatoeba.org\n");
}

gg::Tensor attention_matrix(const gg::app::Translation& t) {
  std::vector<float> flat;
  for (const auto& row : t.attention) flat.insert(flat.end(), row.begin(), row.end());
  return gg::from_vector(flat, {static_cast<int64_t>(t.attention.size()), static_cast<int64_t>(t.source_tokens.size())});
}

std::vector<std::string> with_eos(std::vector<std::string> tokens) {
  tokens.push_back("<eos>");
  return tokens;
}

void write_attention_png(const std::string& path, const gg::app::Translation& t) {
  std::vector<float> flat;
  for (const auto& row : t.attention) flat.insert(flat.end(), row.begin(), row.end());
  gg::pictures::write_heatmap_png(path, flat, static_cast<int64_t>(t.attention.size()),
                                static_cast<int64_t>(t.source_tokens.size()), with_eos(t.target_tokens), t.source_tokens,
                                {.title = t.text});
}

}  // namespace translate_cli
