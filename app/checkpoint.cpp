#include "app/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <tuple>

#include "core/error.h"
#include "core/file_io.h"

namespace gg::app {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kFormat = "glassgrad checkpoint 1";
const char* kParts[] = {"model.safetensors", "optimizer.safetensors", "trainer.json"};

// "step-00001200" -> (1200, 1); "step-00001200-2" (a second save at the same step, e.g. the end
// of an epoch after an interrupt at its last batch) -> (1200, 2). Other names: (-1, 0).
std::pair<int64_t, int64_t> parse_name(const std::string& name) {
  if (!name.starts_with("step-")) return {-1, 0};
  int64_t step = 0, k = 1;
  const char *p = name.data() + 5, *end = name.data() + name.size();
  auto [q, ec] = std::from_chars(p, end, step);
  if (ec != std::errc() || q == p) return {-1, 0};
  if (q != end) {
    if (*q != '-') return {-1, 0};
    auto [r, ec2] = std::from_chars(q + 1, end, k);
    if (ec2 != std::errc() || r != end) return {-1, 0};
  }
  return {step, k};
}

json describe(const std::string& bytes) { return {{"bytes", bytes.size()}, {"sha256", sha256_hex(bytes)}}; }

// Removes a directory so that a crash midway leaves no half directory under a checkpoint's name.
void remove_directory(const fs::path& dir) {
  const fs::path doomed = dir.parent_path() / (".old-" + dir.filename().string());
  fs::rename(dir, doomed);
  fs::remove_all(doomed);
  fsync_directory(dir.parent_path().string());
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& model_dir) {
  const fs::path root = fs::path(model_dir) / "checkpoints";
  std::vector<std::tuple<int64_t, int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    auto [step, k] = parse_name(entry.path().filename().string());
    if (step >= 0 && entry.is_directory()) found.emplace_back(step, k, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> dirs;
  for (auto& [step, k, path] : found) dirs.push_back(path);
  return dirs;
}

std::string save_checkpoint(const std::string& model_dir, const Checkpoint& c, int64_t keep) {
  const fs::path root = fs::path(model_dir) / "checkpoints";
  fs::create_directories(root);
  // Leftovers of a save or a removal that a crash interrupted.
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.path().filename().string().starts_with(".")) fs::remove_all(entry.path());

  std::string name = fmt::format("step-{:08}", c.step);
  for (int64_t k = 2; fs::exists(root / name); ++k) name = fmt::format("step-{:08}-{}", c.step, k);
  const fs::path tmp = root / (".tmp-" + name), dir = root / name;
  fs::create_directory(tmp);

  json trainer = c.trainer;
  trainer["step"] = c.step;
  trainer["epoch"] = c.epoch;
  trainer["batch_in_epoch"] = c.batch_in_epoch;
  const std::string parts[] = {safetensors_bytes(c.model), safetensors_bytes(c.optimizer), trainer.dump(2) + "\n"};
  json manifest = {{"format", kFormat}, {"step", c.step}, {"epoch", c.epoch}, {"batch_in_epoch", c.batch_in_epoch}};
  for (int i = 0; i < 3; ++i) {
    write_file_atomic((tmp / kParts[i]).string(), parts[i]);
    manifest["files"][kParts[i]] = describe(parts[i]);
  }
  write_file_atomic((tmp / "manifest.json").string(), manifest.dump(2) + "\n");
  publish_directory(tmp.string(), dir.string());

  auto all = list_checkpoints(model_dir);
  for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i) remove_directory(all[i]);
  return dir.string();
}

Checkpoint load_checkpoint(const std::string& checkpoint_dir) {
  const fs::path dir(checkpoint_dir);
  const std::string manifest_path = (dir / "manifest.json").string();
  GG_CHECK(fs::exists(manifest_path), "checkpoint {}: manifest.json is missing, so its files cannot be checked",
           checkpoint_dir);
  json manifest;
  int64_t step = 0, epoch = 0, batch = 0;
  try {
    manifest = json::parse(read_file(manifest_path));
    GG_CHECK(manifest.at("format") == kFormat, "{}: format '{}', expected '{}'", manifest_path,
             manifest.at("format").dump(), kFormat);
    step = manifest.at("step"), epoch = manifest.at("epoch"), batch = manifest.at("batch_in_epoch");
  } catch (const json::exception& e) {
    fail("{}: damaged ({})", manifest_path, e.what());
  }
  std::string bytes[3];
  for (int i = 0; i < 3; ++i) {
    const std::string path = (dir / kParts[i]).string();
    GG_CHECK(fs::exists(path), "checkpoint {}: {} is missing", checkpoint_dir, kParts[i]);
    bytes[i] = read_file(path);
    json expected, actual = describe(bytes[i]);
    try {
      expected = manifest.at("files").at(kParts[i]);
    } catch (const json::exception&) {
      fail("{}: lists no {}", manifest_path, kParts[i]);
    }
    GG_CHECK(expected == actual,
             "checkpoint {}: {} does not match the manifest ({} bytes, SHA-256 {}; the manifest says {} bytes, "
             "SHA-256 {}): the file is damaged or comes from another checkpoint",
             checkpoint_dir, kParts[i], actual["bytes"].dump(), actual["sha256"].get<std::string>(),
             expected.value("bytes", json()).dump(), expected.value("sha256", json()).dump());
  }
  Checkpoint c;
  c.step = step, c.epoch = epoch, c.batch_in_epoch = batch;
  c.model = parse_safetensors(bytes[0], (dir / kParts[0]).string()).tensors;
  c.optimizer = parse_safetensors(bytes[1], (dir / kParts[1]).string()).tensors;
  try {
    c.trainer = json::parse(bytes[2]);
    GG_CHECK(c.trainer.at("step") == step && c.trainer.at("epoch") == epoch && c.trainer.at("batch_in_epoch") == batch,
             "checkpoint {}: trainer.json is at step {}, epoch {}, batch {}, the manifest at step {}, epoch {}, batch {}",
             checkpoint_dir, c.trainer.at("step").dump(), c.trainer.at("epoch").dump(),
             c.trainer.at("batch_in_epoch").dump(), step, epoch, batch);
  } catch (const json::exception& e) {
    fail("checkpoint {}: trainer.json is damaged ({})", checkpoint_dir, e.what());
  }
  return c;
}

}  // namespace gg::app
