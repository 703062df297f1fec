#pragma once
// A translator as a user handles it: a model plus everything needed to turn text into ids
// and back, saved together in one model directory:
//
//   DIR/config.json          architecture, tokenizer, vocabulary sizes, data source and split
//   DIR/model.safetensors    the weights (tensor names = dotted parameter names)
//   DIR/src.vocab, tgt.vocab one token per line (plus src.model / tgt.model for SentencePiece)
//   DIR/split.txt            which lines of the corpus were train, valid and test
//   DIR/checkpoints/         for --resume (app/checkpoint.h)
//   DIR/metrics.jsonl, DIR/loss.png   what training logged (app/trainer.h)
//
// Every file is written atomically and made durable (core/file_io.h), so a crash mid-save
// never destroys the previous one.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "models/decode.h"
#include "models/rnn_seq2seq.h"
#include "models/transformer_seq2seq.h"

namespace gg::app {

struct TranslatorConfig {
  std::string architecture = "rnn";  // "rnn" or "transformer"
  models::RNNSeq2SeqOptions rnn;
  models::TransformerSeq2SeqOptions transformer;
  std::string tokenizer = "word";    // "word", "char" or "sentencepiece"
  bool lowercase = false;
  nlohmann::json extra;              // where the data came from, the split, the task: kept as given

  nlohmann::json to_json() const;
  static TranslatorConfig from_json(const nlohmann::json& j, const std::string& where);
};

struct Translation {
  std::string text;
  std::vector<std::string> source_tokens, target_tokens;
  std::vector<std::vector<float>> attention;  // [target token (and <eos>)][source token]
  double score = 0;
  std::vector<std::pair<std::string, double>> n_best;  // n_best > 1: the best texts and scores, best first
};

struct TranslateOptions {
  int64_t beam = 1;             // 1: greedy decoding
  int64_t batch_size = 64;      // sentences decoded together
  int64_t n_best = 1;           // > 1 (and at most beam): Translation::n_best holds the best texts
  bool keep_attention = false;  // Translation::attention
  // Each <unk> of the output becomes the source token the model attended to most as it wrote
  // it (Luong et al., 2015), so a rare name or number is copied instead of lost. The RNN's
  // attention, or the Transformer's last layer of cross-attention averaged over heads.
  bool replace_unk = false;
  // BFloat16: decoding's matrix products read bfloat16 (models::DecodeOptions::precision):
  // faster where the CPU multiplies bfloat16 (AVX512_BF16). A near-tie may then pick another
  // token than float32 would, or than the same line decoded in a batch of another size (the
  // bfloat16 products round differently by shape); float32 output does not depend on the batch.
  Precision precision = Precision::Float32;
};

class Translator {
 public:
  // A fresh model for the given vocabularies.
  Translator(TranslatorConfig config, std::shared_ptr<data::Tokenizer> src_tokenizer,
             std::shared_ptr<data::Tokenizer> tgt_tokenizer, data::Vocab src_vocab, data::Vocab tgt_vocab);

  void save(const std::string& dir) const;  // config, vocabularies, tokenizers and weights
  static Translator load(const std::string& dir);

  // Batched translation of raw sentences. Sentences are decoded in batches of similar length
  // (sorted by source length, so padding is small) and returned in their given order, each as
  // it would be translated alone.
  std::vector<Translation> translate(const std::vector<std::string>& sentences, const TranslateOptions& options = {});

  TranslatorConfig config;
  std::shared_ptr<data::Tokenizer> src_tokenizer, tgt_tokenizer;
  data::Vocab src_vocab, tgt_vocab;
  std::shared_ptr<models::Seq2Seq> model;
};

std::shared_ptr<data::Tokenizer> make_tokenizer(const std::string& name, bool lowercase);

}  // namespace gg::app
