// SentencePieceTokenizer (data/sentencepiece.h) on arbitrary text and ids, with a small unigram
// model trained once at start-up on a fixed corpus. Input: one byte of options (bit 0: decode
// the input as ids instead), then the text. Invalid UTF-8, and ids outside the vocabulary, are a
// gg::Error; otherwise every piece is non-empty UTF-8, the ids are the pieces' ids, and
// decoding them never throws.
#include <filesystem>

#include "core/error.h"
#include "data/sentencepiece.h"
#include "data/utf8.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

namespace {

const gg::data::SentencePieceTokenizer& tokenizer() {
  static const gg::data::SentencePieceTokenizer sp = [] {
    std::vector<std::string> corpus;
    for (const char* s : {"el perro come la comida", "la niña lee un libro nuevo", "¿dónde está la estación?",
                          "mañana vamos a la playa", "tengo hambre y sed", "los gatos duermen al sol",
                          "un café con leche, por favor", "¡qué día más bonito!", "Tom vive en Madrid desde 2010",
                          "ella escribe cartas a su abuela"})
      for (int i = 0; i < 5; ++i) corpus.push_back(s);
    const auto dir = std::filesystem::temp_directory_path() / ("gg_fuzz_sp_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto trained = gg::data::SentencePieceTokenizer::train(corpus, (dir / "sp").string(),
                                                           {.vocab_size = 60, .model = gg::data::SentencePieceModel::Unigram});
    std::filesystem::remove_all(dir);  // the tokenizer keeps its model in memory
    return trained;
  }();
  return sp;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& sp = tokenizer();
  const std::string_view text = gg::fuzz::text_after_options(data, size);
  if (data[0] & 1) {  // ids: two bytes each
    std::vector<int64_t> ids;
    for (size_t i = 0; i + 1 < text.size(); i += 2)
      ids.push_back(static_cast<int64_t>(static_cast<uint8_t>(text[i]) | (static_cast<uint8_t>(text[i + 1]) << 8)) - 8);
    try {
      (void)sp.decode_ids(ids);
    } catch (const gg::Error&) {
      bool outside = false;
      for (int64_t id : ids) outside = outside || id < 0 || id >= sp.vocab_size();
      fuzz_check(outside, "decode_ids refuses only ids outside the vocabulary");
    }
    return 0;
  }
  try {
    const auto pieces = sp.encode(text);
    const auto ids = sp.encode_ids(text);
    fuzz_check(pieces.size() == ids.size(), "one id per piece");
    for (const auto& p : pieces) fuzz_check(!p.empty() && gg::data::is_valid_utf8(p), "pieces are non-empty UTF-8");
    for (int64_t id : ids) fuzz_check(id >= 0 && id < sp.vocab_size(), "ids are in the vocabulary");
    (void)sp.detokenize(pieces);
    (void)sp.decode_ids(ids);
  } catch (const gg::Error&) {
    fuzz_check(!gg::data::is_valid_utf8(text), "only invalid UTF-8 is an error");
  }
  return 0;
}
