#pragma once
// Turning a trained Seq2Seq into translations: greedy decoding and beam search, both
// batched, without recording a graph. Each hypothesis stops at its own <eos>, and rows never
// interact (source padding is masked), so a sentence gets the same translation whatever
// batch it is decoded in.
#include <vector>

#include "models/seq2seq.h"

namespace gg::models {

struct Hypothesis {
  std::vector<int64_t> tokens;  // without <bos> and <eos>
  double log_prob = 0;          // sum of the token log-probabilities (the <eos> included)
  double score = 0;             // what the hypotheses were ranked by
  std::vector<std::vector<float>> attention;  // per output token (and the <eos>), weights over the source [S]
};

struct DecodeOptions {
  int64_t bos = 1, eos = 2;
  double max_len_ratio = 2.0;  // a hypothesis stops after max_len_ratio * source length + max_len_extra tokens
  int64_t max_len_extra = 10;
  int64_t min_len = 0;         // <eos> is not allowed before this many tokens
  bool keep_attention = false;
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
// hypotheses or reaches its maximum length. Returns the n_best finished ones, best first.
std::vector<std::vector<Hypothesis>> beam_search(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                                 const BeamOptions& beam = {}, const DecodeOptions& options = {});

}  // namespace gg::models
