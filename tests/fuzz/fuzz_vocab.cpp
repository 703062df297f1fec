// Vocab::load on an arbitrary file. Bad files (missing or wrong specials, empty or duplicate
// tokens, invalid UTF-8) are a gg::Error naming the file and line. A file that loads is the
// vocabulary Vocab::from_tokens builds from its lines after the four specials, and every id
// maps to its token and back.
#include "core/error.h"
#include "data/vocab.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gg::fuzz::TempFile file("vocab.txt");
  const std::string& path = file.write({reinterpret_cast<const char*>(data), size});
  try {
    gg::data::Vocab vocab = gg::data::Vocab::load(path);
    const auto& tokens = vocab.tokens();
    gg::fuzz::fuzz_check(vocab.size() >= gg::data::Vocab::num_specials, "a vocabulary holds the specials");
    std::vector<std::string> rest(tokens.begin() + gg::data::Vocab::num_specials, tokens.end());
    gg::fuzz::fuzz_check(gg::data::Vocab::from_tokens(rest) == vocab, "load agrees with from_tokens");
    for (int64_t id = 0; id < vocab.size(); ++id)
      gg::fuzz::fuzz_check(vocab.id(vocab.token(id)) == id, "id(token(id)) == id");
  } catch (const gg::Error&) {
  }
  return 0;
}
