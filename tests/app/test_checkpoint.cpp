// Model directories: safetensors files that PyTorch-side tools can read, atomic saves,
// clear errors for corrupt files, exact round trips, and resuming that matches an
// uninterrupted run.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/toy.h"
#include "glassgrad.h"
#include "app/checkpoint.h"
#include "core/file_io.h"
#include "app/trainer.h"
#include "app/translator.h"
#include "testing.h"

namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) { return gg::testing::scratch_dir(name).string(); }

gg::app::Translator tiny_translator(const std::vector<gg::data::SentencePair>& train) {
  gg::app::TranslatorConfig config;
  config.tokenizer = "char";
  config.rnn = {.embed = 8, .hidden = 16, .dropout = 0.1};
  auto tok = gg::app::make_tokenizer("char", false);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& p : train) {
    src.push_back(tok->encode(p.src));
    tgt.push_back(tok->encode(p.tgt));
  }
  return gg::app::Translator(config, tok, tok, gg::data::Vocab::build(src), gg::data::Vocab::build(tgt));
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, with metadata", "[app][checkpoint]") {
  const std::string dir = temp_dir("st");
  gg::manual_seed(1);
  gg::NamedTensors tensors = {{"a.weight", gg::randn({3, 4})},
                              {"b", gg::randn({2}, {.dtype = gg::DType::Float64})},
                              {"ids", gg::arange(5)},
                              {"mask", gg::gt(gg::randn({2, 2}), 0.0)},
                              {"scalar", gg::scalar_tensor(7.5)}};
  gg::save_safetensors(dir + "/t.safetensors", tensors, {{"format", "pt"}});
  auto loaded = gg::load_safetensors(dir + "/t.safetensors");
  CHECK(loaded.metadata.at("format") == "pt");
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    const gg::Tensor& back = loaded.at(name);
    CHECK(back.shape() == t.shape());
    CHECK(back.dtype() == t.dtype());
    CHECK(back.to_vector<double>() == t.to_vector<double>());
  }
  REQUIRE_THROWS_WITH(loaded.at("missing"), Catch::Contains("missing") && Catch::Contains("a.weight"));
}

TEST_CASE("safetensors: the Python standard library reads glassgrad's file", "[app][checkpoint]") {
  if (std::system("python3 -c 'import json, struct' > /dev/null 2>&1") != 0) {
    WARN("python3 is not available; skipping the standard-library reader check");
    return;
  }
  const std::string dir = temp_dir("py");
  gg::save_safetensors(dir + "/m.safetensors",
                       {{"w", gg::from_vector(std::vector<float>{1.5f, -2.0f, 4.25f}, {3})},
                        {"ids", gg::from_vector(std::vector<int64_t>{1, 2, 3, 4}, {2, 2})}},
                       {{"framework", "glassgrad"}});
  const std::string out = dir + "/out.txt";
  const std::string cmd = "python3 " GG_SOURCE_DIR "/tests/safetensors_reader.py " + dir + "/m.safetensors > " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string text = gg::read_file(out);
  CHECK_THAT(text, Catch::Contains("metadata framework=glassgrad"));
  CHECK_THAT(text, Catch::Contains("w F32 [3] 3.750000"));
  CHECK_THAT(text, Catch::Contains("ids I64 [2, 2] 10.000000"));
}

TEST_CASE("safetensors: truncated or corrupt files are clear errors naming the file", "[app][checkpoint]") {
  const std::string dir = temp_dir("corrupt"), path = dir + "/m.safetensors";
  gg::save_safetensors(path, {{"w", gg::randn({16, 16})}});
  const std::string good = gg::read_file(path);
  gg::testing::write_file(path, good.substr(0, good.size() - 100));  // cut in the middle of the data
  REQUIRE_THROWS_WITH(gg::load_safetensors(path), Catch::Contains(path) && Catch::Contains("truncated"));
  gg::testing::write_file(path, good.substr(0, 5));
  REQUIRE_THROWS_WITH(gg::load_safetensors(path), Catch::Contains(path) && Catch::Contains("truncated"));
  std::string bad_json = good;
  bad_json[8] = '#';  // the header's opening brace
  gg::testing::write_file(path, bad_json);
  REQUIRE_THROWS_WITH(gg::load_safetensors(path), Catch::Contains(path) && Catch::Contains("JSON"));
  std::string huge_header = good;
  huge_header[7] = '\x7f';  // the header length claims far more bytes than the file has
  gg::testing::write_file(path, huge_header);
  REQUIRE_THROWS_WITH(gg::load_safetensors(path), Catch::Contains(path) && Catch::Contains("header claims"));
  REQUIRE_THROWS_WITH(gg::load_safetensors(dir + "/nope.safetensors"), Catch::Contains("cannot open"));
  // Shapes whose number of elements (or bytes) does not fit in 64 bits: 2^32 x 2^32 wraps to 0,
  // 2^62 float32s to 2^64 bytes = 0; a size past int64. Each once passed for a small tensor.
  auto with_header = [&](const std::string& json) {
    std::string header = json + std::string((8 - json.size() % 8) % 8, ' ');
    std::string file(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(file.data(), &n, 8);
    gg::testing::write_file(path, file + header + std::string(16, '\0'));
  };
  for (const char* shape : {"[4294967296, 4294967296]", "[4611686018427387904]", "[18446744073709551615]"}) {
    INFO(shape);
    with_header(fmt::format(R"({{"w":{{"dtype":"F32","shape":{},"data_offsets":[0,16]}}}})", shape));
    REQUIRE_THROWS_WITH(gg::load_safetensors(path),
                        Catch::Contains(path) && Catch::Contains("'w'") &&
                            (Catch::Contains("64-bit count") || Catch::Contains("invalid shape")));
  }
  with_header(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})");  // the same file, a sane shape: loads
  CHECK(gg::load_safetensors(path).at("w").shape() == gg::Shape{2, 2});
}

TEST_CASE("atomic save: a failed or interrupted save leaves the previous file intact", "[app][checkpoint]") {
  const std::string dir = temp_dir("atomic"), path = dir + "/m.safetensors";
  gg::save_safetensors(path, {{"w", gg::ones({4})}});
  const std::string before = gg::read_file(path);
  // An interrupted save leaves only its temporary file behind; the checkpoint still loads.
  gg::testing::write_file(path + ".tmp.12345", before.substr(0, 20));
  CHECK(gg::load_safetensors(path).at("w").to_vector<float>() == std::vector<float>{1, 1, 1, 1});
  // A save that cannot complete (here: the target is a directory) is an error and changes nothing.
  fs::create_directories(dir + "/blocked");
  REQUIRE_THROWS_AS(gg::save_safetensors(dir + "/blocked", {{"w", gg::zeros({4})}}), gg::Error);
  CHECK(gg::read_file(path) == before);
  for (const auto& entry : fs::directory_iterator(dir))
    CHECK((entry.path().filename().string().find(".tmp.") == std::string::npos ||
           entry.path().filename().string() == "m.safetensors.tmp.12345"));  // the failed save cleaned up
}

TEST_CASE("translator: save and load give the same weights and translations", "[app][checkpoint]") {
  const std::string dir = temp_dir("translator");
  auto pairs = gg::data::toy_task("reverse").generate(40, 3);
  gg::manual_seed(2);
  auto t = tiny_translator(pairs);
  t.save(dir);
  auto loaded = gg::app::Translator::load(dir);
  auto state = loaded.model->state_dict();
  size_t i = 0;
  for (const auto& [name, p] : t.model->state_dict()) {
    CHECK(state[i].first == name);
    CHECK(state[i].second.to_vector<float>() == p.to_vector<float>());
    ++i;
  }
  std::vector<std::string> sources = {pairs[0].src, pairs[1].src};
  auto a = t.translate(sources), b = loaded.translate(sources);
  CHECK(a[0].text == b[0].text);
  CHECK(a[1].text == b[1].text);
  REQUIRE_THROWS_WITH(gg::app::Translator::load(dir + "/missing"), Catch::Contains("not a model directory"));
  gg::testing::write_file(dir + "/config.json", "{ not json");
  REQUIRE_THROWS_WITH(gg::app::Translator::load(dir), Catch::Contains("config.json") && Catch::Contains("JSON"));
}

TEST_CASE("trainer: a run without validation pairs trains, saves and draws what it has", "[app][checkpoint]") {
  // Such a run used to fail at its very end: the validation loss of no pairs is not a number,
  // and the loss curve refused to draw a series without a point it could put on its log scale.
  auto pairs = gg::data::toy_task("reverse").generate(16, 5);
  for (int64_t log_every : {1, 50}) {  // 4 steps: every one logged, or none
    INFO("log_every " << log_every);
    const std::string dir = temp_dir("no-valid-" + std::to_string(log_every));
    gg::manual_seed(9);
    auto t = tiny_translator(pairs);
    auto enc = gg::data::encode_pairs(pairs, *t.src_tokenizer, t.src_vocab, *t.tgt_tokenizer, t.tgt_vocab);
    gg::app::TrainOptions o{.out_dir = dir, .epochs = 2, .batch_size = 8, .valid_bleu_sentences = 0,
                               .log_every = log_every, .quiet = true};
    const auto result = gg::app::train(t, enc, {}, {}, o);
    CHECK(result.steps == 4);  // 16 pairs in batches of 8, two epochs
    REQUIRE(result.epochs.size() == 2);
    for (size_t e = 0; e < 2; ++e) {
      CHECK(result.epochs[e].step == 2 * static_cast<int64_t>(e + 1));
      CHECK(std::isfinite(result.epochs[e].train_loss));
      CHECK(result.epochs[e].train_loss > 0);
      CHECK(result.epochs[e].valid_loss == 0.0);  // no pairs: no loss, not 0 / 0
    }
    CHECK(result.step_losses.size() == (log_every == 1 ? 4u : 0u));
    CHECK(gg::app::list_checkpoints(dir).size() == 3);  // at the start and after each epoch
    CHECK(std::filesystem::exists(dir + "/loss.png") == (log_every == 1));  // the training curve, or nothing to draw
  }
}

TEST_CASE("trainer: resuming from a checkpoint continues exactly like an uninterrupted run", "[app][checkpoint]") {
  auto pairs = gg::data::toy_task("reverse").generate(96, 5);
  std::vector<gg::data::SentencePair> train(pairs.begin(), pairs.begin() + 80), valid(pairs.begin() + 80, pairs.end());
  auto run = [&](const std::string& dir, int64_t epochs, bool resume) {
    gg::manual_seed(9);
    auto t = resume ? gg::app::Translator::load(dir) : tiny_translator(train);
    auto enc = gg::data::encode_pairs(train, *t.src_tokenizer, t.src_vocab, *t.tgt_tokenizer, t.tgt_vocab);
    auto enc_valid = gg::data::encode_pairs(valid, *t.src_tokenizer, t.src_vocab, *t.tgt_tokenizer, t.tgt_vocab);
    gg::app::TrainOptions o{.out_dir = dir, .epochs = epochs, .batch_size = 16, .lr = 1e-2,
                               .valid_bleu_sentences = 0, .log_every = 1, .seed = 4, .resume = resume, .quiet = true};
    auto result = gg::app::train(t, enc, enc_valid, valid, o);
    return std::make_pair(result, gg::load_safetensors(gg::app::list_checkpoints(dir).back() + "/model.safetensors"));
  };
  const std::string straight = temp_dir("straight"), resumed = temp_dir("resumed");
  auto [full, full_weights] = run(straight, 3, false);
  run(resumed, 1, false);                               // stop after one epoch...
  auto [rest, rest_weights] = run(resumed, 3, true);    // ...and resume in a new process-like start
  REQUIRE(rest.epochs.size() == 3);  // the first read back from metrics.jsonl
  for (size_t e = 0; e < 3; ++e) {
    CHECK(rest.epochs[e].valid_loss == full.epochs[e].valid_loss);
    CHECK(rest.epochs[e].train_loss == full.epochs[e].train_loss);
  }
  CHECK(rest.step_losses == full.step_losses);
  for (size_t i = 0; i < full_weights.tensors.size(); ++i)
    CHECK(full_weights.tensors[i].second.to_vector<float>() == rest_weights.tensors[i].second.to_vector<float>());
}

TEST_CASE("translate --replace-unk: each <unk> becomes the source token attended to most", "[app]") {
  auto pairs = gg::data::toy_task("reverse").generate(8, 5);
  gg::manual_seed(3);
  auto t = tiny_translator(pairs);
  // An output layer that always says <unk> (the decoder never stops before its length limit).
  for (auto& [name, p] : t.model->named_parameters()) {
    gg::NoGradGuard no_grad;
    if (name == "out.weight") p.copy_(gg::zeros(p.shape()));
    if (name == "out.bias") {
      std::vector<float> bias(static_cast<size_t>(p.numel()), 0.0f);
      bias[gg::data::Vocab::unk_id] = 10;
      p.copy_(gg::from_vector(bias, p.shape()));
    }
  }
  const std::vector<std::string> sources = {pairs[0].src, pairs[1].src};
  for (int64_t beam : {1, 3}) {
    INFO("beam " << beam);
    const auto plain = t.translate(sources, {.beam = beam, .keep_attention = true});
    const auto replaced = t.translate(sources, {.beam = beam, .replace_unk = true});
    for (size_t s = 0; s < sources.size(); ++s) {
      REQUIRE_FALSE(plain[s].target_tokens.empty());
      REQUIRE(replaced[s].target_tokens.size() == plain[s].target_tokens.size());
      for (size_t i = 0; i < plain[s].target_tokens.size(); ++i) {
        CHECK(plain[s].target_tokens[i] == "<unk>");
        const auto& row = plain[s].attention[i];
        const size_t most = static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
        CHECK(replaced[s].target_tokens[i] == plain[s].source_tokens[most]);
      }
    }
  }
}

TEST_CASE("safetensors and config.json: the inputs the fuzzers found bugs with are read or refused cleanly",
          "[app][checkpoint]") {
  const std::string corpus = std::string(GG_SOURCE_DIR) + "/tests/fuzz/corpus/";
  auto parse = [&](const std::string& name) {
    return gg::parse_safetensors(gg::read_file(corpus + "safetensors/" + name), name);
  };
  // A tensor with no elements ([0, 4]) read a null buffer; now it loads, contiguous as any
  // fresh tensor ([0, 0] was not, for a while: found by the fuzzer in CI).
  for (const char* name : {"found-empty-tensor", "found-zero-by-zero"}) {
    const auto empty = parse(name);
    REQUIRE(empty.tensors.size() == 1);
    CHECK(empty.tensors[0].second.numel() == 0);
    CHECK(empty.tensors[0].second.is_contiguous());
  }
  // No tensors at all: saved as "null", unreadable; now "{}", and round trips.
  CHECK(parse("found-no-tensors").tensors.empty());
  CHECK(gg::parse_safetensors(gg::safetensors_bytes({}), "empty").tensors.empty());
  REQUIRE_THROWS_WITH(parse("found-bool-byte"), Catch::Contains("(BOOL) holds the byte") && Catch::Contains("expected 0 or 1"));
  REQUIRE_THROWS_WITH(parse("found-float-offset"), Catch::Contains("not two non-negative integers"));
  REQUIRE_THROWS_WITH(parse("found-shape-overflow"), Catch::Contains("strides larger than a 64-bit count"));
  // An integer size given as 1e30 was converted to int64 (undefined); 1.5 was truncated.
  const auto config = nlohmann::json::parse(gg::read_file(corpus + "translator_config/found-float-size"));
  REQUIRE_THROWS_WITH(gg::app::TranslatorConfig::from_json(config, "config.json"),
                      Catch::Contains("config.json: '") && Catch::Contains("must be an integer"));
}

