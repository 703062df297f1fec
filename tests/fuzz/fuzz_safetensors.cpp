// parse_safetensors (load_safetensors without the file) on arbitrary bytes. core/safetensors.h
// promises that a truncated or corrupt file is a gg::Error, never a crash. A file that parses
// holds tensors whose bytes fit in it; every tensor can be printed (which reads every element:
// a BOOL byte other than 0 or 1, say, would be undefined behaviour there); and writing the
// tensors back with safetensors_bytes and parsing that gives the same names, dtypes, shapes,
// bytes and metadata.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/safetensors.h"
#include "fuzz_common.h"

using gg::fuzz::fuzz_check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  gg::SafetensorsFile file;
  try {
    file = gg::parse_safetensors(bytes, "fuzz.safetensors");
  } catch (const gg::Error&) {
    return 0;
  }
  size_t total = 0;
  for (const auto& [name, t] : file.tensors) {
    fuzz_check(t.defined() && t.is_contiguous(), "a parsed tensor is defined and contiguous");
    total += static_cast<size_t>(t.numel()) * gg::dtype_size(t.dtype());
    (void)fmt::format("{}", t);
  }
  fuzz_check(total <= size, "the tensors' bytes fit in the file");

  gg::SafetensorsFile again;
  try {
    again = gg::parse_safetensors(gg::safetensors_bytes(file.tensors, file.metadata), "fuzz (written again)");
  } catch (const gg::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fuzz_check(false, "what parses can be written and parsed again");
  }
  fuzz_check(again.metadata == file.metadata && again.tensors.size() == file.tensors.size(),
             "written again: the same metadata and number of tensors");
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, t] = file.tensors[i];
    const auto& [name2, t2] = again.tensors[i];
    fuzz_check(name == name2 && t.dtype() == t2.dtype() && t.shape() == t2.shape(),
               "written again: the same names, dtypes and shapes");
    const size_t n = static_cast<size_t>(t.numel()) * gg::dtype_size(t.dtype());
    fuzz_check(n == 0 || std::memcmp(t.raw_data(), t2.raw_data(), n) == 0, "written again: the same bytes");
  }
  return 0;
}
