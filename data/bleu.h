#pragma once
// Corpus BLEU (Papineni et al., 2002) exactly as sacreBLEU 2.x computes it (Post, 2018,
// "A Call for Clarity in Reporting BLEU Scores"), so a glassgrad number can be put next to a
// published one. The defaults are sacreBLEU's:
//   tokenize 13a (mteval-v13a.pl rules), mixed case, smoothing "exp" (NIST's: the k-th
//   n-gram order with no match gets precision 1 / (2^k * total)), brevity penalty, effective
//   order off, n-grams up to 4.
//
//   auto bleu = corpus_bleu(hypotheses, references);     // one reference per hypothesis
//   bleu.score                // 48.53 (0..100)
//   bleu.str()                // "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
//   bleu.signature            // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.3.1"
//
// The project's benchmark reports "lowercased corpus BLEU with punctuation split":
// corpus_bleu(h, r, {.lowercase = true}), i.e. signature case:lc|tok:13a.
//
// Each step follows sacreBLEU's code: lowercase (optional), strip trailing whitespace,
// tokenize, split on whitespace as Python's str.split() does, count n-grams clipped by the
// references (several references: the maximum count of each n-gram over them, and the
// reference length closest to the hypothesis, the shorter on ties), sum the statistics over
// the corpus, and compute the score once from the sums (BLEU.compute_bleu).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gg::data {

// The signatures mimic sacreBLEU 2.3.1 (the version on PyPI when this was written); the
// computation is the same in every 2.x release.
inline constexpr const char* kSacreBleuVersion = "2.3.1";

enum class BleuTokenizer { None, V13a };      // sacreBLEU's "none" and "13a"
enum class BleuSmooth { None, Floor, AddK, Exp };

struct BleuOptions {
  bool lowercase = false;
  BleuTokenizer tokenize = BleuTokenizer::V13a;
  BleuSmooth smooth = BleuSmooth::Exp;
  double smooth_value = -1;  // < 0: the method's default (floor 0.1, add-k 1); unused by exp and none
  int max_ngram_order = 4;
  bool effective_order = false;  // average only the orders that have n-grams (sentence-level BLEU)
};

struct BleuScore {
  double score = 0;                    // 0..100
  std::vector<double> precisions;      // percent, one per order 1..max_ngram_order
  std::vector<double> counts, totals;  // matched and hypothesis n-grams per order (add-k adds k to them)
  double bp = 0;                       // brevity penalty
  double ratio = 0;                    // hyp_len / ref_len
  int64_t hyp_len = 0, ref_len = 0;    // tokens
  std::string signature;
  std::string str() const;  // sacreBLEU's one-line format, without the signature
};

// One reference per hypothesis.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& options = {});
// Several reference streams, each as long as `hypotheses` (sacreBLEU's [[ref1 ...], [ref2 ...]]).
// An empty reference string means "no reference from this stream for this sentence".
BleuScore corpus_bleu_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& reference_streams,
                            const BleuOptions& options = {});

// The score from summed statistics, as sacreBLEU's BLEU.compute_bleu.
BleuScore compute_bleu(std::vector<double> counts, std::vector<double> totals, int64_t hyp_len, int64_t ref_len,
                       const BleuOptions& options = {});

// The mteval-v13a tokenization of one line, tokens joined by single spaces:
// "It wasn't surprising." -> "It wasn't surprising ."
std::string tokenize_13a(std::string_view line);

// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.3.1"; nrefs < 0 prints "var".
std::string bleu_signature(const BleuOptions& options, int nrefs = 1);

// sacreBLEU's handling of reference streams, shared with chrF: the non-empty references of
// each hypothesis. Throws when a stream's length differs from the hypotheses' or when a
// hypothesis has no reference. `nrefs` gets the common count, or -1 if it varies.
std::vector<std::vector<std::string>> gather_references(size_t num_hypotheses,
                                                        const std::vector<std::vector<std::string>>& streams,
                                                        std::string_view metric, int& nrefs);

}  // namespace gg::data
