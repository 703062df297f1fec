#pragma once
// UTF-8 text: decoding to code points and back, validation, a small case mapping, and a
// line reader whose errors name the file and line.
//
// Everything in data/ works on UTF-8 std::strings. Code points are needed only where a
// "character" matters (CharTokenizer, lowercasing, chrF); these helpers are the one place
// that knows how the bytes are laid out.
//
// Validation is strict (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Byte positions in messages are 1-based, like the columns an editor shows.
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gg::data {

// ---- validation and decoding --------------------------------------------------------------

// The 0-based offset of the first byte of the first invalid sequence, or nullopt if `text`
// is valid UTF-8.
std::optional<size_t> find_invalid_utf8(std::string_view text);
bool is_valid_utf8(std::string_view text);

// Throws gg::Error "<where>: invalid UTF-8 at byte 17 (0xE9)" (plus a hint) when `text` is
// not valid UTF-8. `where` is typically "file:line" or the name of the caller.
void check_utf8(std::string_view text, std::string_view where);

// Code points of `text`; invalid UTF-8 throws as check_utf8(text, where) does.
std::u32string decode_utf8(std::string_view text, std::string_view where = "decode_utf8");
std::string encode_utf8(std::u32string_view code_points);
void append_utf8(std::string& out, char32_t code_point);  // throws on a surrogate or > U+10FFFF

// Number of code points, and the code points as separate UTF-8 strings ("año" -> a, ñ, o).
size_t utf8_length(std::string_view text);
std::vector<std::string> split_code_points(std::string_view text);

// ---- character classes and case ----------------------------------------------------------

// Whitespace as Python's str.isspace() sees it (str.split() splits on these), so BLEU and
// chrF split lines exactly as sacreBLEU does: \t \n \v \f \r, 0x1C-0x1F, space, U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_space(char32_t c);

// Lowercase for the scripts this project meets: ASCII, Latin-1 Supplement, Latin Extended-A,
// basic Greek and Cyrillic ("Él" -> "él", "Ñ" -> "ñ", "Ÿ" -> "ÿ"). Other code points are
// returned unchanged. Differs from Python's str.lower() only outside those blocks and for
// U+0130 (İ -> plain "i" here; Python gives "i" + U+0307).
char32_t to_lower(char32_t c);
std::string to_lower(std::string_view text);  // throws on invalid UTF-8

// Python's str.split(): the pieces between runs of is_space() code points.
std::vector<std::string> split_whitespace(std::string_view text);
// Python's str.strip() / str.rstrip() with no argument.
std::string_view strip(std::string_view text);
std::string_view rstrip(std::string_view text);

// ---- files ---------------------------------------------------------------------------------

// Reads a text file line by line. Lines lose their "\n" or "\r\n"; the first loses a UTF-8
// byte-order mark. Every line is checked: invalid UTF-8 throws
//   "spa.txt:1234: invalid UTF-8 at byte 17 (0xE9)"
// (with the path as given). A file that cannot be opened throws with the reason. With
// validate_utf8 = false the caller checks (corpus readers that may skip bad lines do).
class LineReader {
 public:
  explicit LineReader(std::string path, bool validate_utf8 = true);
  bool next(std::string& line);  // false at the end of the file
  int64_t line_number() const { return line_number_; }  // 1-based number of the last line read
  const std::string& path() const { return path_; }
  std::string where() const;  // "path:line"

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_number_ = 0;
  bool validate_utf8_ = true;
};

// All lines of a file (see LineReader).
std::vector<std::string> read_lines(const std::string& path);

// Writes lines joined by "\n" (and a final "\n") atomically (core/file_io.h); throws if the
// file cannot be written.
void write_lines(const std::string& path, const std::vector<std::string>& lines);

}  // namespace gg::data
