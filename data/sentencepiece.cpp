#include "data/sentencepiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"
#include "core/random.h"
#include "data/utf8.h"

namespace gg::data {

namespace {

void check_status(const sentencepiece::util::Status& status, std::string_view what) {
  if (!status.ok()) fail("SentencePiece: {}: {}", what, status.ToString());
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer()
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

SentencePieceTokenizer SentencePieceTokenizer::train(const std::vector<std::string>& sentences,
                                                     const std::string& model_prefix,
                                                     const SentencePieceOptions& options) {
  GG_CHECK(options.vocab_size >= 4, "SentencePiece: vocab_size must be at least 4, got {}", options.vocab_size);
  GG_CHECK(!sentences.empty(), "SentencePiece: no sentences to train on");
  auto dir = std::filesystem::path(model_prefix).parent_path();
  GG_CHECK(dir.empty() || std::filesystem::is_directory(dir),
           "SentencePiece: the directory of model prefix '{}' does not exist", model_prefix);

  // A seeded sample keeps training time bounded on a large corpus and reproducible.
  std::vector<size_t> order(sentences.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (options.max_sentences > 0 && static_cast<size_t>(options.max_sentences) < order.size()) {
    Generator gen(options.seed);
    for (size_t i = 0; i < static_cast<size_t>(options.max_sentences); ++i) {
      std::swap(order[i], order[i + gen.below(order.size() - i)]);
    }
    order.resize(static_cast<size_t>(options.max_sentences));
    std::sort(order.begin(), order.end());
  }

  std::string input = model_prefix + ".train.txt";
  {
    std::ofstream out(input, std::ios::binary);
    GG_CHECK(out.good(), "SentencePiece: cannot write '{}'", input);
    for (size_t i : order) {
      std::string s = sentences[i];
      check_utf8(s, fmt::format("SentencePiece: training sentence {}", i));
      std::replace(s.begin(), s.end(), '\n', ' ');  // one sentence per line
      if (!s.empty()) out << s << '\n';
    }
  }

  // The trainer's random choices (unigram's sampling) follow this seed.
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(options.seed % 0xFFFFFFFFull));
  std::unordered_map<std::string, std::string> args = {
      {"input", input},
      {"model_prefix", model_prefix},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model == SentencePieceModel::BPE ? "bpe" : "unigram"},
      {"character_coverage", fmt::format("{}", options.character_coverage)},
      {"hard_vocab_limit", options.hard_vocab_limit ? "true" : "false"},
      {"num_threads", "1"},  // reproducible, and kind to a shared machine
      {"minloglevel", "2"},  // errors only: the trainer's progress log is long
  };
  auto status = sentencepiece::SentencePieceTrainer::Train(args);
  std::remove(input.c_str());
  check_status(status, fmt::format("training with prefix '{}'", model_prefix));
  return load(model_prefix + ".model");
}

SentencePieceTokenizer SentencePieceTokenizer::load(const std::string& model_path) {
  GG_CHECK(std::filesystem::exists(model_path), "SentencePiece: no model file '{}'", model_path);
  SentencePieceTokenizer tok;
  check_status(tok.processor_->Load(model_path), fmt::format("loading '{}'", model_path));
  tok.model_path_ = model_path;
  return tok;
}

std::vector<std::string> SentencePieceTokenizer::encode(std::string_view text) const {
  check_utf8(text, "SentencePieceTokenizer");
  std::vector<std::string> pieces;
  check_status(processor_->Encode(text, &pieces), "encode");
  return pieces;
}

std::string SentencePieceTokenizer::detokenize(const std::vector<std::string>& pieces) const {
  std::string out;
  check_status(processor_->Decode(pieces, &out), "decode");
  return out;
}

std::vector<int64_t> SentencePieceTokenizer::encode_ids(std::string_view text) const {
  check_utf8(text, "SentencePieceTokenizer");
  std::vector<int> ids;
  check_status(processor_->Encode(text, &ids), "encode");
  return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode_ids(const std::vector<int64_t>& ids) const {
  std::vector<int> small;
  small.reserve(ids.size());
  for (int64_t id : ids) {
    GG_CHECK(id >= 0 && id < vocab_size(), "SentencePiece: id {} is outside the vocabulary [0, {})", id,
             vocab_size());
    small.push_back(static_cast<int>(id));
  }
  std::string out;
  check_status(processor_->Decode(small, &out), "decode");
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::string SentencePieceTokenizer::piece(int64_t id) const {
  GG_CHECK(id >= 0 && id < vocab_size(), "SentencePiece: id {} is outside the vocabulary [0, {})", id, vocab_size());
  return processor_->IdToPiece(static_cast<int>(id));
}

void SentencePieceTokenizer::save(const std::string& model_path) const {
  write_file_atomic(model_path, processor_->serialized_model_proto());
}

}  // namespace gg::data
