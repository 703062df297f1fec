#include "models/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.h"

namespace gg::models {
namespace {

std::vector<int64_t> max_lengths(const Tensor& src_lengths, const DecodeOptions& o) {
  std::vector<int64_t> out;
  for (int64_t len : src_lengths.to_vector<int64_t>())
    out.push_back(static_cast<int64_t>(std::ceil(o.max_len_ratio * static_cast<double>(len))) + o.max_len_extra);
  return out;
}

double gnmt_penalty(size_t length, double alpha) {
  return alpha == 0 ? 1.0 : std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

std::vector<float> row(const Tensor& weights, int64_t r) {
  return weights.select(0, r).to_vector<float>();
}

}  // namespace

std::vector<Hypothesis> greedy_decode(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                      const DecodeOptions& o) {
  NoGradGuard no_grad;
  const int64_t B = src.size(0);
  const std::vector<int64_t> limit = max_lengths(src_lengths, o);
  auto state = model.encode(src, src_lengths);
  std::vector<Hypothesis> hyps(B);
  std::vector<bool> done(B, false);
  Tensor tokens = full({B}, static_cast<double>(o.bos), {.dtype = DType::Int64});
  for (int64_t t = 0;; ++t) {
    Tensor weights;
    Tensor logp = model.decode_step(*state, tokens, o.keep_attention ? &weights : nullptr);  // [B, V]
    const int64_t V = logp.size(1);
    std::vector<double> lp = logp.to_vector<double>();
    std::vector<int64_t> next(B, o.eos);
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      const double* r = &lp[b * V];
      int64_t best = -1;
      for (int64_t v = 0; v < V; ++v) {
        if (v == o.eos && t < o.min_len) continue;
        if (best < 0 || r[v] > r[best]) best = v;
      }
      if (t + 1 >= limit[b]) best = o.eos;  // out of room: finish here
      next[b] = best;
      hyps[b].log_prob += r[best];
      if (o.keep_attention) hyps[b].attention.push_back(row(weights, b));
      if (best == o.eos) done[b] = true;
      else hyps[b].tokens.push_back(best);
      all_done = all_done && done[b];
    }
    if (all_done) break;
    tokens = from_vector(next);
  }
  for (auto& h : hyps) h.score = h.log_prob;
  return hyps;
}

std::vector<std::vector<Hypothesis>> beam_search(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                                 const BeamOptions& beam, const DecodeOptions& o) {
  GG_CHECK(beam.beam >= 1 && beam.n_best >= 1 && beam.n_best <= beam.beam,
           "beam_search: need 1 <= n_best ({}) <= beam ({})", beam.n_best, beam.beam);
  NoGradGuard no_grad;
  const int64_t B = src.size(0), K = beam.beam;
  const std::vector<int64_t> limit = max_lengths(src_lengths, o);
  auto state = model.encode(src, src_lengths);
  // Row b * K + k holds hypothesis k of sentence b; all K start as copies of the sentence.
  std::vector<int64_t> start(B * K);
  for (int64_t i = 0; i < B * K; ++i) start[i] = i / K;
  state->select(from_vector(start));
  std::vector<Hypothesis> alive(B * K);
  std::vector<double> scores(B * K, -std::numeric_limits<double>::infinity());
  for (int64_t b = 0; b < B; ++b) scores[b * K] = 0;  // only one live copy at the start
  std::vector<std::vector<Hypothesis>> finished(B);
  std::vector<bool> done(B, false);
  Tensor tokens = full({B * K}, static_cast<double>(o.bos), {.dtype = DType::Int64});

  for (int64_t t = 0;; ++t) {
    Tensor weights;
    Tensor logp = model.decode_step(*state, tokens, o.keep_attention ? &weights : nullptr);  // [B*K, V]
    const int64_t V = logp.size(1);
    const std::vector<double> lp = logp.to_vector<double>();
    std::vector<int64_t> parents(B * K, 0), next(B * K, o.eos);
    std::vector<Hypothesis> next_alive(B * K);
    std::vector<double> next_scores(B * K, -std::numeric_limits<double>::infinity());
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) {
        for (int64_t k = 0; k < K; ++k) parents[b * K + k] = b * K;  // keep the rows, ignore them
        continue;
      }
      // The 2K best extensions of the sentence's K hypotheses.
      std::vector<std::pair<double, int64_t>> candidates;  // (score, row * V + token)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t r = b * K + k;
        if (!std::isfinite(scores[r])) continue;
        for (int64_t v = 0; v < V; ++v) {
          if (v == o.eos && t < o.min_len) continue;
          candidates.emplace_back(scores[r] + lp[r * V + v], r * V + v);
        }
      }
      const size_t keep = std::min(candidates.size(), static_cast<size_t>(2 * K));
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                        [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
      const bool last_step = t + 1 >= limit[b];
      int64_t filled = 0;
      for (size_t c = 0; c < keep && filled < K; ++c) {
        const auto [score, flat] = candidates[c];
        const int64_t r = flat / V, v = flat % V;
        Hypothesis h = alive[r];
        h.log_prob = score;
        if (o.keep_attention) h.attention.push_back(row(weights, r));
        if (v == o.eos || last_step) {
          if (v != o.eos) h.tokens.push_back(v);
          h.score = score / gnmt_penalty(h.tokens.size() + 1, beam.length_penalty);
          finished[b].push_back(std::move(h));
          if (static_cast<int64_t>(finished[b].size()) >= K) break;
          continue;
        }
        h.tokens.push_back(v);
        const int64_t slot = b * K + filled++;
        parents[slot] = r;
        next[slot] = v;
        next_scores[slot] = score;
        next_alive[slot] = std::move(h);
      }
      for (int64_t k = filled; k < K; ++k) parents[b * K + k] = b * K;  // empty slots
      if (static_cast<int64_t>(finished[b].size()) >= K || last_step || filled == 0) done[b] = true;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    state->select(from_vector(parents));
    alive = std::move(next_alive);
    scores = std::move(next_scores);
    tokens = from_vector(next);
  }
  std::vector<std::vector<Hypothesis>> out(B);
  for (int64_t b = 0; b < B; ++b) {
    auto& f = finished[b];
    std::stable_sort(f.begin(), f.end(), [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
    f.resize(std::min<size_t>(f.size(), static_cast<size_t>(beam.n_best)));
    out[b] = std::move(f);
  }
  return out;
}

}  // namespace gg::models
