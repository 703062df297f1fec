#include "data/vocab.h"

#include <algorithm>

#include "core/error.h"
#include "data/utf8.h"

namespace gg::data {

TokenCounts count_tokens(const std::vector<std::vector<std::string>>& sentences) {
  TokenCounts counts;
  for (const auto& sentence : sentences) {
    for (const auto& token : sentence) ++counts[token];
  }
  return counts;
}

const std::vector<std::string>& Vocab::specials() {
  static const std::vector<std::string> names = {"<pad>", "<bos>", "<eos>", "<unk>"};
  return names;
}

Vocab::Vocab() {
  for (const auto& s : specials()) add(s);
}

void Vocab::add(const std::string& token) {
  ids_.emplace(token, size());
  tokens_.push_back(token);
}

Vocab Vocab::from_counts(const TokenCounts& counts, const VocabOptions& options) {
  GG_CHECK(options.min_freq >= 1, "Vocab: min_freq must be at least 1, got {}", options.min_freq);
  GG_CHECK(options.max_size == 0 || options.max_size >= num_specials,
           "Vocab: max_size {} leaves no room for the {} specials (0 means no limit)", options.max_size,
           num_specials);
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [token, count] : counts) {
    bool special = std::find(specials().begin(), specials().end(), token) != specials().end();
    if (count >= options.min_freq && !token.empty() && !special) kept.emplace_back(token, count);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_size > 0 && static_cast<int64_t>(kept.size()) > options.max_size - num_specials) {
    kept.resize(static_cast<size_t>(options.max_size - num_specials));
  }
  Vocab vocab;
  for (const auto& [token, count] : kept) vocab.add(token);
  return vocab;
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, const VocabOptions& options) {
  return from_counts(count_tokens(sentences), options);
}

Vocab Vocab::from_tokens(const std::vector<std::string>& tokens) {
  Vocab vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    GG_CHECK(!vocab.contains(tokens[i]), "Vocab::from_tokens: token {} '{}' is {}", i, tokens[i],
             is_special(vocab.id(tokens[i])) ? "a special" : "a duplicate");
    vocab.add(tokens[i]);
  }
  return vocab;
}

bool Vocab::contains(std::string_view token) const { return ids_.find(std::string(token)) != ids_.end(); }

int64_t Vocab::id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? unk_id : it->second;
}

const std::string& Vocab::token(int64_t id) const {
  GG_CHECK(id >= 0 && id < size(), "Vocab: id {} is outside the vocabulary [0, {}); hint: was the model trained "
           "with a different vocabulary?", id, size());
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens, const EncodeOptions& options) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size() + 2);
  if (options.add_bos) ids.push_back(bos_id);
  for (const auto& t : tokens) ids.push_back(id(t));
  if (options.add_eos) ids.push_back(eos_id);
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids, const DecodeOptions& options) const {
  std::vector<std::string> out;
  for (int64_t i : ids) {
    if (options.stop_at_eos && i == eos_id) break;
    if (options.strip_specials && i != unk_id && is_special(i)) continue;
    out.push_back(token(i));
  }
  return out;
}

void Vocab::save(const std::string& path) const {
  for (int64_t i = 0; i < size(); ++i) {
    GG_CHECK(tokens_[i].find_first_of("\r\n") == std::string::npos,
             "Vocab::save: token {} contains a line break and cannot be saved one per line", i);
  }
  write_lines(path, tokens_);
}

Vocab Vocab::load(const std::string& path) {
  LineReader reader(path);
  Vocab vocab;
  std::string line;
  while (reader.next(line)) {
    int64_t n = reader.line_number();
    if (n <= num_specials) {
      const auto& expected = specials()[static_cast<size_t>(n - 1)];
      GG_CHECK(line == expected, "{}: expected the special '{}' (id {}), got '{}'; hint: a vocabulary file starts "
               "with <pad>, <bos>, <eos>, <unk>", reader.where(), expected, n - 1, line);
      continue;
    }
    GG_CHECK(!line.empty(), "{}: empty token", reader.where());
    auto it = vocab.ids_.find(line);
    GG_CHECK(it == vocab.ids_.end(), "{}: duplicate token '{}' (first on line {})", reader.where(), line,
             it->second + 1);
    vocab.add(line);
  }
  GG_CHECK(reader.line_number() >= num_specials, "{}: {} lines, but a vocabulary has at least the {} specials",
           path, reader.line_number(), num_specials);
  return vocab;
}

}  // namespace gg::data
