// data/utf8.h on arbitrary bytes. The validators agree with each other; valid text decodes
// and encodes back to itself, code point by code point; invalid text throws gg::Error from
// every decoding function, and the bytes before the reported offset are valid. The first
// four bytes, read as a code point, go through append_utf8 and back.
#include <cstring>

#include "core/error.h"
#include "data/utf8.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

namespace {

template <class F>
bool throws_error(F f) {
  try {
    f();
  } catch (const gg::Error&) {
    return true;
  }
  return false;
}

void check_valid(std::string_view text) {
  const std::u32string cps = gg::data::decode_utf8(text);
  fuzz_check(gg::data::encode_utf8(cps) == text, "encode_utf8(decode_utf8(s)) == s");
  fuzz_check(gg::data::utf8_length(text) == cps.size(), "utf8_length counts the code points");
  std::string joined;
  for (const auto& piece : gg::data::split_code_points(text)) joined += piece;
  fuzz_check(joined == text, "split_code_points joins back to the text");
  const std::string lower = gg::data::to_lower(text);
  fuzz_check(gg::data::utf8_length(lower) == cps.size(), "to_lower keeps one code point per code point");
  for (const auto& word : gg::data::split_whitespace(text)) {
    fuzz_check(!word.empty() && gg::data::strip(word) == word, "split_whitespace gives words without spaces");
  }
  const std::string_view stripped = gg::data::strip(text), right = gg::data::rstrip(text);
  fuzz_check(text.find(stripped) != std::string_view::npos && text.starts_with(right), "strip gives a substring");
  fuzz_check(stripped.empty() == right.empty(), "strip and rstrip agree on all-space text");
}

void check_invalid(std::string_view text, size_t bad) {
  fuzz_check(bad < text.size(), "the invalid offset is inside the text");
  fuzz_check(gg::data::is_valid_utf8(text.substr(0, bad)), "the text before the invalid offset is valid");
  fuzz_check(throws_error([&] { gg::data::check_utf8(text, "fuzz"); }), "check_utf8 throws");
  fuzz_check(throws_error([&] { gg::data::decode_utf8(text); }), "decode_utf8 throws");
  fuzz_check(throws_error([&] { gg::data::split_code_points(text); }), "split_code_points throws");
  fuzz_check(throws_error([&] { gg::data::to_lower(text); }), "to_lower throws");
  fuzz_check(throws_error([&] { gg::data::split_whitespace(text); }), "split_whitespace throws");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto bad = gg::data::find_invalid_utf8(text);
  fuzz_check(gg::data::is_valid_utf8(text) == !bad, "is_valid_utf8 agrees with find_invalid_utf8");
  if (bad)
    check_invalid(text, *bad);
  else
    check_valid(text);

  if (size >= 4) {
    char32_t cp = 0;
    std::memcpy(&cp, data, 4);
    std::string encoded;
    const bool scalar = cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    fuzz_check(throws_error([&] { gg::data::append_utf8(encoded, cp); }) == !scalar,
               "append_utf8 throws exactly for non-scalar values");
    if (scalar) fuzz_check(gg::data::decode_utf8(encoded) == std::u32string(1, cp), "append_utf8 round-trips");
  }
  return 0;
}
