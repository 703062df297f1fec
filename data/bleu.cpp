#include "data/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "core/error.h"
#include "data/utf8.h"

namespace gg::data {

// ---- tokenization ------------------------------------------------------------------------------

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out.append(to);
    start = at + from.size();
  }
  out.append(s, start, std::string::npos);
  s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The first regex of sacreBLEU's TokenizerRegexp: r'([\{-\~\[-\` -\&\(-\+\:-\@\/])', i.e.
// { | } ~  [ \ ] ^ _ `  space ! " # $ % &  ( ) * +  : ; < = > ? @  /
bool is_13a_symbol(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == 0x2F;
}

}  // namespace

// sacrebleu/tokenizers/tokenizer_13a.py and tokenizer_re.py. Python's re.sub replaces
// non-overlapping matches scanning left to right; each loop below does the same. Working on
// UTF-8 bytes instead of code points gives the same result: the patterns only test ASCII
// bytes, [^0-9] accepts any other byte, and spaces are inserted only next to ASCII bytes or
// at code point boundaries.
std::string tokenize_13a(std::string_view text) {
  std::string line(text);
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";

  std::string a;  // (1) symbols -> " c "
  for (char c : line) {
    if (is_13a_symbol(c)) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  std::string b;  // (2) ([^0-9])([\.,]) -> "\1 \2 ": period and comma unless preceded by a digit
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && (a[i + 1] == '.' || a[i + 1] == ',')) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  std::string c;  // (3) ([\.,])([^0-9]) -> " \1 \2": period and comma unless followed by a digit
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && (b[i] == '.' || b[i] == ',') && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  std::string d;  // (4) ([0-9])(-) -> "\1 \2 ": dash when preceded by a digit
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += " - ";
      i += 2;
    } else {
      d += c[i++];
    }
  }
  // ' '.join(line.strip().split())
  std::string out;
  for (const auto& token : split_whitespace(d)) {
    if (!out.empty()) out += ' ';
    out += token;
  }
  return out;
}

// ---- statistics --------------------------------------------------------------------------------

namespace {

using NgramCounts = std::unordered_map<std::string, int64_t>;

// All n-grams of orders 1..max_order, keyed by their tokens joined with spaces (tokens
// contain no whitespace), as sacreBLEU's extract_all_word_ngrams.
NgramCounts count_ngrams(const std::vector<std::string>& tokens, int max_order) {
  NgramCounts counts;
  for (int n = 1; n <= max_order; ++n) {
    for (size_t i = 0; i + n <= tokens.size(); ++i) {
      std::string key = tokens[i];
      for (int k = 1; k < n; ++k) key += ' ' + tokens[i + k];
      ++counts[key];
    }
  }
  return counts;
}

int order_of(const std::string& key) { return 1 + static_cast<int>(std::count(key.begin(), key.end(), ' ')); }

std::vector<std::string> preprocess(const std::string& sentence, const BleuOptions& options) {
  check_utf8(sentence, "corpus_bleu");
  std::string s = options.lowercase ? to_lower(sentence) : sentence;
  std::string_view trimmed = rstrip(s);
  std::string tokenized = options.tokenize == BleuTokenizer::V13a ? tokenize_13a(trimmed) : std::string(trimmed);
  return split_whitespace(tokenized);
}

double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }  // sacrebleu.utils.my_log

double default_smooth_value(const BleuOptions& o) {
  if (o.smooth_value >= 0) return o.smooth_value;
  return o.smooth == BleuSmooth::Floor ? 0.1 : o.smooth == BleuSmooth::AddK ? 1.0 : 0.0;
}

}  // namespace

std::vector<std::vector<std::string>> gather_references(size_t num_hypotheses,
                                                        const std::vector<std::vector<std::string>>& streams,
                                                        std::string_view metric, int& nrefs) {
  GG_CHECK(num_hypotheses > 0, "{}: no hypotheses", metric);
  GG_CHECK(!streams.empty(), "{}: no references", metric);
  for (size_t k = 0; k < streams.size(); ++k) {
    GG_CHECK(streams[k].size() == num_hypotheses, "{}: {} hypotheses but reference stream {} has {} sentences",
             metric, num_hypotheses, k, streams[k].size());
  }
  std::vector<std::vector<std::string>> refs(num_hypotheses);
  nrefs = 0;
  for (size_t i = 0; i < num_hypotheses; ++i) {
    for (const auto& stream : streams) {
      if (!stream[i].empty()) refs[i].push_back(stream[i]);
    }
    GG_CHECK(!refs[i].empty(), "{}: sentence {} has an empty reference (sacreBLEU refuses those too)", metric, i);
    int n = static_cast<int>(refs[i].size());
    nrefs = (i == 0 || nrefs == n) ? n : -1;
  }
  return refs;
}

std::string bleu_signature(const BleuOptions& o, int nrefs) {
  std::string smooth = o.smooth == BleuSmooth::None    ? "none"
                       : o.smooth == BleuSmooth::Floor ? fmt::format("floor[{:.2f}]", default_smooth_value(o))
                       : o.smooth == BleuSmooth::AddK  ? fmt::format("add-k[{:.2f}]", default_smooth_value(o))
                                                       : "exp";
  return fmt::format("nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:{}",
                     nrefs < 0 ? "var" : std::to_string(nrefs), o.lowercase ? "lc" : "mixed",
                     o.effective_order ? "yes" : "no", o.tokenize == BleuTokenizer::V13a ? "13a" : "none", smooth,
                     kSacreBleuVersion);
}

BleuScore compute_bleu(std::vector<double> counts, std::vector<double> totals, int64_t hyp_len, int64_t ref_len,
                       const BleuOptions& options) {
  const int N = options.max_ngram_order;
  GG_CHECK(N >= 1, "compute_bleu: max_ngram_order must be at least 1, got {}", N);
  GG_CHECK(static_cast<int>(counts.size()) == N && static_cast<int>(totals.size()) == N,
           "compute_bleu: expected {} counts and totals (max_ngram_order), got {} and {}", N, counts.size(),
           totals.size());
  BleuScore s;
  s.hyp_len = hyp_len;
  s.ref_len = ref_len;
  s.ratio = ref_len > 0 ? static_cast<double>(hyp_len) / static_cast<double>(ref_len) : 0.0;
  if (hyp_len < ref_len) {
    s.bp = hyp_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(hyp_len)) : 0.0;
  } else {
    s.bp = 1.0;
  }
  s.precisions.assign(N, 0.0);
  if (std::all_of(counts.begin(), counts.end(), [](double c) { return c == 0; })) {  // sacreBLEU #141
    s.counts = std::move(counts);
    s.totals = std::move(totals);
    return s;
  }
  double k = default_smooth_value(options);
  double smooth_mteval = 1.0;
  int eff_order = N;
  for (int n = 1; n <= N; ++n) {
    if (options.smooth == BleuSmooth::AddK && n > 1) {
      counts[n - 1] += k;
      totals[n - 1] += k;
    }
    if (totals[n - 1] == 0) break;
    if (options.effective_order) eff_order = n;
    if (counts[n - 1] == 0) {
      if (options.smooth == BleuSmooth::Exp) {
        smooth_mteval *= 2;
        s.precisions[n - 1] = 100.0 / (smooth_mteval * totals[n - 1]);
      } else if (options.smooth == BleuSmooth::Floor) {
        s.precisions[n - 1] = 100.0 * k / totals[n - 1];
      }
    } else {
      s.precisions[n - 1] = 100.0 * counts[n - 1] / totals[n - 1];
    }
  }
  double log_sum = 0;
  for (int n = 0; n < eff_order; ++n) log_sum += my_log(s.precisions[n]);
  s.score = s.bp * std::exp(log_sum / eff_order);
  s.counts = std::move(counts);
  s.totals = std::move(totals);
  return s;
}

BleuScore corpus_bleu_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& reference_streams,
                            const BleuOptions& options) {
  const int N = options.max_ngram_order;
  GG_CHECK(N >= 1, "corpus_bleu: max_ngram_order must be at least 1, got {}", N);
  int nrefs = 0;
  auto refs = gather_references(hypotheses.size(), reference_streams, "corpus_bleu", nrefs);
  std::vector<double> counts(N, 0.0), totals(N, 0.0);
  int64_t hyp_len = 0, ref_len = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    NgramCounts ref_ngrams;
    std::vector<int64_t> ref_lens;
    for (const auto& ref : refs[i]) {
      auto tokens = preprocess(ref, options);
      ref_lens.push_back(static_cast<int64_t>(tokens.size()));
      for (const auto& [ngram, count] : count_ngrams(tokens, N)) {
        auto& best = ref_ngrams[ngram];
        best = std::max(best, count);
      }
    }
    auto hyp_tokens = preprocess(hypotheses[i], options);
    auto len = static_cast<int64_t>(hyp_tokens.size());
    // The closest reference length; the shorter one on a tie.
    int64_t closest = -1, closest_diff = -1;
    for (int64_t r : ref_lens) {
      int64_t diff = std::abs(len - r);
      if (closest_diff == -1 || diff < closest_diff || (diff == closest_diff && r < closest)) {
        closest_diff = diff;
        closest = r;
      }
    }
    hyp_len += len;
    ref_len += closest;
    for (const auto& [ngram, count] : count_ngrams(hyp_tokens, N)) {
      int n = order_of(ngram);
      totals[n - 1] += static_cast<double>(count);
      auto it = ref_ngrams.find(ngram);
      if (it != ref_ngrams.end()) counts[n - 1] += static_cast<double>(std::min(count, it->second));
    }
  }
  BleuScore score = compute_bleu(std::move(counts), std::move(totals), hyp_len, ref_len, options);
  score.signature = bleu_signature(options, nrefs);
  return score;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& options) {
  return corpus_bleu_multi(hypotheses, {references}, options);
}

std::string BleuScore::str() const {
  std::string prec;
  for (double p : precisions) prec += fmt::format("{}{:.1f}", prec.empty() ? "" : "/", p);
  return fmt::format("BLEU = {:.2f} {} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})", score, prec, bp,
                     ratio, hyp_len, ref_len);
}

}  // namespace gg::data
