#pragma once
// The benchmark workloads (README, "Benchmarks"), shared by bench_seq2seq and bench_decode.
// Their PyTorch twins are in bench/workloads.py: same sizes, same models, same batches.
//
// Synthetic batches come from a 64-bit LCG (x = x * 6364136223846793005 + 1442695040888963407
// mod 2^64, value = x >> 33), which bench/workloads.py implements identically, so both
// frameworks train on exactly the same token ids: ids uniform in [3, V), source and target
// lengths uniform in [L/2, L], <pad> = 0, <bos> = 1.
#include <cstdint>
#include <string>
#include <vector>

#include "glassgrad.h"
#include "models/rnn_seq2seq.h"
#include "models/transformer_seq2seq.h"

namespace gg::bench {

struct WorkloadSize {
  int64_t V, E, H, B, L;               // LSTM-attention
  int64_t D, heads, layers, FF;        // Transformer (layers per side)
};

inline WorkloadSize workload_size(const std::string& size) {
  if (size == "small") return {1000, 64, 128, 32, 16, 64, 4, 2, 256};
  if (size == "medium") return {8000, 256, 512, 64, 24, 256, 8, 3, 512};
  fail("unknown size '{}'; expected small or medium", size);
}

class Lcg {
 public:
  explicit Lcg(uint64_t seed) : x_(seed) {}
  uint64_t next() {
    x_ = x_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return x_ >> 33;
  }
  int64_t uniform(int64_t low, int64_t high) { return low + static_cast<int64_t>(next() % static_cast<uint64_t>(high - low)); }

 private:
  uint64_t x_;
};

struct Batch {
  Tensor src, src_lengths, tgt_in, tgt_out;
  int64_t target_tokens = 0;  // not counting padding
};

// Batch `index` of a workload: the same ids in glassgrad and in PyTorch.
inline Batch make_batch(int64_t V, int64_t B, int64_t L, uint64_t index) {
  Lcg rng(1000 + index);
  std::vector<int64_t> src(B * L, 0), tin(B * L, 0), tout(B * L, 0), src_len(B);
  int64_t tokens = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s = rng.uniform(L / 2, L + 1), t = rng.uniform(L / 2, L + 1);
    src_len[b] = s;
    for (int64_t i = 0; i < s; ++i) src[b * L + i] = rng.uniform(3, V);
    tin[b * L] = 1;  // <bos>
    for (int64_t i = 0; i < t; ++i) {
      tout[b * L + i] = rng.uniform(3, V);
      if (i + 1 < t) tin[b * L + i + 1] = tout[b * L + i];
    }
    tokens += t;
  }
  return {from_vector(src, {B, L}), from_vector(src_len), from_vector(tin, {B, L}), from_vector(tout, {B, L}), tokens};
}

// Rank `rank`'s rows of a batch in data-parallel training over `world` ranks: rows rank,
// rank + world, ... (as data::shard takes them), padding kept.
inline Batch shard(const Batch& batch, int64_t rank, int64_t world) {
  if (world == 1) return batch;
  const Tensor rows = arange(static_cast<double>(rank), static_cast<double>(batch.src.size(0)), static_cast<double>(world));
  Batch mine{index_select(batch.src, 0, rows), index_select(batch.src_lengths, 0, rows),
             index_select(batch.tgt_in, 0, rows), index_select(batch.tgt_out, 0, rows), 0};
  for (int64_t id : mine.tgt_out.to_vector<int64_t>()) mine.target_tokens += id != 0;
  return mine;
}

inline std::shared_ptr<models::Seq2Seq> make_model(const std::string& model, const WorkloadSize& w) {
  if (model == "lstm-attn")
    return std::make_shared<models::RNNSeq2Seq>(
        w.V, w.V,
        models::RNNSeq2SeqOptions{.embed = w.E, .hidden = w.H, .layers = 1, .bidirectional = true,
                                  .cell = nn::RNNMode::LSTM, .attention = models::AttentionKind::Additive,
                                  .input_feeding = true, .attentional_output = false, .dropout = 0.0});
  if (model == "transformer")
    return std::make_shared<models::TransformerSeq2Seq>(
        w.V, w.V,
        models::TransformerSeq2SeqOptions{.d_model = w.D, .heads = w.heads, .encoder_layers = w.layers,
                                          .decoder_layers = w.layers, .dim_feedforward = w.FF, .dropout = 0.0});
  fail("unknown model '{}'; expected lstm-attn or transformer", model);
}

}  // namespace gg::bench
