#pragma once
// SentencePiece subword tokenizer (Kudo and Richardson, 2018), through Debian's
// libsentencepiece-dev. glassgrad does not reimplement BPE or unigram training: this file
// only adapts the library to the Tokenizer interface and to gg::Error.
//
//   auto sp = SentencePieceTokenizer::train(sentences, "/tmp/work/spm_es",
//                                           {.vocab_size = 8000, .model = SentencePieceModel::Unigram});
//   sp.encode("¿Dónde está?")      // pieces such as {"▁¿", "Dónde", "▁está", "?"}; "▁" marks a word start
//   sp.detokenize(pieces)          // "¿Dónde está?"
//   auto again = SentencePieceTokenizer::load("/tmp/work/spm_es.model");
//
// The pieces are then ids through data/vocab.h like any other tokens (the model's own ids
// are available too, but then the specials differ from Vocab's).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace gg::data {

enum class SentencePieceModel { BPE, Unigram };

struct SentencePieceOptions {
  int64_t vocab_size = 8000;  // pieces in the model, its own <unk> <s> </s> included
  SentencePieceModel model = SentencePieceModel::BPE;
  double character_coverage = 1.0;  // 1.0 keeps every character (right for Latin scripts)
  int64_t max_sentences = 0;        // 0: train on all sentences; else a seeded sample of this many
  uint64_t seed = 0;                // the sampling seed
  bool hard_vocab_limit = false;    // false: the trainer may return fewer pieces on a small corpus
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Trains on `sentences` (written to "<model_prefix>.train.txt", removed afterwards) and
  // writes "<model_prefix>.model" and "<model_prefix>.vocab"; the directory must exist.
  static SentencePieceTokenizer train(const std::vector<std::string>& sentences, const std::string& model_prefix,
                                      const SentencePieceOptions& options = {});
  static SentencePieceTokenizer load(const std::string& model_path);

  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;
  ~SentencePieceTokenizer() override;

  std::vector<std::string> encode(std::string_view text) const override;  // pieces
  std::string detokenize(const std::vector<std::string>& pieces) const override;
  std::string name() const override { return "sentencepiece"; }

  std::vector<int64_t> encode_ids(std::string_view text) const;  // the model's own ids
  std::string decode_ids(const std::vector<int64_t>& ids) const;
  int64_t vocab_size() const;
  std::string piece(int64_t id) const;
  void save(const std::string& model_path) const;  // the serialized .model file
  const std::string& model_path() const { return model_path_; }

 private:
  SentencePieceTokenizer();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string model_path_;
};

}  // namespace gg::data
