// WordTokenizer and CharTokenizer (data/tokenizer.h) on arbitrary text. Input: one byte of
// options (bit 0: lowercase), then the text. Invalid UTF-8 is a gg::Error. Otherwise:
//   - CharTokenizer gives one token per code point and detokenize concatenates them, so
//     detokenize(encode(s)) is s (lowercased with the option);
//   - WordTokenizer splits on whitespace and cuts punctuation off, so every token is
//     non-empty, UTF-8 and free of whitespace, and detokenizing never throws.
#include "core/error.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool lowercase = (data[0] & 1) != 0;
  const std::string_view text = gg::fuzz::text_after_options(data, size);
  try {
    const gg::data::CharTokenizer chars({.lowercase = lowercase});
    const auto cps = chars.encode(text);
    fuzz_check(cps.size() == gg::data::utf8_length(text), "one char token per code point");
    fuzz_check(chars.detokenize(cps) == (lowercase ? gg::data::to_lower(text) : std::string(text)),
               "CharTokenizer: detokenize(encode(s)) == s");

    const gg::data::WordTokenizer words({.lowercase = lowercase});
    const auto tokens = words.encode(text);
    for (const auto& t : tokens) {
      fuzz_check(!t.empty() && gg::data::is_valid_utf8(t), "word tokens are non-empty UTF-8");
      fuzz_check(gg::data::split_whitespace(t).size() == 1, "word tokens hold no whitespace");
    }
    (void)words.detokenize(tokens);
  } catch (const gg::Error&) {
    fuzz_check(!gg::data::is_valid_utf8(text), "only invalid UTF-8 is an error");
  }
  return 0;
}
