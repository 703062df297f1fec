// Vocab: specials, deterministic ordering, min_freq and max_size, encode/decode, files.
#include <algorithm>
#include <string>
#include <vector>

#include "data/vocab.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;
using Tokens = std::vector<std::string>;
using Ids = std::vector<int64_t>;

namespace {

// Counts: el 4, la 3, casa 2, perro 2, azul 1, Él 1
std::vector<Tokens> sentences() {
  return {{"el", "perro", "azul"}, {"la", "casa", "el"}, {"el", "perro", "la"}, {"la", "casa"}, {"Él", "el"}};
}

}  // namespace

TEST_CASE("Vocab: specials come first with fixed ids", "[data]") {
  Vocab v;
  CHECK(v.size() == 4);
  CHECK(v.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>"});
  CHECK(v.id("<pad>") == Vocab::pad_id);
  CHECK(v.id("<bos>") == 1);
  CHECK(v.id("<eos>") == 2);
  CHECK(v.id("<unk>") == 3);
  CHECK(v.id("anything") == Vocab::unk_id);
}

TEST_CASE("Vocab: order is count descending, then token ascending", "[data]") {
  auto v = Vocab::build(sentences());
  // Ties: casa < perro; azul < Él (bytewise: 'a' 0x61 < 0xC3).
  CHECK(v.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "el", "la", "casa", "perro", "azul", "Él"});
  CHECK(v.id("el") == 4);
  CHECK(v.token(7) == "perro");
  // The same counts in another insertion order give the same vocabulary.
  auto reversed = sentences();
  std::reverse(reversed.begin(), reversed.end());
  CHECK(Vocab::build(reversed) == v);
}

TEST_CASE("Vocab: min_freq and max_size", "[data]") {
  CHECK(Vocab::build(sentences(), {.min_freq = 2}).tokens() ==
        Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "el", "la", "casa", "perro"});
  CHECK(Vocab::build(sentences(), {.min_freq = 3}).size() == 6);
  // max_size counts the specials: 7 leaves room for the three most frequent tokens.
  auto v = Vocab::build(sentences(), {.max_size = 7});
  CHECK(v.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "el", "la", "casa"});
  CHECK(v.id("perro") == Vocab::unk_id);
  CHECK(Vocab::build(sentences(), {.min_freq = 2, .max_size = 100}).size() == 8);
  CHECK(Vocab::build(sentences(), {.max_size = 4}).size() == 4);
  CHECK_THROWS_WITH(Vocab::build(sentences(), {.max_size = 3}), Contains("max_size 3 leaves no room"));
  CHECK_THROWS_WITH(Vocab::build(sentences(), {.min_freq = 0}), Contains("min_freq must be at least 1"));
}

TEST_CASE("Vocab: a literal special in the corpus is not added twice", "[data]") {
  auto v = Vocab::build({{"<unk>", "<pad>", "hola", ""}});
  CHECK(v.tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "hola"});
}

TEST_CASE("Vocab: encode with bos/eos, decode strips specials and stops at eos", "[data]") {
  auto v = Vocab::build(sentences());
  CHECK(v.encode({"el", "perro", "verde"}) == Ids{4, 7, 3});
  CHECK(v.encode({"el", "perro"}, {.add_bos = true, .add_eos = true}) == Ids{1, 4, 7, 2});
  CHECK(v.encode({}, {.add_eos = true}) == Ids{2});
  CHECK(v.decode({1, 4, 3, 7, 2, 5, 0, 0}) == Tokens{"el", "<unk>", "perro"});
  CHECK(v.decode({1, 4, 2, 5}, {.strip_specials = false, .stop_at_eos = true}) == Tokens{"<bos>", "el"});
  CHECK(v.decode({4, 2, 5, 0}, {.strip_specials = true, .stop_at_eos = false}) == Tokens{"el", "la"});
  CHECK(v.decode({4, 2, 0}, {.strip_specials = false, .stop_at_eos = false}) == Tokens{"el", "<eos>", "<pad>"});
  CHECK_THROWS_WITH(v.decode({4, 10}), Contains("id 10 is outside the vocabulary [0, 10)"));
  CHECK_THROWS_WITH(v.token(-1), Contains("id -1 is outside"));
}

TEST_CASE("Vocab: save and load round trip", "[data]") {
  TempDir dir("vocab_io");
  auto v = Vocab::build(sentences());
  v.save(dir.file("vocab.txt"));
  auto lines = gg::data::Vocab::load(dir.file("vocab.txt"));
  CHECK(lines == v);
  CHECK(lines.id("Él") == 9);
  CHECK(Vocab::from_tokens({"el", "la"}).tokens() == Tokens{"<pad>", "<bos>", "<eos>", "<unk>", "el", "la"});
  CHECK_THROWS_WITH(Vocab::from_tokens({"el", "el"}), Contains("token 1 'el' is a duplicate"));
  CHECK_THROWS_WITH(Vocab::from_tokens({"<eos>"}), Contains("is a special"));
}

TEST_CASE("Vocab: load errors name file and line", "[data]") {
  TempDir dir("vocab_errors");
  auto dup = write_file(dir.file("dup.txt"), "<pad>\n<bos>\n<eos>\n<unk>\ncasa\nperro\ncasa\n");
  CHECK_THROWS_WITH(Vocab::load(dup), Contains("dup.txt:7: duplicate token 'casa' (first on line 5)"));
  auto specials = write_file(dir.file("specials.txt"), "<pad>\n<eos>\n<bos>\n<unk>\n");
  CHECK_THROWS_WITH(Vocab::load(specials), Contains("specials.txt:2: expected the special '<bos>' (id 1), got "
                                                    "'<eos>'"));
  auto special_later = write_file(dir.file("later.txt"), "<pad>\n<bos>\n<eos>\n<unk>\nx\n<pad>\n");
  CHECK_THROWS_WITH(Vocab::load(special_later), Contains("later.txt:6: duplicate token '<pad>' (first on line 1)"));
  auto short_file = write_file(dir.file("short.txt"), "<pad>\n<bos>\n");
  CHECK_THROWS_WITH(Vocab::load(short_file), Contains("short.txt: 2 lines"));
  auto empty = write_file(dir.file("empty.txt"), "<pad>\n<bos>\n<eos>\n<unk>\n\n");
  CHECK_THROWS_WITH(Vocab::load(empty), Contains("empty.txt:5: empty token"));
  auto latin1 = write_file(dir.file("latin1.txt"), "<pad>\n<bos>\n<eos>\n<unk>\nni\xF1o\n");
  CHECK_THROWS_WITH(Vocab::load(latin1), Contains("latin1.txt:5: invalid UTF-8 at byte 3"));
  Vocab bad = Vocab::from_tokens({"two\nlines"});
  CHECK_THROWS_WITH(bad.save(dir.file("bad.txt")), Contains("contains a line break"));
}
