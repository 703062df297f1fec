#pragma once
// The Transformer translator (Vaswani et al., 2017) on nn/transformer.h's layers:
//   memory = encoder(embed(src) * sqrt(D) + PE, source padding mask)
//   logits = W_out decoder(embed(tgt_in) * sqrt(D) + PE, memory, causal mask, padding masks)
// Inference decodes incrementally: each decoder layer keeps the keys and values of the
// positions so far and the encoder memory's projections, so a step costs one position's work
// (kv_cache = false re-runs the decoder over the whole prefix instead: the reference). The
// attention reported per step is the last layer's cross-attention, averaged over heads.
#include "models/seq2seq.h"
#include "nn/transformer.h"

namespace gg::models {

struct TransformerSeq2SeqOptions {
  int64_t d_model = 256;
  int64_t heads = 4;
  int64_t encoder_layers = 3;
  int64_t decoder_layers = 3;
  int64_t dim_feedforward = 1024;
  double dropout = 0.1;
  bool norm_first = false;
  int64_t max_len = 512;
  bool tie_embeddings = false;  // output layer shares the target embedding
};

class TransformerSeq2Seq : public Seq2Seq {
 public:
  TransformerSeq2Seq(int64_t src_vocab, int64_t tgt_vocab, TransformerSeq2SeqOptions options = {});
  std::string name() const override { return "TransformerSeq2Seq"; }

  Tensor features(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) override;
  Tensor project(const Tensor& x) override;
  // Seq2Seq::loss on packed tokens: the projections, feed-forward layers and layer norms run
  // on the source and target tokens only, skipping the padding (nn::Packing); equal to it up
  // to rounding.
  Tensor loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, const Tensor& tgt_out,
              const CrossEntropyOptions& options) override;
  std::unique_ptr<DecoderState> encode(const Tensor& src, const Tensor& src_lengths) override;
  Tensor decode_features(DecoderState& state, const Tensor& tokens, Tensor* attention = nullptr) override;
  OutputLayer output_layer() override;

  TransformerSeq2SeqOptions options;
  // Decoding with each layer's key/value cache (one position per step); false: the whole
  // prefix through the decoder at every step, O(T^2), the reference the cache is tested against.
  bool kv_cache = true;
  std::shared_ptr<nn::Embedding> src_embed, tgt_embed;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> positions;
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<nn::TransformerDecoder> decoder;
  std::shared_ptr<nn::Linear> out;  // null when tied

 private:
  // ids [B, T] at positions offset .. offset + T - 1 -> [B, T, D]
  Tensor embed(nn::Embedding& table, const Tensor& ids, int64_t offset = 0);
};

}  // namespace gg::models
