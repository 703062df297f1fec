#pragma once
// chrF (Popović, 2015) and chrF++ (Popović, 2017) as sacreBLEU 2.x computes them: an
// F-beta score over character n-grams (orders 1..6, whitespace removed) and, for chrF++,
// word n-grams (orders 1..2). Character n-grams are over Unicode code points, as Python's
// str indexing. Defaults are sacreBLEU's CHRF(): char order 6, word order 0, beta 2,
// case-sensitive, whitespace ignored, effective-order averaging (eps_smoothing off).
//
//   auto chrf = corpus_chrf(hypotheses, references);
//   chrf.score        // 0..100
//   chrf.signature    // "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.3.1"
#include <string>
#include <vector>

namespace gg::data {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2 gives chrF++
  int beta = 2;        // recall weighs beta times as much as precision
  bool lowercase = false;
  bool whitespace = false;     // keep whitespace inside character n-grams
  bool eps_smoothing = false;  // chrF++.py / NLTK / Moses smoothing instead of effective order
};

struct ChrfScore {
  double score = 0;  // 0..100
  std::string name;  // "chrF2", "chrF2++"
  std::string signature;
  std::string str() const;  // "chrF2 = 59.73"
};

ChrfScore corpus_chrf(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const ChrfOptions& options = {});
// Several reference streams (see corpus_bleu_multi); per sentence the reference with the
// best F score counts, as in sacreBLEU.
ChrfScore corpus_chrf_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& reference_streams,
                            const ChrfOptions& options = {});

std::string chrf_signature(const ChrfOptions& options, int nrefs = 1);

}  // namespace gg::data
