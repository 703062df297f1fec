#pragma once
// Turning a trained Seq2Seq into translations: greedy decoding and beam search, both
// batched, without recording a graph. Each hypothesis stops at its own <eos>, and rows never
// interact (source padding is masked), so a sentence gets the same translation whatever
// batch it is decoded in.
#include <vector>

#include "core/autocast.h"
#include "core/quantize.h"
#include "models/seq2seq.h"

namespace gg::models {

class Int8Screen;

struct Hypothesis {
  std::vector<int64_t> tokens;  // without <bos> and <eos>
  double log_prob = 0;          // sum of the token log-probabilities (the <eos> included)
  double score = 0;             // what the hypotheses were ranked by
  double log_prob_error = 0;    // bound on |log_prob - the float32 model's|: nonzero only through an Int8Screen
  std::vector<std::vector<float>> attention;  // per output token (and the <eos>), weights over the source [S]
};

struct DecodeOptions {
  int64_t bos = 1, eos = 2;
  double max_len_ratio = 2.0;  // a hypothesis stops after max_len_ratio * source length + max_len_extra tokens
  int64_t max_len_extra = 10;
  int64_t min_len = 0;         // <eos> is not allowed before this many tokens
  bool keep_attention = false;
  // Greedy decoding only: score the vocabulary through this screen (built from the same
  // model, below) instead of the float32 output layer. Same tokens, a quarter of the bytes.
  const Int8Screen* screen = nullptr;
  // BFloat16: every matrix product of decoding reads its inputs in bfloat16 (gg::autocast):
  // the weights, converted once and kept while they are unchanged, in half the bytes. The
  // logits move by bfloat16's rounding, so a near-tie can pick another token than float32
  // (bench_decode --precision bf16 counts how often).
  Precision precision = Precision::Float32;
};

// Greedy decoding at batch 1 is bound by reading the output layer every step: 32 MB of
// float32 for 8,000 words x 1,024 features, three quarters of a step's bytes. Int8Screen keeps
// an int8 copy of that layer (kernel::Int8Rows, a quarter of the bytes) and scores every word
// with it, each score with a bound on its error. Then it recomputes exactly (in double, from
// the float32 weights) only the words whose upper bound reaches the largest lower bound; the
// best word is always among them, so the pick is the argmax of the exact logits: the float32
// model's choice (which itself is only defined up to float32 rounding in a near-tie).
//
// The log-probability of the pick uses the exact logits of every rescored word and the int8
// estimates for the rest, so it can be off by at most the largest of their error bounds
// (Pick::max_error; in practice far less, as those words carry little probability).
//
// Build it once after training or loading: it refuses to run if the output layer has changed
// since (the weight's storage version, bumped by optimizers and copies, tells).
class Int8Screen {
 public:
  explicit Int8Screen(Seq2Seq& model);

  struct Pick {
    int64_t token = -1;
    double log_prob = 0;
    int64_t rescored = 0;    // words recomputed from the float32 weights
    double max_error = 0;    // bound on |log_prob - the exact log-probability|
  };
  // features: float32 [D], what the output layer reads for one row -> the best word other
  // than `barred` (-1 bars none), or `forced` (if not -1) with its log-probability.
  Pick pick(const float* features, int64_t barred = -1, int64_t forced = -1) const;
  // Throws unless the screen was built from this model's output layer, unchanged since.
  void check(Seq2Seq& model) const;

  int64_t width() const { return rows_.cols; }  // D, what pick() reads

 private:
  Tensor source_;         // the model's weight, to recognize it (and its version) later
  uint64_t version_ = 0;
  Tensor weight_, bias_;  // float32, contiguous
  kernel::Int8Rows rows_;
};

// The most likely token at every step. One hypothesis per sentence.
std::vector<Hypothesis> greedy_decode(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                      const DecodeOptions& options = {});

struct BeamOptions {
  int64_t beam = 5;
  // GNMT length penalty (Wu et al., 2016): score = log_prob / ((5 + length) / 6)^alpha; 0 ranks by log_prob.
  double length_penalty = 0.6;
  int64_t n_best = 1;
};

// Beam search: keeps the `beam` best partial hypotheses of each sentence; a hypothesis that
// emits <eos> is set aside as finished. A sentence is done when it has `beam` finished
// hypotheses and none still alive can score among the n_best of them (bounded with the longest
// length allowed), or when it reaches its maximum length. Returns the n_best finished ones,
// best first.
std::vector<std::vector<Hypothesis>> beam_search(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                                 const BeamOptions& beam = {}, const DecodeOptions& options = {});

}  // namespace gg::models
