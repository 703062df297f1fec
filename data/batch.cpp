#include "data/batch.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

namespace gg::data {

namespace {

void shuffle(std::vector<size_t>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.below(i)]);
}

int64_t len(const std::vector<int64_t>& v) { return static_cast<int64_t>(v.size()); }

}  // namespace

Batch collate(const std::vector<EncodedPair>& pairs, const std::vector<size_t>& rows) {
  GG_CHECK(!rows.empty(), "collate: no rows");
  int64_t B = static_cast<int64_t>(rows.size()), S = 0, T = 0;
  for (size_t r : rows) {
    GG_CHECK(r < pairs.size(), "collate: row {} is outside the {} pairs", r, pairs.size());
    GG_CHECK(!pairs[r].src.empty(), "collate: pair {} (index {}) has an empty source", r, pairs[r].index);
    S = std::max(S, len(pairs[r].src));
    T = std::max(T, len(pairs[r].tgt) + 1);
  }
  std::vector<int64_t> src(B * S, Vocab::pad_id), tgt_in(B * T, Vocab::pad_id), tgt_out(B * T, Vocab::pad_id);
  std::vector<int64_t> src_len(B), tgt_len(B);
  Batch batch;
  for (int64_t b = 0; b < B; ++b) {
    const EncodedPair& p = pairs[rows[b]];
    std::copy(p.src.begin(), p.src.end(), src.begin() + b * S);
    tgt_in[b * T] = Vocab::bos_id;
    std::copy(p.tgt.begin(), p.tgt.end(), tgt_in.begin() + b * T + 1);
    std::copy(p.tgt.begin(), p.tgt.end(), tgt_out.begin() + b * T);
    tgt_out[b * T + len(p.tgt)] = Vocab::eos_id;
    src_len[b] = len(p.src);
    tgt_len[b] = len(p.tgt) + 1;
    batch.indices.push_back(p.index);
    batch.src_tokens += src_len[b];
    batch.tgt_tokens += tgt_len[b];
  }
  batch.src = from_vector(src, Shape{B, S});
  batch.tgt_in = from_vector(tgt_in, Shape{B, T});
  batch.tgt_out = from_vector(tgt_out, Shape{B, T});
  batch.src_lengths = from_vector(src_len, Shape{B});
  batch.tgt_lengths = from_vector(tgt_len, Shape{B});
  return batch;
}

Batch collate(const std::vector<EncodedPair>& pairs) {
  std::vector<size_t> rows(pairs.size());
  std::iota(rows.begin(), rows.end(), size_t{0});
  return collate(pairs, rows);
}

Batch shard(const Batch& batch, int64_t rank, int64_t world) {
  GG_CHECK(world >= 1 && rank >= 0 && rank < world, "shard: rank {} of a world of {}", rank, world);
  if (world == 1) return batch;
  // The rows back as pairs, then collated again: the same layout collate gives any batch.
  const auto src = batch.src.to_vector<int64_t>(), tgt_out = batch.tgt_out.to_vector<int64_t>();
  const auto src_len = batch.src_lengths.to_vector<int64_t>(), tgt_len = batch.tgt_lengths.to_vector<int64_t>();
  const int64_t S = batch.src.size(1), T = batch.tgt_out.size(1);
  std::vector<EncodedPair> rows;
  for (int64_t b = rank; b < batch.size(); b += world) {
    EncodedPair p;
    p.src.assign(src.begin() + b * S, src.begin() + b * S + src_len[b]);
    p.tgt.assign(tgt_out.begin() + b * T, tgt_out.begin() + b * T + tgt_len[b] - 1);  // without <eos>
    p.index = batch.indices[static_cast<size_t>(b)];
    rows.push_back(std::move(p));
  }
  return rows.empty() ? Batch{} : collate(rows);
}

std::vector<Batch> make_batches(const std::vector<EncodedPair>& pairs, const BatchOptions& options, int64_t epoch) {
  GG_CHECK(options.batch_size >= 1, "make_batches: batch_size must be at least 1, got {}", options.batch_size);
  GG_CHECK(options.max_tokens >= 0, "make_batches: max_tokens must be >= 0 (0: no cap), got {}", options.max_tokens);
  GG_CHECK(options.bucket_batches >= 1, "make_batches: bucket_batches must be at least 1, got {}",
           options.bucket_batches);
  Generator gen(mix64(mix64(options.seed) ^ static_cast<uint64_t>(epoch)));  // seed 1 epoch 0 and seed 0 epoch 1 unrelated
  std::vector<size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (options.shuffle) shuffle(order, gen);

  auto cost = [&](size_t i) { return std::max(len(pairs[i].src), len(pairs[i].tgt) + 1); };  // padded width
  size_t chunk = options.bucket ? static_cast<size_t>(options.batch_size * options.bucket_batches) : order.size();
  std::vector<std::vector<size_t>> groups;
  for (size_t start = 0; start < order.size(); start += chunk) {
    auto first = order.begin() + start, last = order.begin() + std::min(order.size(), start + chunk);
    if (options.bucket) {
      // By source length only: pairs of equal length keep their shuffled order, so a batch
      // gets different companions every epoch.
      std::stable_sort(first, last, [&](size_t a, size_t b) { return pairs[a].src.size() < pairs[b].src.size(); });
    }
    std::vector<size_t> current;
    int64_t width = 0;
    for (auto it = first; it != last; ++it) {
      int64_t w = std::max(width, cost(*it));
      bool full = static_cast<int64_t>(current.size()) >= options.batch_size ||
                  (options.max_tokens > 0 && static_cast<int64_t>(current.size() + 1) * w > options.max_tokens);
      if (!current.empty() && full) {
        groups.push_back(std::move(current));
        current.clear();
        w = cost(*it);
      }
      current.push_back(*it);
      width = w;
    }
    if (!current.empty()) groups.push_back(std::move(current));
  }
  if (options.shuffle) {
    std::vector<size_t> batch_order(groups.size());
    std::iota(batch_order.begin(), batch_order.end(), size_t{0});
    shuffle(batch_order, gen);
    std::vector<std::vector<size_t>> shuffled;
    shuffled.reserve(groups.size());
    for (size_t g : batch_order) shuffled.push_back(std::move(groups[g]));
    groups = std::move(shuffled);
  }
  std::vector<Batch> batches;
  batches.reserve(groups.size());
  for (const auto& rows : groups) batches.push_back(collate(pairs, rows));
  return batches;
}

std::vector<EncodedPair> encode_pairs(const std::vector<SentencePair>& pairs, const Tokenizer& src_tokenizer,
                                      const Vocab& src_vocab, const Tokenizer& tgt_tokenizer,
                                      const Vocab& tgt_vocab, const EncodePairsOptions& options) {
  std::vector<EncodedPair> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) {
    out.push_back({src_vocab.encode(src_tokenizer.encode(p.src), {.add_bos = options.src_bos,
                                                                  .add_eos = options.src_eos}),
                   tgt_vocab.encode(tgt_tokenizer.encode(p.tgt)), p.index});
  }
  return out;
}

}  // namespace gg::data
