// build/bin/translate used on a test set: batched translation gives exactly what one line at a
// time gives, in input order; n-best lists, output files, and averaged checkpoints.
#include <catch2/catch.hpp>

#include <sstream>

#include "core/file_io.h"
#include "core/safetensors.h"
#include "process.h"

#ifdef GG_TRANSLATE_BIN

namespace fs = std::filesystem;
using cli::RunResult;
using cli::translate;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Sources of different lengths, as the test set of a real corpus has, and a blank line.
std::string input_text(const std::string& data) {
  std::string input;
  const auto rows = lines_of(gg::read_file(data));
  for (size_t i = 0; i < 40; ++i) input += rows[i].substr(0, rows[i].find('\t')) + (i == 17 ? "\n\n" : "\n");
  return input;
}

}  // namespace

TEST_CASE("translate translate: batches of any size give what one line at a time gives, both arches") {
  const fs::path dir = cli::scratch("batched");
  const std::string data = cli::write_dates_tsv(dir, 200);
  const std::string input = input_text(data);
  for (const std::string arch : {"rnn", "transformer"}) {
    INFO(arch);
    const std::string model = (dir / arch).string();
    RunResult r = translate({"train", "--data", data, "--out", model, "--epochs", "2", "--batch-size", "16",
                             "--valid-bleu", "0", "--arch", arch, "--embed", "16", "--hidden", "32", "--d-model", "16",
                             "--heads", "2", "--enc-layers", "1", "--dec-layers", "1", "--ff", "32"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    for (const std::string beam : {"1", "3"}) {
      INFO("beam " << beam);
      const RunResult one = translate({"translate", "--model", model, "--beam", beam, "--batch-size", "1"}, {.input = input});
      const RunResult batched = translate({"translate", "--model", model, "--beam", beam, "--batch-size", "7"}, {.input = input});
      REQUIRE(one.status == 0);
      REQUIRE(batched.status == 0);
      CHECK(batched.out == one.out);
      CHECK(lines_of(one.out).size() == 41);  // one line per input line, the blank one included
      CHECK(lines_of(one.out)[18].empty());
    }
    // --nbest: N lines per input line, the first one the beam's translation; --output: the same text.
    const std::string file = (dir / (arch + ".out")).string();
    const RunResult best = translate({"translate", "--model", model, "--beam", "3", "--output", file}, {.input = input});
    const RunResult nbest = translate({"translate", "--model", model, "--beam", "3", "--nbest", "3"}, {.input = input});
    REQUIRE(nbest.status == 0);
    CHECK(best.out.empty());
    const auto best_lines = lines_of(gg::read_file(file)), nbest_lines = lines_of(nbest.out);
    REQUIRE(best_lines.size() == 41);
    REQUIRE(nbest_lines.size() == 40 * 3 + 1);
    CHECK(nbest_lines[0].starts_with("0 ||| " + best_lines[0] + " ||| "));
    CHECK(nbest_lines[3].starts_with("1 ||| "));
    CHECK(nbest_lines[3 * 18] == "18 |||  ||| 0");  // the blank line
    // --precision bf16: bfloat16 products (float32, and a note, where the CPU lacks them); a
    // near-tie may change a token, never the shape of the output.
    const RunResult bf16 = translate({"translate", "--model", model, "--beam", "3", "--precision", "bf16"}, {.input = input});
    REQUIRE(bf16.status == 0);
    CHECK(lines_of(bf16.out).size() == 41);
    CHECK(lines_of(bf16.out)[18].empty());
    if (!gg::bf16_is_fast()) CHECK(bf16.err.find("decoding in float32") != std::string::npos);
    const RunResult bad = translate({"translate", "--model", model, "--precision", "fp16"}, {.input = input});
    CHECK(bad.status != 0);
    CHECK(bad.err.find("--precision") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("translate eval --output writes the hypotheses in test order, batching does not change the scores, --profile adds the op table") {
  const fs::path dir = cli::scratch("eval-output");
  const std::string data = cli::write_dates_tsv(dir, 300), model = (dir / "model").string();
  REQUIRE(translate({"train", "--data", data, "--out", model, "--split-mod", "10", "--epochs", "2", "--embed", "16",
                     "--hidden", "32", "--valid-bleu", "0"}).status == 0);
  const std::string file = (dir / "hyp.txt").string();
  const RunResult one = translate({"eval", "--model", model, "--batch-size", "1", "--samples", "2"});
  const RunResult batched =
      translate({"eval", "--model", model, "--batch-size", "16", "--output", file, "--samples", "2", "--profile"});
  INFO(one.err << batched.err);
  REQUIRE(one.status == 0);
  REQUIRE(batched.status == 0);
  CHECK(batched.out.find("decoding 30 sentences") != std::string::npos);  // --profile: the op table
  CHECK(batched.out.find("matmul ") != std::string::npos);
  const auto a = lines_of(one.out), b = lines_of(batched.out);
  auto bleu_line = [](const std::vector<std::string>& lines) {
    for (const auto& l : lines)
      if (l.starts_with("BLEU")) return l;
    return std::string();
  };
  CHECK_FALSE(bleu_line(a).empty());
  CHECK(bleu_line(a) == bleu_line(b));
  const auto hypotheses = lines_of(gg::read_file(file));
  CHECK(hypotheses.size() == 30);  // the test split: lines i % 10 == 0
  // The samples printed are the first test sentences' translations, as the file has them.
  for (size_t i = 0; i < b.size(); ++i)
    if (b[i].starts_with("    -> ")) {
      CHECK(b[i].substr(7) == hypotheses.at(0));
      break;
    }
  fs::remove_all(dir);
}

TEST_CASE("translate average: the mean of the last checkpoints' weights, as a model directory that evaluates") {
  const fs::path dir = cli::scratch("average");
  const std::string data = cli::write_dates_tsv(dir, 200), model = (dir / "model").string(),
                    averaged = (dir / "averaged").string();
  REQUIRE(translate({"train", "--data", data, "--out", model, "--split-mod", "10", "--epochs", "3", "--embed", "8",
                     "--hidden", "16", "--valid-bleu", "0", "--keep-checkpoints", "0"}).status == 0);
  RunResult r = translate({"average", "--model", model, "--last", "9", "--out", averaged});
  CHECK(r.status == 1);
  CHECK(r.err.find("has 4 checkpoint(s)") != std::string::npos);
  r = translate({"average", "--model", model, "--last", "2", "--out", averaged});
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::vector<std::string> checkpoints;
  for (const auto& e : fs::directory_iterator(model + "/checkpoints")) checkpoints.push_back(e.path().string());
  std::sort(checkpoints.begin(), checkpoints.end());
  const auto a = gg::load_safetensors(checkpoints[2] + "/model.safetensors"),
             b = gg::load_safetensors(checkpoints[3] + "/model.safetensors"),
             mean = gg::load_safetensors(averaged + "/model.safetensors");
  REQUIRE(mean.tensors.size() == a.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto x = a.tensors[i].second.to_vector<float>(), y = b.tensors[i].second.to_vector<float>(),
               m = mean.tensors[i].second.to_vector<float>();
    for (size_t k = 0; k < x.size(); ++k) REQUIRE(m[k] == static_cast<float>((double(x[k]) + double(y[k])) / 2));
  }
  r = translate({"eval", "--model", averaged, "--samples", "0"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(translate({"average", "--model", model, "--last", "2", "--out", averaged}).status == 1);  // no --overwrite
  // The same at the end of training: train --average-last 2 writes OUT-average.
  const std::string again = (dir / "again").string();
  r = translate({"train", "--data", data, "--out", again, "--split-mod", "10", "--epochs", "3", "--embed", "8",
                 "--hidden", "16", "--valid-bleu", "0", "--keep-checkpoints", "0", "--average-last", "2"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(gg::read_file(again + "-average/model.safetensors") == gg::read_file(averaged + "/model.safetensors"));
  fs::remove_all(dir);
}

#endif  // GG_TRANSLATE_BIN
