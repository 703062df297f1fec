// SentencePieceTokenizer: training (BPE and unigram), save/load, encode/decode round trips.
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/sentencepiece.h"
#include "data/utf8.h"
#include "data/toy.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;

namespace {

// A few hundred sentences with Spanish accents and punctuation, enough for a small model.
std::vector<std::string> training_sentences() {
  std::vector<std::string> out;
  const char* spanish[] = {"¿Dónde está el baño?", "¡Qué día más bonito!", "El niño comió una manzana.",
                           "Él no sabía qué decir.", "La señora Núñez vive en Málaga.", "¿Por qué no vienes mañana?"};
  for (const auto& p : toy_reorder(300, 7)) {
    out.push_back(p.src);
    out.push_back(p.tgt);
  }
  for (int i = 0; i < 20; ++i) {
    for (const char* s : spanish) out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("SentencePiece: BPE trains, round trips, saves and loads", "[data]") {
  TempDir dir("spm_bpe");
  auto sentences = training_sentences();
  auto sp = SentencePieceTokenizer::train(sentences, dir.file("bpe"), {.vocab_size = 120});
  CHECK(sp.vocab_size() <= 120);
  CHECK(sp.vocab_size() > 50);
  CHECK(fs::exists(dir.file("bpe.model")));
  CHECK_FALSE(fs::exists(dir.file("bpe.train.txt")));  // the temporary input is removed

  for (const std::string s : {"¿Dónde está el baño?", "the big dog sees a small cat", "la vok gran un mira pek vida"}) {
    auto pieces = sp.encode(s);
    INFO(s);
    CHECK(pieces.size() < s.size());  // subwords, not characters
    CHECK(sp.detokenize(pieces) == s);
    CHECK(sp.decode_ids(sp.encode_ids(s)) == s);
  }
  // A frequent word becomes one piece, marked as a word start.
  auto pieces = sp.encode("the dog");
  CHECK(pieces.front() == "\xE2\x96\x81the");  // "▁the"

  sp.save(dir.file("copy.model"));
  auto loaded = SentencePieceTokenizer::load(dir.file("copy.model"));
  CHECK(loaded.vocab_size() == sp.vocab_size());
  CHECK(loaded.encode("¡Qué día más bonito!") == sp.encode("¡Qué día más bonito!"));
  CHECK(loaded.piece(0) == "<unk>");
  CHECK(loaded.name() == "sentencepiece");
}

TEST_CASE("SentencePiece: unigram training is deterministic for a seed", "[data]") {
  TempDir dir("spm_unigram");
  auto sentences = training_sentences();
  SentencePieceOptions options{.vocab_size = 100, .model = SentencePieceModel::Unigram, .seed = 3};
  auto a = SentencePieceTokenizer::train(sentences, dir.file("a"), options);
  auto b = SentencePieceTokenizer::train(sentences, dir.file("b"), options);
  for (const auto& s : {"the old farmer feeds a white horse today", "El niño comió una manzana."}) {
    CHECK(a.encode(s) == b.encode(s));
    CHECK(a.detokenize(a.encode(s)) == s);
  }
  CHECK(a.vocab_size() == b.vocab_size());
}

TEST_CASE("SentencePiece: errors name the problem", "[data]") {
  TempDir dir("spm_errors");
  CHECK_THROWS_WITH(SentencePieceTokenizer::load(dir.file("none.model")), Contains("no model file") &&
                                                                              Contains("none.model"));
  auto bogus = write_file(dir.file("bogus.model"), "not a model");
  CHECK_THROWS_WITH(SentencePieceTokenizer::load(bogus), Contains("SentencePiece: loading") && Contains("bogus.model"));
  CHECK_THROWS_WITH(SentencePieceTokenizer::train({"a b c"}, dir.file("missing/dir/m")), Contains("does not exist"));
  CHECK_THROWS_WITH(SentencePieceTokenizer::train({}, dir.file("m")), Contains("no sentences"));
  auto sp = SentencePieceTokenizer::train(training_sentences(), dir.file("ok"), {.vocab_size = 80});
  CHECK_THROWS_WITH(sp.encode("ni\xF1o"), Contains("invalid UTF-8 at byte 3"));
  CHECK_THROWS_WITH(sp.decode_ids({5, 100000}), Contains("id 100000 is outside the vocabulary"));
}

TEST_CASE("SentencePiece: a model of Tatoeba Spanish round trips", "[data][corpus]") {
  GG_REQUIRE_SPA();
  TempDir dir("spm_tatoeba");
  auto corpus = read_tsv(spa_path(), 2, 1);
  std::vector<std::string> spanish;
  for (const auto& p : corpus.pairs) spanish.push_back(p.src);
  auto sp = SentencePieceTokenizer::train(spanish, dir.file("es"), {.vocab_size = 2000, .max_sentences = 20000,
                                                                   .seed = 1});
  CHECK(sp.vocab_size() == 2000);
  int64_t exact = 0, pieces = 0, words = 0;
  for (size_t i = 0; i < spanish.size(); i += 97) {
    auto p = sp.encode(spanish[i]);
    pieces += static_cast<int64_t>(p.size());
    words += static_cast<int64_t>(split_whitespace(spanish[i]).size());
    exact += sp.detokenize(p) == spanish[i];
  }
  int64_t checked = static_cast<int64_t>((spanish.size() + 96) / 97);
  CHECK(exact >= checked - 2);           // NFKC normalization may change a rare character
  CHECK(pieces < 2 * words);             // a 2000-piece model keeps most words in one or two pieces
}
