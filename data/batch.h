#pragma once
// Batching for sequence-to-sequence training: encoded pairs -> padded int64 tensors.
//
//   auto encoded = encode_pairs(split.train, es_tok, es_vocab, en_tok, en_vocab);
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const Batch& b : make_batches(encoded, {.batch_size = 64, .seed = 1}, epoch))
//       loss = cross_entropy(model(b.src, b.src_lengths, b.tgt_in), b.tgt_out, {.ignore_index = 0});
//
// Shapes: B sentences, S the longest source in the batch, T the longest target + 1.
//   src          [B, S]  source ids, then <pad> = 0
//   src_lengths  [B]     source lengths without padding
//   tgt_in       [B, T]  <bos> y_1 .. y_n, then <pad>      (what the decoder reads)
//   tgt_out      [B, T]  y_1 .. y_n <eos>, then <pad>      (what it must predict)
//   tgt_lengths  [B]     n + 1
//
// Bucketing as NMT toolkits do it (fairseq, OpenNMT's "pool"): shuffle all pairs, cut them
// into chunks of `bucket_batches` batches, sort each chunk by length, cut it into batches,
// then shuffle the order of the batches. Padding stays small and every batch still mixes
// the corpus. Every pair is in exactly one batch per epoch, and the batches depend only on
// the pairs, the options and the epoch number.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/corpus.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

namespace gg::data {

struct EncodedPair {
  std::vector<int64_t> src;  // as the encoder reads it (add <eos> when encoding if the model wants one)
  std::vector<int64_t> tgt;  // without <bos> and <eos>: batching adds them
  int64_t index = 0;         // SentencePair::index, carried into Batch::indices
};

struct Batch {
  Tensor src, src_lengths, tgt_in, tgt_out, tgt_lengths;  // int64, shapes above
  std::vector<int64_t> indices;  // EncodedPair::index of each row
  int64_t src_tokens = 0;        // sum of src_lengths
  int64_t tgt_tokens = 0;        // sum of tgt_lengths: the targets the loss counts
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

struct BatchOptions {
  int64_t batch_size = 64;       // sentences per batch, at most
  int64_t max_tokens = 0;        // 0: no cap; else B * max(S, T) <= max_tokens (a longer pair goes alone)
  bool shuffle = true;           // false: pairs and batches keep the input order
  bool bucket = true;            // sort by source length within chunks
  int64_t bucket_batches = 100;  // chunk size, in batches
  uint64_t seed = 0;
};

// One epoch of batches; epoch e draws its shuffle from (seed, e).
std::vector<Batch> make_batches(const std::vector<EncodedPair>& pairs, const BatchOptions& options,
                                int64_t epoch = 0);

// One batch of `pairs[rows[0]], pairs[rows[1]], ...` in that order (evaluation keeps order).
Batch collate(const std::vector<EncodedPair>& pairs, const std::vector<size_t>& rows);
Batch collate(const std::vector<EncodedPair>& pairs);  // all pairs

// Rank `rank`'s share of a batch for data-parallel training over `world` ranks: rows rank,
// rank + world, rank + 2 world, ... (a bucketed batch is sorted by length, so every rank gets
// long and short sentences alike), padding trimmed to the share's own longest row. A batch of
// B rows gives ranks B / world or B / world + 1 rows; a rank past the last row gets an empty
// batch (size() 0, no tensors).
Batch shard(const Batch& batch, int64_t rank, int64_t world);

struct EncodePairsOptions {
  bool src_bos = false;  // <bos> before each source
  bool src_eos = false;  // <eos> after each source
};

// Tokenize and look up both sides of every pair.
std::vector<EncodedPair> encode_pairs(const std::vector<SentencePair>& pairs, const Tokenizer& src_tokenizer,
                                      const Vocab& src_vocab, const Tokenizer& tgt_tokenizer,
                                      const Vocab& tgt_vocab, const EncodePairsOptions& options = {});

}  // namespace gg::data
