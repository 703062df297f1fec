#pragma once
// One interface for every translator in glassgrad: the RNN encoder-decoder with a chosen
// attention, and the Transformer. Training runs teacher-forced over padded batches;
// inference encodes once and then decodes one step at a time (greedy or beam search,
// models/decode.h).
//
// Shapes: B batch, S source length, T target length, V target vocabulary.
// Token ids are int64 with <pad> = 0 (data/vocab.h).
#include <memory>
#include <vector>

#include "autograd/loss.h"
#include "nn/module.h"

namespace gg::models {

// What the decoder carries from one step to the next during inference.
struct DecoderState {
  virtual ~DecoderState() = default;
  // Keeps the rows `index` (int64 [B']) of every tensor, in that order: how beam search
  // follows the hypotheses it keeps (and starts K of them from each sentence).
  virtual void select(const Tensor& index) = 0;
};

// Which source row each decoding row reads. Beam search keeps K rows per sentence, a
// sentence's K consecutive; a state that keeps its source (the encoder's memory and what is
// computed from it) once per sentence, not once per row, moves no source when the beam
// reorders its hypotheses and gathers it only when sentences leave. Attention then reads
// each run of B / M consecutive rows against one source row, as B / M queries of that row.
struct SourceRows {
  std::vector<int64_t> of_row;  // decoding row r reads source row of_row[r]
  bool shared = true;           // false: one source row per decoding row, M = B always

  explicit SourceRows(int64_t B, bool shared = true);
  // Follows DecoderState::select(index). Returns the source rows to keep (int64 [M']) where
  // they change, otherwise an undefined tensor.
  Tensor select(const Tensor& index);
};

class Seq2Seq : public nn::Module {
 public:
  // Teacher forcing: src [B, S], src_lengths [B], tgt_in [B, T] (<bos> + target) -> logits [B, T, V].
  // By default project(features(...)).
  virtual Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in);
  // The decoder's teacher-forced outputs before the vocabulary projection: [B, T, D].
  virtual Tensor features(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) = 0;
  // The output layer: [..., D] -> logits [..., V].
  virtual Tensor project(const Tensor& features) = 0;
  // The training loss: cross-entropy of the logits against tgt_out [B, T]. Only the positions
  // whose target is not options.ignore_index (the padding) go through the output layer: in a
  // bucketed batch about a quarter of [B, T] is padding, and the output layer's GEMM is most of
  // a step's work. Equal to cross_entropy(forward(...), tgt_out, options); with
  // Reduction::None it is exactly that, shaped like tgt_out.
  virtual Tensor loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, const Tensor& tgt_out,
                      const CrossEntropyOptions& options);
  virtual std::unique_ptr<DecoderState> encode(const Tensor& src, const Tensor& src_lengths) = 0;
  // One inference step up to the output layer. tokens [B]: the previous output of each row ->
  // what project() reads for the next one, [B, D]. If `attention` is given it receives where
  // this step looked: [B, S] (zeros for a model without attention).
  virtual Tensor decode_features(DecoderState& state, const Tensor& tokens, Tensor* attention = nullptr) = 0;
  // log_softmax(project(decode_features(...))): log-probabilities [B, V] of the next token.
  Tensor decode_step(DecoderState& state, const Tensor& tokens, Tensor* attention = nullptr);

  // The output layer as project() applies it outside training: logits = features W^T + b,
  // with weight W [V, D] and bias b [V] (undefined when there is none, as with tied embeddings).
  struct OutputLayer {
    Tensor weight, bias;
  };
  virtual OutputLayer output_layer() = 0;

  // While training, the probability that a step is fed the reference token; otherwise it is
  // fed the model's own best guess from the previous step (scheduled sampling, Bengio et al.,
  // 2015). 1 is plain teacher forcing. The RNN model honours it; the Transformer, which
  // computes all steps at once, always uses teacher forcing.
  double teacher_forcing = 1.0;

 protected:
  // Whether a model's own loss() can skip the padding: a reduced loss (not Reduction::None),
  // src [B, S], and int64 targets shaped like tgt_in [B, T]. Otherwise it calls Seq2Seq::loss,
  // whose checks name what is wrong.
  static bool loss_can_skip_padding(const Tensor& src, const Tensor& tgt_in, const Tensor& tgt_out,
                                    const CrossEntropyOptions& options);
};

}  // namespace gg::models
