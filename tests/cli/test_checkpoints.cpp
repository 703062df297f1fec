// Checkpoints as one unit: a mixed or damaged checkpoint is refused with the file that does not
// match, a write that fails (a full disk, injected) leaves the previous checkpoint and files
// loadable, and what a model directory loads is checked (dtype, finiteness).
#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "core/file_io.h"
#include "data/corpus.h"
#include "data/toy.h"
#include "glassgrad.h"
#include "app/checkpoint.h"
#include "app/trainer.h"
#include "app/translator.h"
#include "testing.h"

namespace fs = std::filesystem;
using gg::app::Checkpoint;

namespace {

std::string temp_dir(const std::string& name) { return gg::testing::scratch_dir(name).string(); }

Checkpoint checkpoint_at(int64_t step) {
  const float v = static_cast<float>(step);
  return {.step = step, .epoch = step / 10, .batch_in_epoch = step % 10,
          .model = {{"w", gg::from_vector(std::vector<float>{v, v + 1}, {2})}},
          .optimizer = {{"m", gg::from_vector(std::vector<float>{-v}, {1})}},
          .trainer = {{"note", "step " + std::to_string(step)}}};
}

void copy_over(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// Makes the Nth write from now fail as a full disk does; undone at the end of the scope.
struct FailNthWrite {
  explicit FailNthWrite(int n) {
    gg::set_write_fault([n, count = 0](const std::string&) mutable { return ++count == n ? ENOSPC : 0; });
  }
  ~FailNthWrite() { gg::set_write_fault({}); }
};

}  // namespace

TEST_CASE("checkpoints: a mixed or damaged set is refused, naming what does not match", "[reliability]") {
  const std::string dir = temp_dir("mixed");
  gg::app::save_checkpoint(dir, checkpoint_at(11), 0);
  gg::app::save_checkpoint(dir, checkpoint_at(12), 0);
  const auto saved = gg::app::list_checkpoints(dir);
  REQUIRE(saved.size() == 2);
  const std::string older = saved[0], newer = saved[1];
  const Checkpoint c = gg::app::load_checkpoint(newer);
  CHECK(c.step == 12);
  CHECK(c.model.at(0).second.to_vector<float>() == std::vector<float>{12, 13});
  CHECK(c.trainer.at("note") == "step 12");

  for (const char* part : {"model.safetensors", "optimizer.safetensors", "trainer.json"}) {
    INFO(part);
    const std::string mixed = temp_dir(std::string("mixed-") + part);
    fs::copy(newer, mixed, fs::copy_options::recursive);
    copy_over(older + "/" + part, mixed + "/" + part);  // the part of the checkpoint before
    REQUIRE_THROWS_WITH(gg::app::load_checkpoint(mixed),
                        Catch::Contains(part) && Catch::Contains("does not match the manifest"));
    fs::remove(mixed + "/" + part);
    REQUIRE_THROWS_WITH(gg::app::load_checkpoint(mixed), Catch::Contains(part) && Catch::Contains("missing"));
  }
  const std::string damaged = temp_dir("damaged-manifest");
  fs::copy(newer, damaged, fs::copy_options::recursive);
  std::ofstream(damaged + "/manifest.json") << "{\"format\": \"glassgrad checkpoint 1\", \"step\": ";
  REQUIRE_THROWS_WITH(gg::app::load_checkpoint(damaged), Catch::Contains("manifest.json: damaged"));
  std::ofstream(damaged + "/manifest.json") << "[1, 2]";
  REQUIRE_THROWS_WITH(gg::app::load_checkpoint(damaged), Catch::Contains("manifest.json: damaged"));
  fs::remove(damaged + "/manifest.json");
  REQUIRE_THROWS_WITH(gg::app::load_checkpoint(damaged), Catch::Contains("manifest.json is missing"));
  // A manifest that agrees with its files but not with trainer.json's position.
  const std::string moved = temp_dir("moved");
  fs::copy(newer, moved, fs::copy_options::recursive);
  const std::string manifest = gg::read_file(moved + "/manifest.json");
  auto m = nlohmann::json::parse(manifest);
  m["step"] = 13;
  std::ofstream(moved + "/manifest.json") << m.dump();
  REQUIRE_THROWS_WITH(gg::app::load_checkpoint(moved), Catch::Contains("trainer.json is at step 12"));
}

TEST_CASE("checkpoints: a write that fails in any file of a save leaves the previous checkpoint", "[reliability]") {
  const std::string dir = temp_dir("enospc");
  gg::app::save_checkpoint(dir, checkpoint_at(5), 2);
  const char* parts[] = {"model.safetensors", "optimizer.safetensors", "trainer.json", "manifest.json"};
  for (int n = 1; n <= 4; ++n) {
    INFO("write " << n << " fails: " << parts[n - 1]);
    {
      FailNthWrite fail(n);
      REQUIRE_THROWS_WITH(gg::app::save_checkpoint(dir, checkpoint_at(6), 2),
                          Catch::Contains(parts[n - 1]) && Catch::Contains("ENOSPC"));
    }
    const auto saved = gg::app::list_checkpoints(dir);
    REQUIRE(saved.size() == 1);
    CHECK(gg::app::load_checkpoint(saved.back()).step == 5);
  }
  gg::app::save_checkpoint(dir, checkpoint_at(6), 2);  // the leftovers do not get in the way
  CHECK(gg::app::load_checkpoint(gg::app::list_checkpoints(dir).back()).step == 6);
  for (int64_t step = 7; step < 12; ++step) gg::app::save_checkpoint(dir, checkpoint_at(step), 2);
  const auto kept = gg::app::list_checkpoints(dir);
  REQUIRE(kept.size() == 2);  // --keep-checkpoints 2
  CHECK(gg::app::load_checkpoint(kept[0]).step == 10);
  CHECK(gg::app::load_checkpoint(kept[1]).step == 11);
  for (const auto& entry : fs::directory_iterator(dir + "/checkpoints"))
    CHECK_FALSE(entry.path().filename().string().starts_with("."));  // no temporary left behind
}

TEST_CASE("model files: a failed write of a vocabulary or split keeps the previous file whole", "[reliability]") {
  // Finding 5: vocabularies and split.txt were written in place: a failed write left a cut file.
  const std::string dir = temp_dir("vocab");
  const auto vocab = gg::data::Vocab::build({{"el", "perro", "come"}, {"el", "gato"}});
  vocab.save(dir + "/src.vocab");
  const std::string before = gg::read_file(dir + "/src.vocab");
  gg::data::Split split{.train = {0, 1, 2}, .valid = {3}, .test = {4}};
  gg::data::save_split(split, dir + "/split.txt");
  {
    FailNthWrite fail(1);
    const auto bigger = gg::data::Vocab::build({{"un", "libro", "nuevo", "rojo"}});
    REQUIRE_THROWS_WITH(bigger.save(dir + "/src.vocab"), Catch::Contains("src.vocab") && Catch::Contains("ENOSPC"));
  }
  {
    FailNthWrite fail(1);
    REQUIRE_THROWS_WITH(gg::data::save_split({.train = {0}, .valid = {}, .test = {}}, dir + "/split.txt"), Catch::Contains("ENOSPC"));
  }
  CHECK(gg::read_file(dir + "/src.vocab") == before);
  CHECK(gg::data::Vocab::load(dir + "/src.vocab").size() == vocab.size());
  CHECK(gg::data::load_split(dir + "/split.txt").train == split.train);
}

TEST_CASE("loading weights refuses another dtype and names non-finite values", "[reliability]") {
  // Finding 8: F64 or BOOL data for a float32 parameter was cast silently, NaN loaded silently.
  gg::nn::Linear layer(3, 2);
  auto state = layer.state_dict();
  auto as_double = state;
  as_double[0].second = as_double[0].second.to(gg::DType::Float64);
  REQUIRE_THROWS_WITH(layer.load_state_dict(as_double), Catch::Contains("'weight' is float64") &&
                                                           Catch::Contains("expects float32"));
  auto with_nan = state;
  with_nan[1].second = gg::from_vector(std::vector<float>{1.0f, std::nanf("")}, {2});
  REQUIRE_THROWS_WITH(layer.load_state_dict(with_nan), Catch::Contains("'bias' holds 1 non-finite value"));
  layer.load_state_dict(state);  // the right dtype and finite: loads
}

TEST_CASE("trainer: --resume of a damaged newest checkpoint says which file and how to go back", "[reliability]") {
  auto pairs = gg::data::toy_task("reverse").generate(48, 5);
  std::vector<gg::data::SentencePair> train(pairs.begin(), pairs.begin() + 40), valid(pairs.begin() + 40, pairs.end());
  const std::string dir = temp_dir("resume-damaged");
  gg::app::TranslatorConfig config;
  config.tokenizer = "char";
  config.rnn = {.embed = 8, .hidden = 16};
  auto tok = gg::app::make_tokenizer("char", false);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& p : train) src.push_back(tok->encode(p.src)), tgt.push_back(tok->encode(p.tgt));
  gg::app::Translator t(config, tok, tok, gg::data::Vocab::build(src), gg::data::Vocab::build(tgt));
  auto enc = gg::data::encode_pairs(train, *tok, t.src_vocab, *tok, t.tgt_vocab);
  gg::app::TrainOptions o{.out_dir = dir, .epochs = 2, .batch_size = 8, .valid_bleu_sentences = 0, .quiet = true};
  gg::app::train(t, enc, {}, {}, o);
  const auto saved = gg::app::list_checkpoints(dir);
  REQUIRE(saved.size() == 3);
  copy_over(saved[1] + "/optimizer.safetensors", saved[2] + "/optimizer.safetensors");  // a mixed set
  o.resume = true;
  o.epochs = 3;
  REQUIRE_THROWS_WITH(gg::app::train(t, enc, {}, {}, o),
                      Catch::Contains("optimizer.safetensors does not match") && Catch::Contains("remove " + saved[2]));
  o.lr = 0.5;  // and options that contradict the run
  fs::remove_all(saved[2]);
  REQUIRE_THROWS_WITH(gg::app::train(t, enc, {}, {}, o), Catch::Contains("lr: 0.5 now, 0.001 in the run"));
  o.lr = 1e-3;
  CHECK(gg::app::train(t, enc, {}, {}, o).steps == 15);  // from the epoch-1 checkpoint: epochs 2 and 3
}
