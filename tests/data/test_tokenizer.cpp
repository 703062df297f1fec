// UTF-8 helpers, WordTokenizer and CharTokenizer.
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;
using Tokens = std::vector<std::string>;

TEST_CASE("utf8: decode and encode round trip, lengths", "[data]") {
  std::string s = "¿Dónde está el niño? 日本 😀";
  std::u32string cps = decode_utf8(s);
  CHECK(cps.size() == 25);
  CHECK(cps[0] == U'¿');
  CHECK(cps[2] == U'ó');
  CHECK(cps.back() == U'😀');
  CHECK(encode_utf8(cps) == s);
  CHECK(utf8_length("año") == 3);
  CHECK(split_code_points("año") == Tokens{"a", "ñ", "o"});
}

TEST_CASE("utf8: invalid sequences are found at their first byte", "[data]") {
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));                       // U+1F600
  CHECK(find_invalid_utf8("ab\x80") == size_t{2});                // lone continuation byte
  CHECK(find_invalid_utf8("a\xC0\xAF") == size_t{1});             // overlong '/'
  CHECK(find_invalid_utf8("xy\xE2\x82") == size_t{2});            // truncated
  CHECK(find_invalid_utf8("\xED\xA0\x80") == size_t{0});          // surrogate U+D800
  CHECK(find_invalid_utf8("ok\xF4\x90\x80\x80") == size_t{2});    // above U+10FFFF
  CHECK(find_invalid_utf8("caf\xE9 au lait") == size_t{3});       // Latin-1 é
  CHECK_THROWS_WITH(decode_utf8("caf\xE9", "here"), Contains("here: invalid UTF-8 at byte 4 (0xE9)"));
  std::string out;
  CHECK_THROWS_AS(append_utf8(out, 0xD800), gg::Error);
}

TEST_CASE("utf8: a file with invalid UTF-8 names file, line and byte", "[data]") {
  TempDir dir("utf8_file");
  auto path = write_file(dir.file("bad.txt"), "fine\r\nalso fine\nbad \xE9 here\n");
  CHECK_THROWS_WITH(read_lines(path), Contains("bad.txt:3: invalid UTF-8 at byte 5 (0xE9)"));
  auto good = write_file(dir.file("good.txt"), "\xEF\xBB\xBFuno\r\ndos\n\ntres");
  CHECK(read_lines(good) == Tokens{"uno", "dos", "", "tres"});  // BOM and CR dropped, no final newline needed
  CHECK_THROWS_WITH(read_lines(dir.file("missing.txt")), Contains("cannot open") && Contains("missing.txt"));
}

TEST_CASE("utf8: lowercase of accented capitals", "[data]") {
  CHECK(to_lower("ÉL ÑANDÚ COMIÓ") == "él ñandú comió");
  CHECK(to_lower("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ") == "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþ");
  CHECK(to_lower("ĀĂĄĆČĎĐĒĘĚĞĢĪĮĹĽŁŃŇŊŌŐŒŔŘŚŞŠŢŤŦŪŮŰŲŴŶŸŹŻŽ") ==
        "āăąćčďđēęěğģīįĺľłńňŋōőœŕřśşšţťŧūůűųŵŷÿźżž");
  CHECK(to_lower("ΑΒΓ ΆΈΏ ДЖЯ ЁЂ") == "αβγ άέώ джя ёђ");
  CHECK(to_lower("× ß ı ÿ ñ 3") == "× ß ı ÿ ñ 3");  // no case, or already lowercase
  CHECK(to_lower(U'İ') == U'i');
}

TEST_CASE("utf8: Python-compatible whitespace split and strip", "[data]") {
  CHECK(split_whitespace(" a\tb\u00A0c\u3000d  \n") == Tokens{"a", "b", "c", "d"});
  CHECK(split_whitespace("   ").empty());
  CHECK(strip("\u2003 hola \n") == "hola");
  CHECK(rstrip("  hola \u00A0") == "  hola");
  CHECK(is_space(U'\u0085'));
  CHECK_FALSE(is_space(U'\u200B'));  // zero-width space is not whitespace for Python either
}

TEST_CASE("WordTokenizer: Spanish and English punctuation", "[data]") {
  WordTokenizer tok;
  CHECK(tok.encode("¿Dónde está el baño?") == Tokens{"¿", "Dónde", "está", "el", "baño", "?"});
  CHECK(tok.encode("¡Hola, señor Núñez!") == Tokens{"¡", "Hola", ",", "señor", "Núñez", "!"});
  CHECK(tok.encode("«Sí», dijo él.") == Tokens{"«", "Sí", "»", ",", "dijo", "él", "."});
  CHECK(tok.encode("I don't think it's 3.14 or 1,000 dollars.") ==
        Tokens{"I", "don't", "think", "it's", "3.14", "or", "1,000", "dollars", "."});
  CHECK(tok.encode("Wait... what?!") == Tokens{"Wait", "...", "what", "?", "!"});
  CHECK(tok.encode("A well-known U.S. city; at 10:30 (sharp).") ==
        Tokens{"A", "well-known", "U.S", ".", "city", ";", "at", "10:30", "(", "sharp", ")", "."});
  CHECK(tok.encode("Tom’s \"book\"") == Tokens{"Tom’s", "\"", "book", "\""});
  CHECK(tok.encode("  ").empty());
}

TEST_CASE("WordTokenizer: lowercase is Unicode-aware", "[data]") {
  WordTokenizer tok({.lowercase = true});
  CHECK(tok.encode("Él ÑOÑO, ÁRBOL") == Tokens{"él", "ñoño", ",", "árbol"});
  CHECK(WordTokenizer().encode("Él") == Tokens{"Él"});
}

TEST_CASE("WordTokenizer: detokenize restores natural spacing", "[data]") {
  WordTokenizer tok;
  const char* sentences[] = {
      "¿Dónde está el baño?",
      "¡Hola, señor Núñez!",
      "«Sí», dijo él.",
      "I don't think it's 3.14 or 1,000 dollars.",
      "Wait... what?!",
      "A well-known U.S. city; at 10:30 (sharp).",
      "Tom said, \"Hello.\"",
      "Él dijo: 'ven aquí' y se fue.",
      "¿Por qué no vienes (si puedes)?",
      "Es el 50% del precio.",
      "I'm at my parents' house.",
      "Las palabras 'pequeño' y 'chico' son sinónimos.",
      "I paid $300, Tom has 20/20 vision and it costs 5 € a day.",
  };
  for (const char* s : sentences) {
    INFO(s);
    CHECK(tok.detokenize(tok.encode(s)) == s);
  }
  CHECK(tok.detokenize({"¿", "qué", "?"}) == "¿qué?");
  CHECK(tok.detokenize({}).empty());
}

TEST_CASE("WordTokenizer and CharTokenizer reject invalid UTF-8", "[data]") {
  CHECK_THROWS_WITH(WordTokenizer().encode("ni\xF1o"), Contains("WordTokenizer: invalid UTF-8 at byte 3"));
  CHECK_THROWS_WITH(CharTokenizer().encode("ni\xF1o"), Contains("CharTokenizer: invalid UTF-8 at byte 3"));
}

TEST_CASE("CharTokenizer: one token per code point, spaces included", "[data]") {
  CharTokenizer tok;
  CHECK(tok.encode("ñu a") == Tokens{"ñ", "u", " ", "a"});
  CHECK(tok.detokenize(tok.encode("¿Qué tal? 😀")) == "¿Qué tal? 😀");
  CHECK(CharTokenizer({.lowercase = true}).encode("ÉÑ") == Tokens{"é", "ñ"});
  CHECK(tok.name() == "char");
}

TEST_CASE("WordTokenizer round trips almost all of Tatoeba", "[data][corpus]") {
  GG_REQUIRE_SPA();
  auto corpus = read_tsv(spa_path(), 2, 1);
  WordTokenizer word;
  CharTokenizer chars;
  int64_t exact = 0, total = 0;
  std::string first_failure;
  for (const auto& p : corpus.pairs) {
    for (const std::string* s : {&p.src, &p.tgt}) {
      // Runs of spaces cannot survive tokenization; compare with them collapsed.
      std::string collapsed;
      for (const auto& w : split_whitespace(*s)) collapsed += (collapsed.empty() ? "" : " ") + w;
      bool ok = word.detokenize(word.encode(*s)) == collapsed;
      exact += ok;
      if (!ok && first_failure.empty()) first_failure = *s;
      ++total;
      REQUIRE(chars.detokenize(chars.encode(*s)) == *s);
    }
  }
  double rate = static_cast<double>(exact) / static_cast<double>(total);
  INFO("round-trip rate " << rate << ", first failure: " << first_failure);
  CHECK(rate > 0.9995);  // 0.99986 when written: 34 of 237,928 sides, mostly odd spacing in the data
}
