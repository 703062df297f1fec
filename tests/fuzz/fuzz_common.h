#pragma once
// Helpers shared by the fuzz targets.
//
// What counts as a bug: a parser may reject its input only by throwing gg::Error (the
// library's documented exception). A crash, a sanitizer report, a hang or any other exception
// escaping LLVMFuzzerTestOneInput is a finding; a broken property is reported with
// fuzz_check, which aborts so that libFuzzer saves the input.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace gg::fuzz {

// Aborts with a message when a property the library documents does not hold.
inline void fuzz_check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// A file in /tmp for the APIs that only read paths: one per process and name, rewritten for
// every input, removed at exit.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_("/tmp/gg_fuzz_" + std::to_string(::getpid()) + "_" + name) {}
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& write(std::string_view bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path_;
  }

 private:
  std::string path_;
};

// The input as text, after its first byte, which the targets read as option bits.
inline std::string_view text_after_options(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
}

// Lines split on "\n" (a trailing newline ends the last line rather than adding an empty one).
inline std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// Lines grouped as a hypothesis followed by `refs` references, for the corpus scores.
struct ScoringInput {
  std::vector<std::string> hypotheses;
  std::vector<std::vector<std::string>> references;  // [refs][sentence]
};
inline ScoringInput group_lines(const std::vector<std::string>& lines, size_t refs) {
  ScoringInput in;
  in.references.resize(refs);
  for (size_t i = 0; i + refs < lines.size(); i += refs + 1) {
    in.hypotheses.push_back(lines[i]);
    for (size_t r = 0; r < refs; ++r) in.references[r].push_back(lines[i + 1 + r]);
  }
  return in;
}

}  // namespace gg::fuzz
