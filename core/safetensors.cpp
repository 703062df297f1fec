#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/file_io.h"
#include "core/kernels.h"

namespace gg {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian machine");

const char* format_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::Float32;
  else if (s == "F64") out = DType::Float64;
  else if (s == "I64") out = DType::Int64;
  else if (s == "BOOL") out = DType::Bool;
  else return false;
  return true;
}

}  // namespace

std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();  // "{}" for no tensors, not "null"
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& [name, t] : tensors) {
    GG_CHECK(t.defined(), "safetensors: tensor '{}' is undefined", name);
    GG_CHECK(!header.contains(name) && name != "__metadata__", "safetensors: the name '{}' appears twice", name);
    const Tensor c = kernel::contiguous(t);
    const size_t nbytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", format_dtype(c.dtype())},
                    {"shape", std::vector<int64_t>(c.shape().begin(), c.shape().end())},
                    {"data_offsets", {data.size(), data.size() + nbytes}}};
    data.append(static_cast<const char*>(c.raw_data()), nbytes);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data block starts 8-byte aligned
  std::string file(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(file.data(), &n, 8);
  file += json;
  file += data;
  return file;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (const auto& [n, _] : tensors) names += (names.empty() ? "" : ", ") + n;
  fail("{}: no tensor named '{}' (it has: {})", path, name, names);
}

SafetensorsFile load_safetensors(const std::string& path) {
  GG_CHECK(std::ifstream(path).good(), "load_safetensors: cannot open {}", path);
  return parse_safetensors(read_file(path), path);
}

SafetensorsFile parse_safetensors(const std::string& file, const std::string& path) {
  GG_CHECK(file.size() >= 8, "{}: not a safetensors file (only {} bytes; the file is truncated or empty)", path,
           file.size());
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  GG_CHECK(n <= file.size() - 8, "{}: corrupt or truncated: the header claims {} bytes, but only {} follow", path, n,
           file.size() - 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: corrupt header (not valid JSON: {})", path, e.what());
  }
  GG_CHECK(header.is_object(), "{}: corrupt header (not a JSON object)", path);
  const size_t data_size = file.size() - 8 - n;
  const char* data = file.data() + 8 + n;

  SafetensorsFile out;
  out.path = path;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      GG_CHECK(value.is_object(), "{}: corrupt header (__metadata__ is not an object)", path);
      for (const auto& [k, v] : value.items()) {
        GG_CHECK(v.is_string(), "{}: corrupt header (metadata '{}' is not a string)", path, k);
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    Entry e{name, DType::Float32, {}, 0, 0};
    try {
      GG_CHECK(parse_dtype(value.at("dtype").get<std::string>(), e.dtype),
               "{}: tensor '{}' has dtype {}, which glassgrad does not read (F32, F64, I64, BOOL)", path, name,
               value.at("dtype").dump());
      for (const auto& s : value.at("shape")) {
        GG_CHECK(s.is_number_unsigned() && s.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 "{}: tensor '{}' has an invalid shape {}", path, name, value.at("shape").dump());
        e.shape.push_back(s.get<int64_t>());
      }
      const auto& offsets = value.at("data_offsets");
      GG_CHECK(offsets.is_array() && offsets.size() == 2, "{}: tensor '{}' has invalid data_offsets", path, name);
      GG_CHECK(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
               "{}: tensor '{}' has data_offsets {}, not two non-negative integers", path, name, offsets.dump());
      e.begin = offsets[0].get<uint64_t>();
      e.end = offsets[1].get<uint64_t>();
    } catch (const nlohmann::json::exception& ex) {
      fail("{}: corrupt header entry for tensor '{}' ({})", path, name, ex.what());
    }
    // The byte count, checked: a shape whose count overflows would otherwise pass for a small one.
    uint64_t expected = 0;
    try {
      GG_CHECK(!__builtin_mul_overflow(static_cast<uint64_t>(e.shape.numel()), dtype_size(e.dtype), &expected),
               "shape {} of {} needs more bytes than a 64-bit count holds", e.shape, dtype_name(e.dtype));
    } catch (const Error& ex) {
      fail("{}: tensor '{}': {}", path, name, ex.what());
    }
    GG_CHECK(e.begin <= e.end && e.end - e.begin == expected,
             "{}: tensor '{}' of shape {} ({}) needs {} bytes, but its data_offsets [{}, {}] span {}", path, name,
             e.shape, dtype_name(e.dtype), expected, e.begin, e.end, e.end - e.begin);
    GG_CHECK(e.end <= data_size,
             "{}: truncated: tensor '{}' ends at byte {} of the data, which has only {} bytes", path, name, e.end,
             data_size);
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    GG_CHECK(entries[i].begin >= entries[i - 1].end, "{}: corrupt: tensors '{}' and '{}' overlap", path,
             entries[i - 1].name, entries[i].name);
  for (const Entry& e : entries) {
    Tensor t;
    try {
      t = Tensor::empty(e.shape, e.dtype);
    } catch (const Error& ex) {
      fail("{}: tensor '{}': {}", path, e.name, ex.what());
    }
    if (e.end > e.begin) std::memcpy(t.raw_data(), data + e.begin, e.end - e.begin);  // no elements: no buffer
    if (e.dtype == DType::Bool)  // a bool byte other than 0 or 1 is undefined behaviour when read
      for (uint64_t i = e.begin; i < e.end; ++i)
        GG_CHECK(static_cast<unsigned char>(data[i]) <= 1, "{}: tensor '{}' (BOOL) holds the byte {} at element {}; "
                 "expected 0 or 1", path, e.name, static_cast<int>(static_cast<unsigned char>(data[i])), i - e.begin);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace gg
