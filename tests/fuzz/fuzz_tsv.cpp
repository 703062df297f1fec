// read_tsv on an arbitrary file. Input: one byte of options, then the file.
//   bit 0: skip_bad   bit 1: no trim   bits 2-3: src_col - 1   bits 4-5: tgt_col - 1
// Bad lines are a gg::Error naming file and line, or with skip_bad are counted; what is read
// must have the properties of fuzz_corpus_check.h.
#include "core/error.h"
#include "fuzz_corpus_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static gg::fuzz::TempFile file("corpus.tsv");
  const uint8_t bits = data[0];
  const gg::data::ReadOptions options{.skip_bad = (bits & 1) != 0, .trim = (bits & 2) == 0};
  const int src_col = 1 + ((bits >> 2) & 3), tgt_col = 1 + ((bits >> 4) & 3);
  const std::string& path = file.write(gg::fuzz::text_after_options(data, size));
  try {
    gg::fuzz::check_corpus(gg::data::read_tsv(path, src_col, tgt_col, options), options);
  } catch (const gg::Error&) {
  }
  return 0;
}
