#pragma once
// The Transformer translator (Vaswani et al., 2017) on nn/transformer.h's layers:
//   memory = encoder(embed(src) * sqrt(D) + PE, source padding mask)
//   logits = W_out decoder(embed(tgt_in) * sqrt(D) + PE, memory, causal mask, padding masks)
// Inference re-runs the decoder over the prefix at each step (simple, and fast enough for
// sentences); the attention reported per step is the last layer's cross-attention,
// averaged over heads.
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
  std::shared_ptr<nn::Embedding> src_embed, tgt_embed;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> positions;
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<nn::TransformerDecoder> decoder;
  std::shared_ptr<nn::Linear> out;  // null when tied

 private:
  Tensor embed(nn::Embedding& table, const Tensor& ids);
};

}  // namespace gg::models
