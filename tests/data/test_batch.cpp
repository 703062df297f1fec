// Batching: padding, lengths, <bos>/<eos> placement, bucketing, token caps, determinism.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/random.h"
#include "data/batch.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;
using Ids = std::vector<int64_t>;

namespace {

// n pairs with random lengths 1..max_len (source) and 0..max_len (target); ids >= 4.
std::vector<EncodedPair> random_pairs(int64_t n, int64_t max_len, uint64_t seed) {
  gg::Generator gen(seed);
  std::vector<EncodedPair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    EncodedPair p;
    auto s = 1 + static_cast<int64_t>(gen.below(static_cast<uint64_t>(max_len)));
    auto t = static_cast<int64_t>(gen.below(static_cast<uint64_t>(max_len + 1)));
    for (int64_t k = 0; k < s; ++k) p.src.push_back(4 + static_cast<int64_t>(gen.below(50)));
    for (int64_t k = 0; k < t; ++k) p.tgt.push_back(4 + static_cast<int64_t>(gen.below(50)));
    p.index = 1000 + i;
    pairs.push_back(p);
  }
  return pairs;
}

// Every row of `b` against the pair it claims to hold.
void check_rows(const Batch& b, const std::map<int64_t, const EncodedPair*>& by_index) {
  int64_t B = b.size(), S = b.src.size(1), T = b.tgt_in.size(1);
  auto src = b.src.to_vector<int64_t>(), tin = b.tgt_in.to_vector<int64_t>(), tout = b.tgt_out.to_vector<int64_t>();
  auto slen = b.src_lengths.to_vector<int64_t>(), tlen = b.tgt_lengths.to_vector<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    const EncodedPair& p = *by_index.at(b.indices[r]);
    auto n = static_cast<int64_t>(p.tgt.size());
    REQUIRE(slen[r] == static_cast<int64_t>(p.src.size()));
    REQUIRE(tlen[r] == n + 1);
    for (int64_t s = 0; s < S; ++s) REQUIRE(src[r * S + s] == (s < slen[r] ? p.src[s] : Vocab::pad_id));
    for (int64_t t = 0; t < T; ++t) {
      int64_t expect_in = t == 0 ? Vocab::bos_id : t <= n ? p.tgt[t - 1] : Vocab::pad_id;
      int64_t expect_out = t < n ? p.tgt[t] : t == n ? Vocab::eos_id : Vocab::pad_id;
      REQUIRE(tin[r * T + t] == expect_in);
      REQUIRE(tout[r * T + t] == expect_out);
    }
  }
}

std::vector<Ids> row_indices(const std::vector<Batch>& batches) {
  std::vector<Ids> out;
  for (const auto& b : batches) out.push_back(b.indices);
  return out;
}

}  // namespace

TEST_CASE("collate: padding, lengths, <bos> and <eos> placement", "[data]") {
  std::vector<EncodedPair> pairs = {{{5, 6, 7}, {8, 9}, 10}, {{5}, {8, 9, 10, 11}, 11}, {{12, 13}, {}, 12}};
  Batch b = collate(pairs);
  CHECK(b.src.dtype() == gg::DType::Int64);
  CHECK(b.src.shape() == gg::Shape{3, 3});
  CHECK(b.tgt_in.shape() == gg::Shape{3, 5});
  CHECK(b.tgt_out.shape() == gg::Shape{3, 5});
  CHECK(b.src.to_vector<int64_t>() == Ids{5, 6, 7, 5, 0, 0, 12, 13, 0});
  CHECK(b.src_lengths.to_vector<int64_t>() == Ids{3, 1, 2});
  CHECK(b.tgt_in.to_vector<int64_t>() == Ids{1, 8, 9, 0, 0, 1, 8, 9, 10, 11, 1, 0, 0, 0, 0});
  CHECK(b.tgt_out.to_vector<int64_t>() == Ids{8, 9, 2, 0, 0, 8, 9, 10, 11, 2, 2, 0, 0, 0, 0});
  CHECK(b.tgt_lengths.to_vector<int64_t>() == Ids{3, 5, 1});
  CHECK(b.indices == Ids{10, 11, 12});
  CHECK(b.src_tokens == 6);
  CHECK(b.tgt_tokens == 9);
  CHECK(collate(pairs, {2, 0}).indices == Ids{12, 10});
  std::vector<EncodedPair> empty_src = {{{}, {4}, 7}};
  CHECK_THROWS_WITH(collate(empty_src), Contains("pair 0 (index 7) has an empty source"));
}

TEST_CASE("make_batches: every pair exactly once per epoch, rows match their pairs", "[data]") {
  auto pairs = random_pairs(1000, 20, 1);
  std::map<int64_t, const EncodedPair*> by_index;
  for (const auto& p : pairs) by_index[p.index] = &p;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    auto batches = make_batches(pairs, {.batch_size = 32, .seed = 5}, epoch);
    std::map<int64_t, int> seen;
    for (const auto& b : batches) {
      CHECK(b.size() <= 32);
      check_rows(b, by_index);
      for (int64_t i : b.indices) ++seen[i];
    }
    CHECK(seen.size() == 1000);
    CHECK(std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; }));
    CHECK(batches.size() == 32);  // 1000 / 32 rounded up: chunks of 100 batches hold all pairs
  }
}

TEST_CASE("make_batches: deterministic for a seed, different across seeds and epochs", "[data]") {
  auto pairs = random_pairs(500, 15, 2);
  BatchOptions o{.batch_size = 16, .seed = 9};
  auto a = make_batches(pairs, o, 0);
  auto b = make_batches(pairs, o, 0);
  CHECK(row_indices(a) == row_indices(b));
  CHECK(a[3].src.to_vector<int64_t>() == b[3].src.to_vector<int64_t>());
  CHECK(row_indices(make_batches(pairs, o, 1)) != row_indices(a));
  CHECK(row_indices(make_batches(pairs, {.batch_size = 16, .seed = 10}, 0)) != row_indices(a));

  // The pairs themselves are shuffled, not only the order of the batches: the batch holding
  // a given pair has other companions in another epoch, and without bucketing a batch
  // draws from the whole corpus.
  auto companions = [](const std::vector<Batch>& batches, int64_t index) {
    for (const auto& batch : batches) {
      if (std::find(batch.indices.begin(), batch.indices.end(), index) != batch.indices.end()) {
        return std::set<int64_t>(batch.indices.begin(), batch.indices.end());
      }
    }
    return std::set<int64_t>();
  };
  CHECK(companions(a, 1000) != companions(make_batches(pairs, o, 1), 1000));
  auto plain = make_batches(pairs, {.batch_size = 16, .bucket = false, .seed = 9});
  auto [lo, hi] = std::minmax_element(plain[0].indices.begin(), plain[0].indices.end());
  CHECK(*hi - *lo > 100);
}

TEST_CASE("make_batches: bucketing by length cuts padding", "[data]") {
  auto pairs = random_pairs(2000, 40, 3);
  auto padded = [](const std::vector<Batch>& batches) {
    int64_t total = 0, real = 0;
    for (const auto& b : batches) {
      total += b.src.numel();
      real += b.src_tokens;
    }
    return static_cast<double>(total - real) / static_cast<double>(total);
  };
  double bucketed = padded(make_batches(pairs, {.batch_size = 32, .seed = 1}));
  double plain = padded(make_batches(pairs, {.batch_size = 32, .bucket = false, .seed = 1}));
  INFO("padding fraction: bucketed " << bucketed << ", plain " << plain);
  CHECK(plain > 0.35);     // ~0.46 expected for uniform lengths 1..40 and 32 per batch
  CHECK(bucketed < 0.05);  // within a sorted chunk neighbours differ by a token or two
  // Within a bucketed batch the sources have nearly the same length.
  for (const auto& b : make_batches(pairs, {.batch_size = 32, .seed = 1})) {
    auto len = b.src_lengths.to_vector<int64_t>();
    auto [lo, hi] = std::minmax_element(len.begin(), len.end());
    CHECK(*hi - *lo <= 3);
  }
}

TEST_CASE("make_batches: max_tokens caps B * max(S, T)", "[data]") {
  auto pairs = random_pairs(600, 30, 4);
  pairs.push_back({Ids(250, 7), {8}, 5000});  // wider than the cap by itself: a batch of its own
  auto batches = make_batches(pairs, {.batch_size = 1000, .max_tokens = 200, .seed = 2});
  int64_t rows = 0;
  bool saw_long = false;
  for (const auto& b : batches) {
    int64_t width = std::max(b.src.size(1), b.tgt_in.size(1));
    if (b.indices == Ids{5000}) saw_long = true;
    if (b.size() > 1) CHECK(b.size() * width <= 200);
    rows += b.size();
  }
  CHECK(saw_long);
  CHECK(rows == 601);
  CHECK(batches.size() > 601 / 25);  // the cap, not batch_size, decides
}

TEST_CASE("make_batches: without shuffling, pairs keep their order", "[data]") {
  auto pairs = random_pairs(100, 10, 5);
  auto batches = make_batches(pairs, {.batch_size = 30, .shuffle = false, .bucket = false});
  REQUIRE(batches.size() == 4);
  Ids order;
  for (const auto& b : batches) order.insert(order.end(), b.indices.begin(), b.indices.end());
  Ids expected(100);
  for (int64_t i = 0; i < 100; ++i) expected[i] = 1000 + i;
  CHECK(order == expected);
  CHECK(batches.back().size() == 10);
  CHECK(make_batches({}, {}).empty());
  CHECK_THROWS_WITH(make_batches(pairs, {.batch_size = 0}), Contains("batch_size must be at least 1"));
}

TEST_CASE("encode_pairs: tokenize, look up, optional source <bos>/<eos>", "[data]") {
  WordTokenizer tok;
  auto src_vocab = Vocab::from_tokens({"el", "perro", "."});
  auto tgt_vocab = Vocab::from_tokens({"the", "dog", "."});
  std::vector<SentencePair> pairs = {{"el perro.", "the dog.", 42}, {"el gato.", "the cat.", 43}};
  auto enc = encode_pairs(pairs, tok, src_vocab, tok, tgt_vocab);
  CHECK(enc[0].src == Ids{4, 5, 6});
  CHECK(enc[0].tgt == Ids{4, 5, 6});  // no <bos>/<eos>: batching adds them
  CHECK(enc[1].src == Ids{4, 3, 6});  // "gato" is <unk>
  CHECK(enc[1].index == 43);
  auto with_eos = encode_pairs(pairs, tok, src_vocab, tok, tgt_vocab, {.src_eos = true});
  CHECK(with_eos[0].src == Ids{4, 5, 6, 2});
}

TEST_CASE("shard: each rank's rows, strided, with their own padding, together the whole batch once", "[data]") {
  const auto pairs = random_pairs(50, 9, 7);
  std::map<int64_t, const EncodedPair*> by_index;
  for (const auto& p : pairs) by_index[p.index] = &p;
  for (const Batch& batch : make_batches(pairs, {.batch_size = 7, .seed = 2})) {
    for (int64_t world : {1, 2, 3, 8}) {
      INFO("a batch of " << batch.size() << " over " << world << " ranks");
      int64_t rows = 0, src_tokens = 0, tgt_tokens = 0;
      for (int64_t rank = 0; rank < world; ++rank) {
        const Batch s = shard(batch, rank, world);
        REQUIRE(s.size() == (batch.size() - rank + world - 1) / world);  // B / world, or one more
        if (s.size() == 0) {
          CHECK_FALSE(s.src.defined());
          continue;
        }
        for (int64_t i = 0; i < s.size(); ++i) CHECK(s.indices[i] == batch.indices[rank + i * world]);
        check_rows(s, by_index);
        const auto slen = s.src_lengths.to_vector<int64_t>(), tlen = s.tgt_lengths.to_vector<int64_t>();
        CHECK(s.src.size(1) == *std::max_element(slen.begin(), slen.end()));  // no wider than its longest row
        CHECK(s.tgt_in.size(1) == *std::max_element(tlen.begin(), tlen.end()));
        rows += s.size(), src_tokens += s.src_tokens, tgt_tokens += s.tgt_tokens;
      }
      CHECK(rows == batch.size());
      CHECK(src_tokens == batch.src_tokens);
      CHECK(tgt_tokens == batch.tgt_tokens);
    }
  }
  const Batch one = make_batches(pairs, {.batch_size = 7})[0];
  CHECK_THROWS_WITH(shard(one, 3, 3), Catch::Contains("rank 3 of a world of 3"));
  CHECK_THROWS_WITH(shard(one, 0, 0), Catch::Contains("rank 0 of a world of 0"));
}
