#include "data/chrf.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "core/error.h"
#include "data/bleu.h"
#include "data/utf8.h"

namespace gg::data {

namespace {

// One counter per order; character n-grams as code point strings, word n-grams as their
// words joined by spaces (encoded to u32 too, so one map type serves both).
using Counter = std::unordered_map<std::u32string, int64_t>;

// sacrebleu.metrics.helpers.extract_all_char_ngrams
std::vector<Counter> char_ngrams(const std::string& line, int max_order, bool whitespace) {
  std::u32string s;
  for (char32_t c : decode_utf8(line, "corpus_chrf")) {
    if (whitespace || !is_space(c)) s.push_back(c);  // "".join(line.split())
  }
  std::vector<Counter> counters(max_order);
  for (int n = 1; n <= max_order; ++n) {
    for (size_t i = 0; i + n <= s.size(); ++i) ++counters[n - 1][s.substr(i, n)];
  }
  return counters;
}

// CHRF._remove_punctuation: a word longer than one character loses one trailing or (else)
// one leading mark of string.punctuation into a token of its own.
std::vector<std::u32string> words_without_punctuation(const std::string& line) {
  auto is_punct = [](char32_t c) { return c < 0x80 && c > 0x20 && !std::isalnum(static_cast<int>(c)) && c != 0x7F; };
  std::vector<std::u32string> out;
  for (const auto& word : split_whitespace(line)) {
    std::u32string w = decode_utf8(word, "corpus_chrf");
    if (w.size() == 1) {
      out.push_back(w);
    } else if (is_punct(w.back())) {
      out.push_back(w.substr(0, w.size() - 1));
      out.push_back(w.substr(w.size() - 1));
    } else if (is_punct(w.front())) {
      out.push_back(w.substr(0, 1));
      out.push_back(w.substr(1));
    } else {
      out.push_back(w);
    }
  }
  return out;
}

// sacrebleu.metrics.helpers.extract_word_ngrams
Counter word_ngrams(const std::vector<std::u32string>& words, int n) {
  Counter counts;
  for (size_t i = 0; i + n <= words.size(); ++i) {
    std::u32string key = words[i];
    for (int k = 1; k < n; ++k) key += U' ' + words[i + k];
    ++counts[key];
  }
  return counts;
}

std::vector<Counter> all_ngrams(const std::string& line, const ChrfOptions& o) {
  auto counters = char_ngrams(line, o.char_order, o.whitespace);
  if (o.word_order > 0) {
    auto words = words_without_punctuation(line);
    for (int n = 1; n <= o.word_order; ++n) counters.push_back(word_ngrams(words, n));
  }
  return counters;
}

// CHRF._get_match_statistics: [hypothesis n-grams, reference n-grams, matches] for one order.
void match_statistics(const Counter& hyp, const Counter& ref, std::vector<int64_t>& stats) {
  int64_t matches = 0, hyp_count = 0, ref_count = 0;
  for (const auto& [ngram, count] : hyp) {
    hyp_count += count;
    auto it = ref.find(ngram);
    if (it != ref.end()) matches += std::min(count, it->second);
  }
  for (const auto& [ngram, count] : ref) ref_count += count;
  stats.push_back(ref.empty() ? 0 : hyp_count);  // no hits counted without a reference n-gram
  stats.push_back(ref_count);
  stats.push_back(matches);
}

// CHRF._compute_f_score
double f_score(const std::vector<int64_t>& stats, const ChrfOptions& o) {
  const double eps = 1e-16;
  const double factor = static_cast<double>(o.beta) * o.beta;
  const int order = o.char_order + o.word_order;
  double score = 0, avg_prec = 0, avg_rec = 0;
  int effective_order = 0;
  for (int i = 0; i < order; ++i) {
    auto n_hyp = static_cast<double>(stats[3 * i]), n_ref = static_cast<double>(stats[3 * i + 1]);
    auto n_match = static_cast<double>(stats[3 * i + 2]);
    double prec = n_hyp > 0 ? n_match / n_hyp : eps;
    double rec = n_ref > 0 ? n_match / n_ref : eps;
    double denom = factor * prec + rec;
    score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (o.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = avg_rec = 0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec == 0) return 0.0;
  return 100 * ((1 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec));
}

}  // namespace

std::string chrf_signature(const ChrfOptions& o, int nrefs) {
  return fmt::format("nrefs:{}|case:{}|eff:{}|nc:{}|nw:{}|space:{}|version:{}",
                     nrefs < 0 ? "var" : std::to_string(nrefs), o.lowercase ? "lc" : "mixed",
                     o.eps_smoothing ? "no" : "yes", o.char_order, o.word_order, o.whitespace ? "yes" : "no",
                     kSacreBleuVersion);
}

ChrfScore corpus_chrf_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& reference_streams,
                            const ChrfOptions& options) {
  GG_CHECK(options.char_order >= 0 && options.word_order >= 0 && options.char_order + options.word_order >= 1,
           "corpus_chrf: need char_order + word_order >= 1, got {} and {}", options.char_order, options.word_order);
  GG_CHECK(options.beta >= 1, "corpus_chrf: beta must be at least 1, got {}", options.beta);
  int nrefs = 0;
  auto refs = gather_references(hypotheses.size(), reference_streams, "corpus_chrf", nrefs);
  auto prep = [&](const std::string& s) {
    check_utf8(s, "corpus_chrf");
    return options.lowercase ? to_lower(s) : s;
  };
  const size_t order = static_cast<size_t>(options.char_order + options.word_order);
  std::vector<int64_t> total(3 * order, 0);
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    auto hyp = all_ngrams(prep(hypotheses[i]), options);
    std::vector<int64_t> best;
    double best_f = -1.0;
    for (const auto& ref_text : refs[i]) {
      auto ref = all_ngrams(prep(ref_text), options);
      std::vector<int64_t> stats;
      for (size_t k = 0; k < order; ++k) match_statistics(hyp[k], ref[k], stats);
      double f = f_score(stats, options);
      if (f > best_f) {
        best_f = f;
        best = std::move(stats);
      }
    }
    for (size_t k = 0; k < total.size(); ++k) total[k] += best[k];
  }
  ChrfScore score;
  score.score = f_score(total, options);
  score.name = fmt::format("chrF{}{}", options.beta, std::string(static_cast<size_t>(options.word_order), '+'));
  score.signature = chrf_signature(options, nrefs);
  return score;
}

ChrfScore corpus_chrf(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const ChrfOptions& options) {
  return corpus_chrf_multi(hypotheses, {references}, options);
}

std::string ChrfScore::str() const { return fmt::format("{} = {:.2f}", name, score); }

}  // namespace gg::data
