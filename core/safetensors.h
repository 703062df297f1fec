#pragma once
// Tensors to and from the safetensors format (https://huggingface.co/docs/safetensors), which
// Python's safetensors and PyTorch read directly:
//
//   [8 bytes: N, little-endian u64] [N bytes: JSON header] [raw little-endian tensor data]
//   header = {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"key": "value"}}      (offsets relative to the data block)
//
// Saving is atomic (core/file_io.h): the file is written under a temporary name, flushed to
// disk and then renamed over the target, so a crash mid-save leaves the previous file intact. Loading
// checks every length and offset: a truncated or corrupt file is a gg::Error naming the
// file and the problem, never a crash.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace gg {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in the order of their data offsets
  std::map<std::string, std::string> metadata;
  const Tensor& at(const std::string& name) const;  // error naming the file's tensors when missing
  std::string path;
};

SafetensorsFile load_safetensors(const std::string& path);

// The same from and to memory: the file's bytes; `path` only names the source in errors.
std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path);

}  // namespace gg
