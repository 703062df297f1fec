#include "data/corpus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "core/error.h"
#include "core/random.h"
#include "data/utf8.h"

namespace gg::data {

std::string ReadSummary::str() const {
  std::string s = fmt::format("{} lines, {} pairs kept, {} skipped", lines_read, pairs_kept, skipped());
  if (skipped() > 0) {
    s += fmt::format(" (missing column {}, empty side {}, invalid UTF-8 {}, unpaired {})", skipped_missing_column,
                     skipped_empty, skipped_invalid_utf8, skipped_unpaired);
  }
  return s;
}

namespace {

std::string plural(int64_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> cols;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    cols.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return cols;
    start = tab + 1;
  }
}

// Reports one bad line: throws, or counts it when skipping.
void bad_line(const ReadOptions& options, int64_t& counter, const std::string& message) {
  if (!options.skip_bad) throw Error(message);
  ++counter;
}

// False (after throwing or counting) when `line` is not valid UTF-8.
bool valid_line(Corpus& corpus, const std::string& line, const LineReader& reader, const ReadOptions& options) {
  if (!find_invalid_utf8(line)) return true;
  if (!options.skip_bad) check_utf8(line, reader.where());  // throws with the byte
  ++corpus.summary.skipped_invalid_utf8;
  return false;
}

// Adds the pair unless a side is empty; `where_src` / `where_tgt` name the file and line of
// each side for messages.
void add_pair(Corpus& corpus, std::string_view src, std::string_view tgt, int64_t index, const ReadOptions& options,
              const std::string& where_src, const std::string& where_tgt, const std::string& src_what,
              const std::string& tgt_what) {
  if (options.trim) {
    src = strip(src);
    tgt = strip(tgt);
  }
  if (src.empty() || tgt.empty()) {
    bool src_empty = src.empty();
    bad_line(options, corpus.summary.skipped_empty,
             fmt::format("{}: empty {}", src_empty ? where_src : where_tgt, src_empty ? src_what : tgt_what));
    return;
  }
  corpus.pairs.push_back({std::string(src), std::string(tgt), index});
  ++corpus.summary.pairs_kept;
}

}  // namespace

Corpus read_tsv(const std::string& path, int src_col, int tgt_col, const ReadOptions& options) {
  GG_CHECK(src_col >= 1 && tgt_col >= 1 && src_col != tgt_col,
           "read_tsv: columns are 1-based and distinct, got src_col {} and tgt_col {}", src_col, tgt_col);
  LineReader reader(path, /*validate_utf8=*/false);
  Corpus corpus;
  std::string line;
  int needed = std::max(src_col, tgt_col);
  const std::string src_what = fmt::format("source (column {})", src_col);
  const std::string tgt_what = fmt::format("target (column {})", tgt_col);
  while (reader.next(line)) {
    ++corpus.summary.lines_read;
    if (!valid_line(corpus, line, reader, options)) continue;
    auto cols = split_tabs(line);
    int64_t have = static_cast<int64_t>(cols.size());
    if (have < needed) {
      bad_line(options, corpus.summary.skipped_missing_column,
               fmt::format("{}: no column {} (the line has {}); hint: columns are separated by tabs and numbered "
                           "from 1",
                           reader.where(), needed, plural(have, "column")));
      continue;
    }
    std::string where = reader.where();
    add_pair(corpus, cols[src_col - 1], cols[tgt_col - 1], reader.line_number() - 1, options, where, where,
             src_what, tgt_what);
  }
  return corpus;
}

Corpus read_parallel(const std::string& src_path, const std::string& tgt_path, const ReadOptions& options) {
  LineReader src_reader(src_path, false), tgt_reader(tgt_path, false);
  Corpus corpus;
  std::string src, tgt;
  while (true) {
    bool has_src = src_reader.next(src), has_tgt = tgt_reader.next(tgt);
    if (!has_src && !has_tgt) break;
    ++corpus.summary.lines_read;
    if (has_src != has_tgt) {
      const LineReader& longer = has_src ? src_reader : tgt_reader;
      const LineReader& shorter = has_src ? tgt_reader : src_reader;
      bad_line(options, corpus.summary.skipped_unpaired,
               fmt::format("{}: {} ended after {}; the files must be line-aligned", longer.where(), shorter.path(),
                           plural(shorter.line_number(), "line")));
      continue;
    }
    if (!valid_line(corpus, src, src_reader, options) || !valid_line(corpus, tgt, tgt_reader, options)) continue;
    add_pair(corpus, src, tgt, src_reader.line_number() - 1, options, src_reader.where(), tgt_reader.where(),
             "source", "target");
  }
  return corpus;
}

// ---- splits -----------------------------------------------------------------------------------

Split split_by_index_mod(const std::vector<SentencePair>& pairs, const ModSplitOptions& options) {
  auto m = options.modulus;
  GG_CHECK(m >= 2, "split_by_index_mod: modulus must be at least 2, got {}", m);
  GG_CHECK(options.test_residue >= 0 && options.test_residue < m && options.valid_residue >= 0 &&
               options.valid_residue < m && options.test_residue != options.valid_residue,
           "split_by_index_mod: residues must be distinct and in [0, {}), got test {} and valid {}", m,
           options.test_residue, options.valid_residue);
  Split split;
  for (const auto& p : pairs) {
    GG_CHECK(p.index >= 0, "split_by_index_mod: negative pair index {}", p.index);
    int64_t r = p.index % m;
    auto& part = r == options.test_residue ? split.test : r == options.valid_residue ? split.valid : split.train;
    part.push_back(p.index);
  }
  for (auto* part : {&split.train, &split.valid, &split.test}) std::sort(part->begin(), part->end());
  return split;
}

Split split_random(const std::vector<SentencePair>& pairs, const RandomSplitOptions& options) {
  double vf = options.valid_fraction, tf = options.test_fraction;
  GG_CHECK(vf >= 0 && tf >= 0 && vf + tf <= 1, "split_random: fractions must be >= 0 and sum to at most 1, got "
           "valid {} and test {}", vf, tf);
  std::vector<int64_t> order(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) order[i] = pairs[i].index;
  Generator gen(options.seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  auto n = static_cast<double>(order.size());
  auto n_test = static_cast<size_t>(std::llround(tf * n));
  auto n_valid = std::min(static_cast<size_t>(std::llround(vf * n)), order.size() - n_test);
  Split split;
  split.test.assign(order.begin(), order.begin() + n_test);
  split.valid.assign(order.begin() + n_test, order.begin() + n_test + n_valid);
  split.train.assign(order.begin() + n_test + n_valid, order.end());
  for (auto* part : {&split.train, &split.valid, &split.test}) std::sort(part->begin(), part->end());
  return split;
}

namespace {
const char* const kPartNames[] = {"train", "valid", "test"};
}

void save_split(const Split& split, const std::string& path) {
  std::vector<std::string> lines;
  const std::vector<int64_t>* parts[] = {&split.train, &split.valid, &split.test};
  for (int k = 0; k < 3; ++k) {
    lines.push_back(fmt::format("{} {}", kPartNames[k], parts[k]->size()));
    for (int64_t i : *parts[k]) lines.push_back(std::to_string(i));
  }
  write_lines(path, lines);
}

Split load_split(const std::string& path) {
  LineReader reader(path);
  Split split;
  std::vector<int64_t>* parts[] = {&split.train, &split.valid, &split.test};
  std::unordered_map<int64_t, int> owner;  // index -> part, to refuse overlaps
  std::string line;
  auto parse_int = [&](std::string_view s, const char* what) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    GG_CHECK(ec == std::errc() && end == s.data() + s.size() && value >= 0, "{}: expected {}, got '{}'",
             reader.where(), what, s);
    return value;
  };
  for (int k = 0; k < 3; ++k) {
    std::string header = std::string(kPartNames[k]) + " ";
    GG_CHECK(reader.next(line), "{}: ends before the '{}' part", path, kPartNames[k]);
    GG_CHECK(line.starts_with(header), "{}: expected '{}<count>', got '{}'", reader.where(), header, line);
    int64_t count = parse_int(std::string_view(line).substr(header.size()), "a count");
    for (int64_t j = 0; j < count; ++j) {
      GG_CHECK(reader.next(line), "{}: ends inside '{}' after {} of {} indices", path, kPartNames[k], j, count);
      int64_t index = parse_int(line, "an index");
      auto [it, fresh] = owner.emplace(index, k);
      GG_CHECK(fresh, "{}: index {} is already in '{}'", reader.where(), index, kPartNames[it->second]);
      parts[k]->push_back(index);
    }
  }
  GG_CHECK(!reader.next(line), "{}: unexpected line after the 'test' part: '{}'", reader.where(), line);
  return split;
}

SplitPairs apply_split(const std::vector<SentencePair>& pairs, const Split& split) {
  std::unordered_map<int64_t, size_t> position;
  for (size_t i = 0; i < pairs.size(); ++i) {
    auto [it, fresh] = position.emplace(pairs[i].index, i);
    GG_CHECK(fresh, "apply_split: pairs {} and {} share the index {}", it->second, i, pairs[i].index);
  }
  SplitPairs out;
  auto take = [&](const std::vector<int64_t>& indices, std::vector<SentencePair>& dst, const char* name) {
    dst.reserve(indices.size());
    for (int64_t index : indices) {
      auto it = position.find(index);
      GG_CHECK(it != position.end(), "apply_split: the '{}' part has index {} but no pair does; hint: the split "
               "was made for another corpus or other read options", name, index);
      dst.push_back(pairs[it->second]);
    }
  };
  take(split.train, out.train, "train");
  take(split.valid, out.valid, "valid");
  take(split.test, out.test, "test");
  return out;
}

}  // namespace gg::data
