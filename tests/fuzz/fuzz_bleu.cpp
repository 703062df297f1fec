// corpus_bleu_multi (data/bleu.h) on arbitrary text. Input: one byte of options, then lines
// in groups of 1 + R: a hypothesis and its R references (R = 1 + bits 6-7 % 3); an incomplete
// last group is dropped.
//   bit 0: lowercase   bit 1: tokenize none   bits 2-3: smoothing   bit 4: effective order
//   bit 5: max n-gram order 2 instead of 4
// Invalid UTF-8, no hypotheses and empty references are a gg::Error; a score is in [0, 100],
// the brevity penalty in [0, 1], and tokenize_13a of any UTF-8 line is its tokens joined by
// single spaces.
#include <cmath>

#include "core/error.h"
#include "data/bleu.h"
#include "data/utf8.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t bits = data[0];
  const gg::data::BleuOptions options{
      .lowercase = (bits & 1) != 0,
      .tokenize = (bits & 2) ? gg::data::BleuTokenizer::None : gg::data::BleuTokenizer::V13a,
      .smooth = static_cast<gg::data::BleuSmooth>((bits >> 2) & 3),
      .max_ngram_order = (bits & 0x20) ? 2 : 4,
      .effective_order = (bits & 0x10) != 0};
  const size_t refs = 1 + (bits >> 6) % 3;
  const auto lines = gg::fuzz::split_lines(gg::fuzz::text_after_options(data, size));
  const auto in = gg::fuzz::group_lines(lines, refs);
  try {
    const auto bleu = gg::data::corpus_bleu_multi(in.hypotheses, in.references, options);
    fuzz_check(bleu.score >= 0 && bleu.score <= 100 + 1e-9, "BLEU is in [0, 100]");
    fuzz_check(bleu.bp >= 0 && bleu.bp <= 1, "the brevity penalty is in [0, 1]");
    (void)bleu.str();
  } catch (const gg::Error&) {
  }
  for (const auto& line : lines) {
    if (!gg::data::is_valid_utf8(line)) continue;
    const std::string tokenized = gg::data::tokenize_13a(line);
    std::string joined;
    for (const auto& token : gg::data::split_whitespace(tokenized)) joined += (joined.empty() ? "" : " ") + token;
    fuzz_check(tokenized == joined, "tokenize_13a joins its tokens with single spaces");
  }
  return 0;
}
