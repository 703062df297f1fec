#pragma once
// Parallel corpora: sentence pairs read from a TSV file or from two line-aligned files,
// and train/valid/test splits that remember which lines went where.
//
//   auto corpus = read_tsv("spa.txt", /*src_col=*/2, /*tgt_col=*/1);   // Spanish -> English
//   Split split = split_by_index_mod(corpus.pairs);                   // test: i % 50 == 0, valid: i % 50 == 1
//   save_split(split, "split.txt");
//   auto parts = apply_split(corpus.pairs, split);                    // parts.train, parts.valid, parts.test
//
// Every pair keeps `index`, the 0-based line number in its file; splits are lists of those
// indices, so a split saved once keeps evaluation away from training lines even if the
// corpus is later read with different options.
//
// Bad lines (a missing column, an empty side, invalid UTF-8, files of different lengths)
// are a gg::Error naming file and line, "spa.txt:77: no column 2 (the line has 1 column)",
// or with {.skip_bad = true} are skipped and counted in the ReadSummary.
#include <cstdint>
#include <string>
#include <vector>

namespace gg::data {

struct SentencePair {
  std::string src, tgt;
  int64_t index = 0;  // 0-based line of the pair in its file (or its position when generated)
};

struct ReadOptions {
  bool skip_bad = false;  // skip and count bad lines instead of throwing
  bool trim = true;       // strip surrounding whitespace from each side
};

struct ReadSummary {
  int64_t lines_read = 0;
  int64_t pairs_kept = 0;
  int64_t skipped_missing_column = 0;
  int64_t skipped_empty = 0;          // a side empty (after trimming)
  int64_t skipped_invalid_utf8 = 0;
  int64_t skipped_unpaired = 0;       // read_parallel: lines past the end of the shorter file
  int64_t skipped() const {
    return skipped_missing_column + skipped_empty + skipped_invalid_utf8 + skipped_unpaired;
  }
  std::string str() const;  // "118964 lines, 118964 pairs kept, 0 skipped"
};

struct Corpus {
  std::vector<SentencePair> pairs;
  ReadSummary summary;
};

// Columns are 1-based and tab-separated. Tatoeba's spa.txt (English<TAB>Spanish[<TAB>attribution])
// read as Spanish -> English is read_tsv(path, 2, 1).
Corpus read_tsv(const std::string& path, int src_col, int tgt_col, const ReadOptions& options = {});
// Line i of src_path pairs with line i of tgt_path (train.de + train.en).
Corpus read_parallel(const std::string& src_path, const std::string& tgt_path, const ReadOptions& options = {});

// ---- splits -----------------------------------------------------------------------------------

// Lists of pair indices (SentencePair::index), each sorted ascending.
struct Split {
  std::vector<int64_t> train, valid, test;
  bool operator==(const Split&) const = default;
};

struct ModSplitOptions {
  int64_t modulus = 50;
  int64_t test_residue = 0;
  int64_t valid_residue = 1;
};

// The benchmark's split: index i goes to test when i % modulus == test_residue, to valid when
// i % modulus == valid_residue, to train otherwise. Needs no seed and no state.
Split split_by_index_mod(const std::vector<SentencePair>& pairs, const ModSplitOptions& options = {});

struct RandomSplitOptions {
  double valid_fraction = 0.05;
  double test_fraction = 0.05;
  uint64_t seed = 0;
};

// A seeded shuffle, then the first round(test_fraction * N) pairs to test, the next
// round(valid_fraction * N) to valid, the rest to train.
Split split_random(const std::vector<SentencePair>& pairs, const RandomSplitOptions& options = {});

// Text file: a header line "train 114204", then that many indices one per line; the same for
// "valid" and "test". Load errors name the file and line.
void save_split(const Split& split, const std::string& path);
Split load_split(const std::string& path);

struct SplitPairs {
  std::vector<SentencePair> train, valid, test;
};

// The pairs of each part, in index order. An index that no pair has is an error (the split
// belongs to another corpus).
SplitPairs apply_split(const std::vector<SentencePair>& pairs, const Split& split);

}  // namespace gg::data
