// corpus_chrf_multi (data/chrf.h) on arbitrary text. Input: one byte of options, then lines
// in groups of 1 + R: a hypothesis and its R references (R = 1 + bits 6-7 % 3); an incomplete
// last group is dropped.
//   bit 0: lowercase   bit 1: chrF++ (word order 2)   bit 2: whitespace   bit 3: eps smoothing
//   bits 4-5: char order 6, 1, 2 or 0
// Invalid UTF-8, no hypotheses and empty references are a gg::Error; a score is in [0, 100].
#include "core/error.h"
#include "data/chrf.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t bits = data[0];
  const int char_orders[] = {6, 1, 2, 0};
  const gg::data::ChrfOptions options{.char_order = char_orders[(bits >> 4) & 3],
                                      .word_order = (bits & 2) ? 2 : 0,
                                      .lowercase = (bits & 1) != 0,
                                      .whitespace = (bits & 4) != 0,
                                      .eps_smoothing = (bits & 8) != 0};
  const size_t refs = 1 + (bits >> 6) % 3;
  const auto in = gg::fuzz::group_lines(gg::fuzz::split_lines(gg::fuzz::text_after_options(data, size)), refs);
  try {
    const auto chrf = gg::data::corpus_chrf_multi(in.hypotheses, in.references, options);
    fuzz_check(chrf.score >= 0 && chrf.score <= 100 + 1e-9, "chrF is in [0, 100]");
    (void)chrf.str();
  } catch (const gg::Error&) {
  }
  return 0;
}
