#include "data/tokenizer.h"

#include <algorithm>

#include "data/utf8.h"

namespace gg::data {

bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  // Latin-1: ¡ ¢ £ ¤ ¥ ¦ § ¨ © « ¬ ® ¯ ° ± ´ ¶ · ¸ » ¿ × ÷ (not ª º ² ³ ¹ µ ¼ ½ ¾, which are word-like).
  if (c >= 0xA1 && c <= 0xBF) {
    return !(c == 0xAA || c == 0xBA || c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0xB5 || c == 0xAD ||
             (c >= 0xBC && c <= 0xBE));
  }
  if (c == 0xD7 || c == 0xF7) return true;
  return (c >= 0x2010 && c <= 0x205E) || (c >= 0x20A0 && c <= 0x20CF) || (c >= 0x3001 && c <= 0x3003);
}

namespace {

bool is_word_char(char32_t c) { return !is_space(c) && !is_punctuation(c); }
bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

// Punctuation that joins the characters on its two sides into one token.
bool joins(char32_t before, char32_t mark, char32_t after) {
  if (!is_word_char(before) || !is_word_char(after)) return false;
  switch (mark) {
    case U'\'':
    case U'\u2019':  // ’ as an apostrophe: "don’t"
    case U'-':
    case U'.':  // "3.14", "U.S"
      return true;
    case U',':
    case U':':
    case U'/':
      return is_digit(before) && is_digit(after);  // "1,000", "10:30", "20/20"
    default:
      return false;
  }
}

}  // namespace

std::vector<std::string> WordTokenizer::encode(std::string_view text) const {
  std::u32string cps = decode_utf8(text, "WordTokenizer");
  if (options_.lowercase) {
    for (char32_t& c : cps) c = to_lower(c);
  }
  std::vector<std::string> tokens;
  size_t n = cps.size();
  for (size_t i = 0; i < n;) {
    char32_t c = cps[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    size_t start = i;
    if (c == U'.') {
      while (i < n && cps[i] == U'.') ++i;  // "." or "..."
    } else if (is_punctuation(c)) {
      ++i;
    } else {
      while (i < n) {
        if (is_word_char(cps[i])) {
          ++i;
        } else if (i + 1 < n && joins(cps[i - 1], cps[i], cps[i + 1])) {
          i += 2;
        } else {
          break;
        }
      }
    }
    tokens.push_back(encode_utf8(std::u32string_view(cps).substr(start, i - start)));
  }
  return tokens;
}

namespace {

// Tokens written without a space before them.
bool attaches_left(std::string_view t) {
  static const char* const marks[] = {".", ",", "!", "?", ";", ":", "%", ")", "]", "}", "»", "”", "’", "…"};
  for (const char* m : marks) {
    if (t == m) return true;
  }
  return t.find_first_not_of('.') == std::string_view::npos && !t.empty();  // "..."
}

// Tokens written without a space after them.
bool attaches_right(std::string_view t) {
  static const char* const marks[] = {"¿", "¡", "(", "[", "{", "«", "“", "‘"};
  for (const char* m : marks) {
    if (t == m) return true;
  }
  return false;
}

bool is_currency(std::string_view t) { return t == "$" || t == "€" || t == "£" || t == "¥"; }

}  // namespace

std::string WordTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  bool glue_next = true;  // no space before the first token
  bool double_open = false, single_open = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    bool glue_left = attaches_left(t), glue_right = attaches_right(t);
    if (t == "\"" || t == "'") {
      bool& open = (t == "\"") ? double_open : single_open;
      // An opening quote sticks to what follows, a closing one to what precedes. A ' after
      // a word in s with no ' later to close it is a plural possessive ("my parents' house").
      bool possessive = t == "'" && !open && i > 0 &&
                        (tokens[i - 1].ends_with('s') || tokens[i - 1].ends_with('S')) &&
                        std::find(tokens.begin() + static_cast<std::ptrdiff_t>(i) + 1, tokens.end(), "'") == tokens.end();
      if (!possessive) open = !open;
      glue_left = possessive || !open;
      glue_right = open;
    }
    // A currency sign sticks to the number after it ("$300"), not to a word ("300 € al día").
    if (is_currency(t) && i + 1 < tokens.size() && !tokens[i + 1].empty() && tokens[i + 1][0] >= '0' &&
        tokens[i + 1][0] <= '9') {
      glue_right = true;
    }
    if (!out.empty() && !glue_next && !glue_left) out += ' ';
    out += t;
    glue_next = glue_right;
  }
  return out;
}

std::vector<std::string> CharTokenizer::encode(std::string_view text) const {
  if (options_.lowercase) return split_code_points(to_lower(text));
  check_utf8(text, "CharTokenizer");
  return split_code_points(text);
}

std::string CharTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace gg::data
