#pragma once
// Vocab: tokens <-> ids, with four fixed specials first:
//   <pad> = 0   padding in batches (data/batch.h); losses ignore it
//   <bos> = 1   starts the decoder input
//   <eos> = 2   ends every target; decoding stops at it
//   <unk> = 3   every token not in the vocabulary
//
//   auto vocab = Vocab::build(tokenized_sentences, {.min_freq = 2, .max_size = 10000});
//   vocab.encode({"el", "perro"}, {.add_eos = true})   // {17, 342, 2}
//   vocab.decode({17, 342, 2, 0, 0})                   // {"el", "perro"}
//
// The order is deterministic: specials, then tokens by count descending, ties by token
// ascending (bytewise). The file format is one token per line, in id order, specials
// included, so line n holds id n - 1.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gg::data {

struct VocabOptions {
  int64_t min_freq = 1;  // tokens seen fewer times become <unk>
  int64_t max_size = 0;  // 0: no limit; else the whole size V, specials included
};

struct EncodeOptions {
  bool add_bos = false;
  bool add_eos = false;
};

struct DecodeOptions {
  bool strip_specials = true;  // drop <pad>, <bos>, <eos> (<unk> is kept: it stands for a word)
  bool stop_at_eos = true;     // ignore everything after the first <eos>
};

using TokenCounts = std::unordered_map<std::string, int64_t>;

// Counts of every token in tokenized sentences.
TokenCounts count_tokens(const std::vector<std::vector<std::string>>& sentences);

class Vocab {
 public:
  static constexpr int64_t pad_id = 0, bos_id = 1, eos_id = 2, unk_id = 3;
  static constexpr int64_t num_specials = 4;
  static const std::vector<std::string>& specials();  // {"<pad>", "<bos>", "<eos>", "<unk>"}

  Vocab();  // specials only
  static Vocab from_counts(const TokenCounts& counts, const VocabOptions& options = {});
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, const VocabOptions& options = {});
  // The tokens after the specials, in id order (no counting, no reordering). A token that
  // repeats or is a special is an error.
  static Vocab from_tokens(const std::vector<std::string>& tokens);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool contains(std::string_view token) const;
  int64_t id(std::string_view token) const;  // unk_id for an unknown token
  const std::string& token(int64_t id) const;  // an error outside [0, size)
  const std::vector<std::string>& tokens() const { return tokens_; }
  static bool is_special(int64_t id) { return id >= 0 && id < num_specials; }

  std::vector<int64_t> encode(const std::vector<std::string>& tokens, const EncodeOptions& options = {}) const;
  std::vector<std::string> decode(const std::vector<int64_t>& ids, const DecodeOptions& options = {}) const;

  // Load errors name the file and line: "vocab.txt:7: duplicate token 'casa' (first on line 5)".
  void save(const std::string& path) const;
  static Vocab load(const std::string& path);

  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }

 private:
  void add(const std::string& token);
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace gg::data
