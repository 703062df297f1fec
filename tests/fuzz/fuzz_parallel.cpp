// read_parallel on two arbitrary files. Input: one byte of options (bit 0: skip_bad, bit 1:
// no trim), then the source file, a NUL byte, and the target file. Files of different lengths
// and bad lines are a gg::Error naming file and line, or with skip_bad are counted; what is
// read must have the properties of fuzz_corpus_check.h.
#include <algorithm>

#include "core/error.h"
#include "fuzz_corpus_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static gg::fuzz::TempFile src_file("train.src"), tgt_file("train.tgt");
  const gg::data::ReadOptions options{.skip_bad = (data[0] & 1) != 0, .trim = (data[0] & 2) == 0};
  std::string_view text = gg::fuzz::text_after_options(data, size);
  const size_t nul = std::min(text.find('\0'), text.size());
  const std::string& src = src_file.write(text.substr(0, nul));
  const std::string& tgt = tgt_file.write(text.substr(std::min(nul + 1, text.size())));
  try {
    gg::fuzz::check_corpus(gg::data::read_parallel(src, tgt, options), options);
  } catch (const gg::Error&) {
  }
  return 0;
}
