#pragma once
// The properties data/corpus.h documents for every Corpus a reader returns, checked by
// fuzz_tsv and fuzz_parallel.
#include "data/corpus.h"
#include "data/utf8.h"
#include "fuzz_common.h"

namespace gg::fuzz {

inline void check_corpus(const gg::data::Corpus& corpus, const gg::data::ReadOptions& options) {
  const auto& s = corpus.summary;
  fuzz_check(s.pairs_kept == static_cast<int64_t>(corpus.pairs.size()), "pairs_kept counts the pairs");
  fuzz_check(s.lines_read == s.pairs_kept + s.skipped(), "every line is either kept or skipped");
  fuzz_check(options.skip_bad || s.skipped() == 0, "nothing is skipped without skip_bad");
  int64_t previous = -1;
  for (const auto& pair : corpus.pairs) {
    fuzz_check(!pair.src.empty() && !pair.tgt.empty(), "no side is empty");
    fuzz_check(gg::data::is_valid_utf8(pair.src) && gg::data::is_valid_utf8(pair.tgt), "both sides are UTF-8");
    fuzz_check(!options.trim || (gg::data::strip(pair.src) == pair.src && gg::data::strip(pair.tgt) == pair.tgt),
               "trimmed sides have no surrounding whitespace");
    fuzz_check(pair.index > previous && pair.index < s.lines_read, "indices are increasing line numbers");
    previous = pair.index;
  }
}

}  // namespace gg::fuzz
