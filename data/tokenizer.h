#pragma once
// Tokenizers: text -> tokens -> text.
//
//   WordTokenizer tok({.lowercase = true});
//   tok.encode("¿Dónde está el baño?")      // {"¿", "dónde", "está", "el", "baño", "?"}
//   tok.detokenize({"¿", "dónde", "está", "el", "baño", "?"})   // "¿dónde está el baño?"
//
// A tokenizer only splits; Vocab (data/vocab.h) turns tokens into ids. Tokens are UTF-8
// strings; invalid UTF-8 input is a gg::Error. SentencePiece lives in data/sentencepiece.h.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gg::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<std::string> encode(std::string_view text) const = 0;
  // Joins tokens back into text; for the built-in tokenizers detokenize(encode(s)) == s
  // for ordinary sentences (up to lowercasing and runs of spaces).
  virtual std::string detokenize(const std::vector<std::string>& tokens) const = 0;
  virtual std::string name() const = 0;  // "word", "char", "sentencepiece"
};

// ---- words and punctuation ---------------------------------------------------------------
//
// Splits on whitespace, then cuts every punctuation mark into its own token, Spanish ¿ ¡ « »
// included. Kept whole:
//   - apostrophes and hyphens between letters or digits: "don't", "it's", "l'eau", "well-known"
//   - numbers with inner , : or / between digits: "1,000", "10:30", "20/20"; periods join
//     any two letters or digits: "3.14", "U.S"
//   - a run of periods: "..."
// Detokenizing puts a space between tokens except before . , ! ? ; : % ) ] } » ” ’ and "...",
// after ¿ ¡ ( [ { « “ ‘, and after a currency sign followed by a number ("$300"); straight
// quotes " and ' alternate between opening and closing, except that a ' after a word ending
// in s, with no ' after it, sticks to that word ("my parents' house").
struct WordTokenizerOptions {
  bool lowercase = false;  // Unicode-aware for Latin, Greek and Cyrillic (data/utf8.h)
};

class WordTokenizer : public Tokenizer {
 public:
  explicit WordTokenizer(WordTokenizerOptions options = {}) : options_(options) {}
  std::vector<std::string> encode(std::string_view text) const override;
  std::string detokenize(const std::vector<std::string>& tokens) const override;
  std::string name() const override { return "word"; }
  const WordTokenizerOptions& options() const { return options_; }

 private:
  WordTokenizerOptions options_;
};

// ---- characters --------------------------------------------------------------------------
//
// One token per code point, spaces included ("ñu a" -> ñ, u, " ", a); detokenize concatenates.
struct CharTokenizerOptions {
  bool lowercase = false;
};

class CharTokenizer : public Tokenizer {
 public:
  explicit CharTokenizer(CharTokenizerOptions options = {}) : options_(options) {}
  std::vector<std::string> encode(std::string_view text) const override;
  std::string detokenize(const std::vector<std::string>& tokens) const override;
  std::string name() const override { return "char"; }

 private:
  CharTokenizerOptions options_;
};

// True for the code points WordTokenizer cuts into their own tokens: ASCII punctuation and
// symbols, Latin-1 punctuation (¡ ¿ « » · ...), general punctuation (U+2010-U+205E: dashes,
// curly quotes, …) and currency signs.
bool is_punctuation(char32_t c);

}  // namespace gg::data
