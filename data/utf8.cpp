#include "data/utf8.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/file_io.h"

namespace gg::data {

namespace {

// Decodes the sequence starting at text[i]; returns its length, or 0 when it is invalid.
size_t decode_one(std::string_view text, size_t i, char32_t& out) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    out = b0;
    return 1;
  }
  size_t len;
  char32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;  // a continuation byte where a sequence should start, or 0xF8..0xFF
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;  // overlong, too big, surrogate
  out = cp;
  return len;
}

}  // namespace

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  char32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = decode_one(text, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

bool is_valid_utf8(std::string_view text) { return !find_invalid_utf8(text).has_value(); }

void check_utf8(std::string_view text, std::string_view where) {
  if (auto bad = find_invalid_utf8(text)) {
    fail("{}: invalid UTF-8 at byte {} (0x{:02X}); hint: the text is probably Latin-1 or Windows-1252, "
         "convert it with `iconv -f latin1 -t utf-8`",
         where, *bad + 1, static_cast<unsigned char>(text[*bad]));
  }
}

std::u32string decode_utf8(std::string_view text, std::string_view where) {
  std::u32string out;
  out.reserve(text.size());
  char32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = decode_one(text, i, cp);
    if (len == 0) check_utf8(text, where);  // throws with the position
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  GG_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "append_utf8: U+{:04X} is not a Unicode scalar value",
           static_cast<uint32_t>(cp));
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t cp : code_points) append_utf8(out, cp);
  return out;
}

size_t utf8_length(std::string_view text) { return decode_utf8(text, "utf8_length").size(); }

std::vector<std::string> split_code_points(std::string_view text) {
  std::vector<std::string> out;
  char32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = decode_one(text, i, cp);
    if (len == 0) check_utf8(text, "split_code_points");
    out.emplace_back(text.substr(i, len));
    i += len;
  }
  return out;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  // Latin-1 Supplement: À..Þ except × (U+00D7).
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  // Latin Extended-A: mostly upper/lower pairs, with the parity switching twice.
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return U'i';  // İ
    if (c == 0x178) return 0xFF;  // Ÿ -> ÿ
    if ((c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c % 2 == 0) ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
    return c;  // ĸ, ŉ, ſ have no lowercase pair
  }
  // Greek.
  if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2)) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  // Cyrillic.
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

std::string to_lower(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : decode_utf8(text, "to_lower")) append_utf8(out, to_lower(c));
  return out;
}

std::vector<std::string> split_whitespace(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  char32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = decode_one(text, i, cp);
    if (len == 0) check_utf8(text, "split_whitespace");
    if (is_space(cp)) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current.append(text.substr(i, len));
    }
    i += len;
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

namespace {

// Byte offsets [begin, end) of `text` without the surrounding is_space() code points.
std::pair<size_t, size_t> stripped_range(std::string_view text, bool left) {
  char32_t cp = 0;
  size_t begin = text.size(), end = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = decode_one(text, i, cp);
    if (len == 0) check_utf8(text, "strip");
    if (!is_space(cp)) {
      if (begin == text.size()) begin = i;
      end = i + len;
    }
    i += len;
  }
  if (begin == text.size()) return {0, 0};  // all whitespace
  return {left ? begin : 0, end};
}

}  // namespace

std::string_view strip(std::string_view text) {
  auto [begin, end] = stripped_range(text, true);
  return text.substr(begin, end - begin);
}

std::string_view rstrip(std::string_view text) {
  auto [begin, end] = stripped_range(text, false);
  return text.substr(begin, end - begin);
}

// ---- files ---------------------------------------------------------------------------------

LineReader::LineReader(std::string path, bool validate_utf8)
    : path_(std::move(path)), in_(path_, std::ios::binary), validate_utf8_(validate_utf8) {
  if (!in_) fail("cannot open '{}': {}", path_, std::strerror(errno));
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    GG_CHECK(in_.eof(), "{}: read error after line {}", path_, line_number_);
    return false;
  }
  ++line_number_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  if (validate_utf8_) check_utf8(line, where());
  return true;
}

std::string LineReader::where() const { return path_ + ":" + std::to_string(line_number_); }

std::vector<std::string> read_lines(const std::string& path) {
  LineReader reader(path);
  std::vector<std::string> lines;
  std::string line;
  while (reader.next(line)) lines.push_back(line);
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + '\n';
  write_file_atomic(path, text);
}

}  // namespace gg::data
