// The model directory is the user's: build/bin/translate never replaces a model unasked, a run
// that fails early changes nothing, --resume refuses options that contradict the run, changed
// data is refused, and bad input lines are reported with their number while the rest goes on.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <thread>

#include "core/file_io.h"
#include "process.h"

#ifdef GG_TRANSLATE_BIN

namespace fs = std::filesystem;
using cli::RunResult;
using cli::scratch;
using cli::translate;

namespace {

std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data, "--out", out, "--split-mod", "10", "--epochs", "1", "--batch-size", "16",
          "--embed", "8", "--hidden", "16", "--valid-bleu", "0"};
}

std::string words(int n) {  // a line of n tokens
  std::string line;
  for (int i = 0; i < n; ++i) line += "x ";
  return line;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Every file of a directory tree and its SHA-256: what "changes nothing" compares.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = gg::sha256_hex(gg::read_file(e.path()));
  return files;
}

}  // namespace

TEST_CASE("translate train: a model directory is replaced only with --overwrite, and a failed run changes nothing",
          "[reliability]") {
  const fs::path dir = scratch("overwrite");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  RunResult r = translate(train_args(data, model));
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto before = snapshot(model);

  r = translate(train_args(data, model));  // finding 6: used to replace half the directory silently
  CHECK(r.status == 1);
  CHECK(r.err.find("already holds a model: continue its training with --resume, or replace it with --overwrite") !=
        std::string::npos);
  r = translate(train_args(data, model) + std::vector<std::string>{"--overwrite", "--src-col", "3"});
  CHECK(r.status == 1);  // fails while reading the data: it has two columns
  CHECK(r.err.find("column") != std::string::npos);
  CHECK(snapshot(model) == before);
  r = translate(train_args(data, model) + std::vector<std::string>{"--resume", "--overwrite"});
  CHECK(r.status == 1);
  CHECK(snapshot(model) == before);

  // --overwrite: a new run, with nothing of the old one left (the old run had 2 checkpoints).
  r = translate(train_args(data, model) + std::vector<std::string>{"--overwrite", "--seed", "5"});
  REQUIRE(r.status == 0);
  CHECK(snapshot(model) != before);
  int checkpoints = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(model + "/checkpoints")) ++checkpoints;
  CHECK(checkpoints == 2);
  std::ifstream metrics(model + "/metrics.jsonl");
  std::string line;
  int epochs = 0;
  while (std::getline(metrics, line)) epochs += line.find("valid_loss") != std::string::npos;
  CHECK(epochs == 1);
  fs::remove_all(dir);
}

TEST_CASE("translate train: a model directory in use by another run is refused, and a killed run leaves it unlocked",
          "[reliability]") {
  // Two trainers in one directory removed each other's checkpoints in progress (seen by hand: a
  // published checkpoint without its weights).
  const fs::path dir = scratch("lock");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  REQUIRE(translate(train_args(data, model)).status == 0);
  // A long run; the test goes on once it holds the directory's lock (flock on DIR/.lock).
  const cli::Spawned busy = cli::spawn(GG_TRANSLATE_BIN, {"train", "--out", model, "--resume", "--epochs", "1000"},
                                       {.env = {{"OMP_NUM_THREADS", "1"}}});
  bool locked = false;
  for (int i = 0; i < 300 && !locked; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int fd = ::open((model + "/.lock").c_str(), O_RDONLY);
    if (fd < 0) continue;
    locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    ::close(fd);  // releases the lock if this test took it
  }
  REQUIRE(locked);
  // A file being written by the run that holds the directory: the refused runs must leave it
  // (they once removed every temporary before they looked at the lock, and the long run then
  // failed to publish its config.json).
  const std::string in_progress = model + "/config.json.tmp.999999";
  std::ofstream(in_progress) << "{}";
  std::vector<RunResult> refused;
  for (const auto& args : {std::vector<std::string>{"train", "--out", model, "--resume", "--epochs", "1000"},
                           train_args(data, model) + std::vector<std::string>{"--overwrite"}})
    refused.push_back(translate(args));
  ::kill(busy.pid, SIGKILL);
  const RunResult killed = cli::wait(busy);
  INFO("the long run's stderr: " << killed.err);  // if it ended by itself, why
  CHECK(killed.status == 128 + SIGKILL);
  for (const RunResult& r : refused) {
    INFO(r.err);
    CHECK(r.status == 1);
    CHECK(r.err.find("is in use by another process") != std::string::npos);
  }
  CHECK(fs::exists(in_progress));
  RunResult r = translate({"train", "--out", model, "--resume", "--epochs", "3"});
  INFO(r.err);
  CHECK(r.status == 0);
  fs::remove_all(dir);
}

TEST_CASE("translate train --resume: options that contradict the saved run are listed, the rest are kept",
          "[reliability]") {
  const fs::path dir = scratch("contradict");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  REQUIRE(translate(train_args(data, model) + std::vector<std::string>{"--lr", "0.002"}).status == 0);
  const auto before = snapshot(model);
  RunResult r = translate({"train", "--out", model, "--resume", "--epochs", "2", "--hidden", "32", "--lr", "0.01",
                           "--arch", "transformer", "--batch-size", "8"});
  CHECK(r.status == 1);
  for (const char* named : {"--hidden 32: the run in", "--lr 0.01:", "--arch \"transformer\":", "--batch-size 8:"}) {
    INFO(named << " in: " << r.err);
    CHECK(r.err.find(named) != std::string::npos);
  }
  CHECK(snapshot(model) == before);
  // Without them it continues with the saved options (lr 0.002, not the default 0.001).
  r = translate({"train", "--out", model, "--resume", "--epochs", "2", "--lr", "0.002", "--embed", "8"});
  INFO(r.err);
  CHECK(r.status == 0);
  std::ifstream metrics(model + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  CHECK(last.find("\"epoch\":2") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("translate train --tokenizer sentencepiece: --sp-model and --sp-joint are used, saved and kept on --resume") {
  const fs::path dir = scratch("subwords");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  const std::vector<std::string> sp{"--tokenizer", "sentencepiece", "--sp-model", "unigram", "--sp-joint", "--sp-vocab", "60"};
  RunResult r = translate(train_args(data, model) + sp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  // One model of both languages: the two sides' tokenizers are the same file.
  CHECK(gg::read_file(model + "/src.model") == gg::read_file(model + "/tgt.model"));
  const auto config = nlohmann::json::parse(gg::read_file(model + "/config.json"));
  CHECK(config.at("tokenizer") == "sentencepiece");
  CHECK(config.at("extra").at("vocab").at("sp_model") == "unigram");
  CHECK(config.at("extra").at("vocab").at("sp_joint") == true);
  CHECK(config.at("extra").at("vocab").at("sp_vocab") == 60);
  r = translate({"train", "--out", model, "--resume", "--epochs", "2", "--sp-model", "bpe"});
  CHECK(r.status == 1);
  CHECK(r.err.find("--sp-model \"bpe\": the run in") != std::string::npos);
  // A vocabulary smaller than the characters the corpus needs: the error names the options.
  r = translate(train_args(data, (dir / "small").string()) +
                std::vector<std::string>{"--tokenizer", "sentencepiece", "--sp-vocab", "10"});
  CHECK(r.status == 1);
  CHECK(r.err.find("--tokenizer sentencepiece --sp-model bpe --sp-vocab 10: training the src model failed") !=
        std::string::npos);
  CHECK(!fs::exists(dir / "small"));
  // Separate models (the default): the two sides differ.
  const std::string separate = (dir / "separate").string();
  r = translate(train_args(data, separate) + std::vector<std::string>{"--tokenizer", "sentencepiece", "--sp-vocab", "80"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(gg::read_file(separate + "/src.model") != gg::read_file(separate + "/tgt.model"));
  fs::remove_all(dir);
}

TEST_CASE("translate eval and --resume refuse data that changed since training", "[reliability]") {
  // Finding 7: the split names lines by number; one line inserted at the top moved held-out
  // sentences into training and the other way round, and eval said nothing.
  const fs::path dir = scratch("changed");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  REQUIRE(translate(train_args(data, model)).status == 0);
  REQUIRE(translate({"eval", "--model", model, "--samples", "0"}).status == 0);
  const std::string original = gg::read_file(data);
  std::ofstream(data) << "una frase nueva\ta new sentence\n" << original;
  RunResult r = translate({"eval", "--model", model, "--samples", "0"});
  CHECK(r.status == 1);
  CHECK(r.err.find("has changed since") != std::string::npos);
  CHECK(r.err.find("--allow-changed-data") != std::string::npos);
  r = translate({"train", "--out", model, "--resume", "--epochs", "2"});
  CHECK(r.status == 1);
  CHECK(r.err.find("has changed since") != std::string::npos);
  r = translate({"eval", "--model", model, "--samples", "0", "--allow-changed-data"});
  CHECK(r.status == 0);
  CHECK(r.err.find("WARNING") != std::string::npos);
  fs::remove_all(dir);
}


TEST_CASE("translate translate: a bad line is reported by number, a blank line stays blank, the rest goes on",
          "[reliability]") {
  // Finding 8: invalid UTF-8 stopped the run with no line number and dropped the rest; a blank
  // line gave an invented sentence.
  const fs::path dir = scratch("lines");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string();
  REQUIRE(translate(train_args(data, model)).status == 0);
  const std::string input = "3 March 2001\n\nbad \xff\xfe here\n4 May 1999\n" + words(3000) + "\n";
  RunResult r = translate({"translate", "--model", model, "--max-length", "100"}, {.input = input});
  CHECK(r.status == 1);
  CHECK(r.err.find("line 3:") != std::string::npos);
  CHECK(r.err.find("line 5: 3000 tokens, more than --max-length 100") != std::string::npos);
  CHECK(r.err.find("2 of 5 lines could not be translated") != std::string::npos);
  std::vector<std::string> lines;
  std::istringstream out(r.out);
  for (std::string l; std::getline(out, l);) lines.push_back(l);
  REQUIRE(lines.size() == 5);  // one output line per input line
  CHECK_FALSE(lines[0].empty());
  CHECK(lines[1].empty());
  CHECK(lines[2].empty());
  CHECK_FALSE(lines[3].empty());
  CHECK(lines[4].empty());
  r = translate({"translate", "--model", model, "--skip-bad", "--max-length", "100"}, {.input = input});
  CHECK(r.status == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);  // the two bad lines left out

  // Finding 8: --epochs -1 exited 0 with an untrained model.
  r = translate(train_args(data, (dir / "other").string()) + std::vector<std::string>{"--epochs", "-1"});
  CHECK(r.status != 0);
  CHECK(r.err.find("--epochs") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "other" / "config.json"));
  fs::remove_all(dir);
}

TEST_CASE("translate train: sizes too big for the machine are refused before allocating, naming the options",
          "[reliability]") {
  // Finding 1: --hidden 1000000000000 printed std::bad_alloc, --layers 100000000 ran until the
  // machine ran out of memory.
  const fs::path dir = scratch("sizes");
  const std::string data = cli::write_dates_tsv(dir, 100), model = (dir / "model").string();
  for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
           {"--hidden", "100000000"}, {"--layers", "100000000"}, {"--embed", "4611686018427387904"}}) {
    RunResult r = translate({"train", "--data", data, "--out", model, option, value});
    INFO(r.err);
    CHECK(r.status == 1);
    CHECK(r.err.find(option + " " + value) != std::string::npos);
    CHECK(r.err.find("GiB for the weights") != std::string::npos);
    CHECK_FALSE(fs::exists(model));
  }
  RunResult r = translate({"train", "--data", data, "--out", model, "--arch", "transformer", "--ff", "0"});
  CHECK(r.status != 0);
  CHECK(r.err.find("--ff") != std::string::npos);
  // The same from a config.json: the file is named.
  REQUIRE(translate({"train", "--data", data, "--out", model, "--epochs", "1", "--embed", "8", "--hidden", "16"}).status == 0);
  auto config = nlohmann::json::parse(gg::read_file(model + "/config.json"));
  config["rnn"]["hidden"] = int64_t{1} << 40;
  std::ofstream(model + "/config.json") << config.dump();
  r = translate({"eval", "--model", model});
  CHECK(r.status == 1);
  CHECK(r.err.find("config.json: an RNN with embed 8, hidden 1099511627776") != std::string::npos);
  fs::remove_all(dir);
}

#endif  // GG_TRANSLATE_BIN
