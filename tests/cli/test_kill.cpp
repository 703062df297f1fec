// A training run survives kill -9, Ctrl-C and SIGTERM: build/bin/translate is killed at many
// points (in the middle of file writes, and at random times), resumed until it finishes, and
// must end exactly where the run that was never interrupted ends: the same weights, optimizer
// state and metrics (apart from timings).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "process.h"

#ifdef GG_TRANSLATE_BIN

namespace fs = std::filesystem;
using cli::RunResult;
using cli::scratch;
using cli::translate;

namespace {

// A tiny run with a checkpoint every 3 steps: 40 steps in 2 epochs, about 80 file writes.
std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data, "--out", out, "--split-mod", "10", "--epochs", "2", "--batch-size", "16",
          "--embed", "8", "--hidden", "16", "--valid-bleu", "5", "--save-every", "3", "--keep-checkpoints", "2"};
}

// Resumes a stopped run to its end; a run killed before its first checkpoint starts over.
void finish(const std::string& data, const std::string& out) {
  auto args = train_args(data, out);
  args.push_back("--resume");
  RunResult r = translate(args);
  if (r.status == 0) return;
  INFO(r.err);
  const bool nothing_saved =
      r.err.find("no checkpoint") != std::string::npos || r.err.find("holds no model") != std::string::npos;
  REQUIRE(nothing_saved);
  args.back() = "--overwrite";
  r = translate(args);
  INFO(r.err);
  REQUIRE(r.status == 0);
}

// metrics.jsonl without its timings.
std::vector<nlohmann::json> metrics(const std::string& dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    j.erase("tok_per_s");
    lines.push_back(j);
  }
  return lines;
}

std::string newest_checkpoint(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir + "/checkpoints")) names.push_back(e.path().string());
  std::sort(names.begin(), names.end());
  return names.back();
}

void require_same_run(const std::string& reference, const std::string& dir) {
  CHECK(metrics(dir) == metrics(reference));
  CHECK(gg::read_file(dir + "/model.safetensors") == gg::read_file(reference + "/model.safetensors"));
  const std::string a = newest_checkpoint(reference), b = newest_checkpoint(dir);
  CHECK(fs::path(a).filename() == fs::path(b).filename());
  CHECK(gg::read_file(a + "/model.safetensors") == gg::read_file(b + "/model.safetensors"));
  CHECK(gg::read_file(a + "/optimizer.safetensors") == gg::read_file(b + "/optimizer.safetensors"));
}

}  // namespace

TEST_CASE("kill -9 at 20+ points, during saves and between them: the resumed run ends bit-identical", "[reliability]") {
  const fs::path dir = scratch("kill9");
  const std::string data = cli::write_dates_tsv(dir, 400), reference = (dir / "reference").string();
  const auto start = std::chrono::steady_clock::now();
  RunResult r = translate(train_args(data, reference));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.err);
  REQUIRE(r.status == 0);

  int kills = 0;
  // In the middle of the Nth file write: the split and vocabularies, the first save, checkpoints,
  // the best model after each epoch.
  for (int n : {1, 2, 4, 5, 7, 9, 12, 15, 19, 24, 30, 37, 45, 54, 64, 75}) {
    const std::string out = (dir / ("write-" + std::to_string(n))).string();
    r = translate(train_args(data, out), {.env = {{"GG_KILL_AT_WRITE", std::to_string(n)}}});
    INFO("killed at write " << n << ": " << r.err);
    if (r.status == 0) continue;  // the run made fewer writes
    REQUIRE(r.status == 128 + SIGKILL);
    ++kills;
    finish(data, out);
    require_same_run(reference, out);
  }
  // At random times, wherever the run happens to be.
  std::mt19937 rng(7);
  for (int i = 0; i < 8; ++i) {
    const double when = std::uniform_real_distribution<double>(0.05, 0.95)(rng) * seconds;
    const std::string out = (dir / ("time-" + std::to_string(i))).string();
    r = translate(train_args(data, out), {.signal_after_seconds = when, .signal = SIGKILL});
    INFO("killed after " << when << " s: " << r.err);
    if (r.status == 128 + SIGKILL) ++kills;
    finish(data, out);
    require_same_run(reference, out);
  }
  CHECK(kills >= 20);
  fs::remove_all(dir);
}

TEST_CASE("SIGINT and SIGTERM: the run saves, says how to resume, exits 130 / 143, and resumes exactly",
          "[reliability]") {
  const fs::path dir = scratch("interrupt");
  const std::string data = cli::write_dates_tsv(dir, 400), reference = (dir / "reference").string();
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(translate(train_args(data, reference)).status == 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string out = (dir / std::to_string(sig)).string();
    RunResult r = translate(train_args(data, out), {.signal_after_seconds = 0.6 * seconds, .signal = sig});
    INFO(r.out << r.err);
    if (r.status == 0) continue;  // the signal came after the run ended: nothing to check
    CHECK(r.status == 128 + sig);
    CHECK(r.out.find("--resume") != std::string::npos);
    finish(data, out);
    require_same_run(reference, out);
  }
  fs::remove_all(dir);
}

#endif  // GG_TRANSLATE_BIN
