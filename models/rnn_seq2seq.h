#pragma once
// The RNN encoder-decoder with attention, as in Bahdanau et al. (2015) and Luong et al.
// (2015):
//
//   encoder: embeddings -> (bi)directional RNN/GRU/LSTM; the two directions of H/2 each
//            are concatenated to H, and their final states start the decoder
//   decoder, per step t:
//     x_t = [embed(y_{t-1}); a_{t-1}]            (input feeding: the previous attentional vector)
//     h_t = cell stack(x_t, state)
//     c_t, alpha_t = attention(h_t, encoder outputs, source padding mask)
//     a_t = tanh(W_c [c_t; h_t])                   (Luong's attentional state)
//     p(y_t) = softmax(W_out a_t)
//   or, with attentional_output = false (the Bahdanau-style variant the benchmarks use):
//     x_t = [embed(y_{t-1}); c_{t-1}],  p(y_t) = softmax(W_out [h_t; c_t])
//   With attention None, a_t = h_t: the original seq2seq (Sutskever et al., 2014), where the
//   only view of the source is the fixed vector that starts the decoder.
#include <memory>

#include "models/seq2seq.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/rnn.h"
#include "nn/sequential.h"

namespace gg::models {

enum class AttentionKind { None, Dot, ScaledDot, General, Additive, Concat };
AttentionKind parse_attention(const std::string& name);  // "none", "dot", "scaled-dot", "general", "additive", "concat"
std::string attention_name(AttentionKind kind);

struct RNNSeq2SeqOptions {
  int64_t embed = 256;
  int64_t hidden = 512;   // H: the decoder's width, and the encoder's output width
  int64_t layers = 1;
  bool bidirectional = true;
  nn::RNNMode cell = nn::RNNMode::LSTM;
  AttentionKind attention = AttentionKind::Additive;
  bool input_feeding = true;
  bool attentional_output = true;  // false: no W_c; the output layer reads [h_t; c_t] and c_t is fed
  double dropout = 0.1;
  bool tie_embeddings = false;  // output layer shares the target embedding (needs embed == hidden)
};

class RNNSeq2Seq : public Seq2Seq {
 public:
  RNNSeq2Seq(int64_t src_vocab, int64_t tgt_vocab, RNNSeq2SeqOptions options = {});
  std::string name() const override { return "RNNSeq2Seq"; }
  std::string extra_repr() const override;

  // With scheduled sampling (teacher_forcing < 1 while training) every step needs its own
  // logits, so forward and loss project step by step instead of through features().
  Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) override;
  Tensor features(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) override;
  Tensor project(const Tensor& a) override;  // dropout, then the output layer
  // Seq2Seq::loss, with the decoder's batch shrinking as targets end (the rows sorted by target
  // length, each step run on the rows still decoding); equal to it up to rounding.
  Tensor loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, const Tensor& tgt_out,
              const CrossEntropyOptions& options) override;
  std::unique_ptr<DecoderState> encode(const Tensor& src, const Tensor& src_lengths) override;
  Tensor decode_features(DecoderState& state, const Tensor& tokens, Tensor* attention = nullptr) override;
  OutputLayer output_layer() override;

  RNNSeq2SeqOptions options;
  std::shared_ptr<nn::Embedding> src_embed, tgt_embed;
  std::shared_ptr<nn::RNNBase> encoder;
  std::shared_ptr<nn::ModuleList<nn::RNNCellBase>> decoder;
  std::shared_ptr<nn::Attention> attention;  // null for AttentionKind::None
  std::shared_ptr<nn::LuongAttentionalState> attentional;
  std::shared_ptr<nn::Linear> out;  // null when tied

 private:
  struct State;
  // One decoder step; returns what the output layer reads (a_t [B, H], or [h_t; c_t] [B, 2H])
  // and fills `weights` [B, S].
  Tensor step(State& state, const Tensor& tokens, Tensor* weights);
  bool scheduled_sampling() const { return is_training() && teacher_forcing < 1.0; }
};

}  // namespace gg::models
