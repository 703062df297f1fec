#pragma once
// What the translate subcommands share: reading corpora, building vocabularies, encoding.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/bleu.h"
#include "data/corpus.h"
#include "app/translator.h"

namespace translate_cli {

struct DataOptions {
  std::string tsv;  // --data
  int src_col = 1, tgt_col = 2;
  std::string train_src, train_tgt, valid_src, valid_tgt, test_src, test_tgt;
  bool skip_bad = false;
  int split_mod = 0;  // > 0: line i is test when i % m == 0, valid when i % m == 1 (else a seeded random split)
  uint64_t seed = 0;
};

struct Splits {
  gg::data::SplitPairs pairs;
  nlohmann::json description;  // saved in config.json: where the data came from and how it was split
  gg::data::Split split;       // line indices (TSV or train files without given valid/test)
  bool has_split = false;
};

Splits load_splits(const DataOptions& o);
// The train, valid and test pairs of a trained model, read again from the data files and split
// it recorded (translate eval, train --resume), after checking the files are unchanged.
gg::data::SplitPairs saved_pairs(const gg::app::Translator& t, const std::string& model_dir, bool allow_changed_data);

// Data files are recorded in config.json with their size and SHA-256 ("data_files"); a file that
// changed afterwards is an error (its saved split names lines by number), or with
// allow_changed_data a loud warning.
void record_data_file(nlohmann::json& description, const std::string& path);
void check_data_unchanged(const nlohmann::json& description, bool allow_changed_data, const std::string& model_dir);

// Drops pairs whose sides are longer than max_tokens tokens (0 keeps all).
std::vector<gg::data::EncodedPair> encode(const gg::app::Translator& t, const std::vector<gg::data::SentencePair>& pairs,
                                          int64_t max_tokens = 0);

// Exact-match accuracy and corpus BLEU of greedy (or beam) translations against the references.
struct Scores {
  double exact_match = 0;
  gg::data::BleuScore bleu, bleu_lowercase;
  std::vector<std::string> hypotheses;
};
Scores score(gg::app::Translator& t, const std::vector<gg::data::SentencePair>& pairs,
             const gg::app::TranslateOptions& options);

void print_attribution_if_tatoeba(const std::string& path);

// Option checks whose message a user reads at once: "--epochs: must be a number at least 1, got '-1'".
CLI::Validator at_least(double min);
CLI::Validator above(double min);

// What `translate train` writes into a model directory: --overwrite removes these, and only these.
void remove_model_files(const std::string& dir);

// translate average, and train --average-last: the mean of the weights of the last `last`
// checkpoints of model_dir, written as the model directory `out`.
void average_checkpoints(const std::string& model_dir, int64_t last, const std::string& out, bool overwrite);

// A translation's attention as a [target tokens + <eos>, source tokens] tensor, and the row labels.
gg::Tensor attention_matrix(const gg::app::Translation& t);
std::vector<std::string> with_eos(std::vector<std::string> tokens);
// The attention picture of one translation, as a PNG.
void write_attention_png(const std::string& path, const gg::app::Translation& t);

}  // namespace translate_cli
