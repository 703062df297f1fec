#pragma once
// One interface for every translator in glassgrad: the RNN encoder-decoder with a chosen
// attention, and the Transformer. Training runs teacher-forced over padded batches;
// inference encodes once and then decodes one step at a time (greedy or beam search,
// models/decode.h).
//
// Shapes: B batch, S source length, T target length, V target vocabulary.
// Token ids are int64 with <pad> = 0 (data/vocab.h).
#include <memory>

#include "nn/module.h"

namespace gg::models {

// What the decoder carries from one step to the next during inference.
struct DecoderState {
  virtual ~DecoderState() = default;
  // Keeps the rows `index` (int64 [B']) of every tensor, in that order: how beam search
  // follows the hypotheses it keeps (and starts K of them from each sentence).
  virtual void select(const Tensor& index) = 0;
};

class Seq2Seq : public nn::Module {
 public:
  // Teacher forcing: src [B, S], src_lengths [B], tgt_in [B, T] (<bos> + target) -> logits [B, T, V].
  virtual Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) = 0;
  virtual std::unique_ptr<DecoderState> encode(const Tensor& src, const Tensor& src_lengths) = 0;
  // tokens [B]: the previous output of each row -> log-probabilities [B, V] of the next one.
  // If `attention` is given it receives where this step looked: [B, S] (zeros for a model
  // without attention).
  virtual Tensor decode_step(DecoderState& state, const Tensor& tokens, Tensor* attention = nullptr) = 0;

  // While training, the probability that a step is fed the reference token; otherwise it is
  // fed the model's own best guess from the previous step (scheduled sampling, Bengio et al.,
  // 2015). 1 is plain teacher forcing. The RNN model honours it; the Transformer, which
  // computes all steps at once, always uses teacher forcing.
  double teacher_forcing = 1.0;
};

}  // namespace gg::models
