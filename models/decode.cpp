#include "models/decode.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.h"
#include "core/fast_math.h"

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

// The `count` best tokens of one row of log-probabilities [V], best first (a tie: the smaller
// token first); `barred` (-1: none) is never picked. A beam needs only its 2K best
// extensions, and those are among the 2K best tokens of each hypothesis' row: one pass over
// the row, instead of sorting K x V candidates per sentence and step.
template <class T>
void best_tokens(const T* row, int64_t V, size_t count, int64_t barred, std::vector<int64_t>& out) {
  out.clear();
  auto better = [&](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
  for (int64_t v = 0; v < V; ++v) {
    if (v == barred || (out.size() == count && !better(v, out.back()))) continue;
    if (out.size() == count) out.pop_back();
    out.insert(std::upper_bound(out.begin(), out.end(), v, better), v);
  }
}

// Whether one of a sentence's alive hypotheses (slots [first, first + alive) of scores, their
// log-probabilities) could still finish among the n_best (at least n_best are finished). A
// log-probability only falls as tokens are added, and the length penalty divides it by at
// most the penalty of the longest length allowed (limit tokens and the <eos>), so log_prob /
// that penalty bounds what the hypothesis can still score.
bool can_overtake(const std::vector<Hypothesis>& finished, const std::vector<double>& scores, int64_t first,
                  int64_t alive, int64_t limit, const BeamOptions& beam) {
  std::vector<double> best;
  for (const Hypothesis& h : finished) best.push_back(h.score);
  const auto nth = best.begin() + (beam.n_best - 1);
  std::nth_element(best.begin(), nth, best.end(), std::greater<>());
  const double nth_finished = *nth;  // the n_best-th best score
  const double largest_penalty = std::max(gnmt_penalty(1, beam.length_penalty),
                                          gnmt_penalty(static_cast<size_t>(limit) + 1, beam.length_penalty));
  for (int64_t k = first; k < first + alive; ++k)
    if (scores[k] / largest_penalty > nth_finished) return true;
  return false;
}

std::vector<float> row(const Tensor& weights, int64_t r) {
  return weights.select(0, r).to_vector<float>();
}

}  // namespace

Int8Screen::Int8Screen(Seq2Seq& model) {
  const auto layer = model.output_layer();
  GG_CHECK(layer.weight.defined() && layer.weight.dtype() == DType::Float32 && layer.weight.dim() == 2,
           "Int8Screen: needs a float32 output layer [V, D], got {} {}", dtype_name(layer.weight.dtype()),
           layer.weight.shape());
  NoGradGuard no_grad;
  source_ = layer.weight;
  version_ = source_.storage()->version();
  weight_ = layer.weight.contiguous();
  if (layer.bias.defined()) bias_ = layer.bias.contiguous();
  rows_ = kernel::quantize_rows(weight_);
}

void Int8Screen::check(Seq2Seq& model) const {
  const Tensor w = model.output_layer().weight;
  GG_CHECK(w.storage() == source_.storage() && w.offset() == source_.offset() && w.shape() == source_.shape(),
           "Int8Screen: built from another model's output layer ({}) than the one decoding ({}); hint: build the "
           "screen from the model you decode with",
           source_.shape(), w.shape());
  GG_CHECK(w.storage()->version() == version_,
           "Int8Screen: the output layer has changed since the screen was built (storage version {} -> {}); hint: "
           "build a new screen after training or loading weights",
           version_, w.storage()->version());
  GG_CHECK(!model.is_training(),
           "Int8Screen: {} is in training mode, where dropout changes what the output layer reads; call eval() first",
           model.name());
}

Int8Screen::Pick Int8Screen::pick(const float* x, int64_t barred, int64_t forced) const {
  const int64_t V = rows_.rows, D = rows_.cols;
  std::vector<double> logit(V), bound(V);
  kernel::int8_matvec(rows_, x, logit.data(), bound.data());
  const float* b = bias_.defined() ? bias_.data<float>() : nullptr;
  if (b)
    for (int64_t v = 0; v < V; ++v) logit[v] += b[v];
  // Every word whose upper bound reaches the best lower bound may be the argmax: make those
  // exact. A forced word is the only candidate.
  double lower = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < V; ++v)
    if (v != barred) lower = std::max(lower, logit[v] - bound[v]);
  Pick out;
  const float* w = weight_.data<float>();
  for (int64_t v = 0; v < V; ++v) {
    if (forced >= 0 ? v != forced : (v == barred || logit[v] + bound[v] < lower)) continue;
    logit[v] = kernel::dot_exact(w + v * D, x, D) + (b ? b[v] : 0.0);
    bound[v] = 0;
    ++out.rescored;
    if (out.token < 0 || logit[v] > logit[out.token]) out.token = v;
  }
  GG_CHECK(out.token >= 0, "Int8Screen: no word to pick from a vocabulary of {} (barred {}, forced {})", V, barred,
           forced);
  // log_softmax over every word, the barred one included, as the float32 path computes it.
  // (float32 exp, relative error < 2e-7, as the float32 log_softmax would have it: libm's
  // scalar exp over 8,000 words cost as much as the int8 products)
  const double m = *std::max_element(logit.begin(), logit.end());
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t v = 0; v < V; ++v) sum += fast::exp(static_cast<float>(logit[v] - m));
  out.max_error = *std::max_element(bound.begin(), bound.end());
  out.log_prob = logit[out.token] - m - std::log(sum);
  return out;
}

std::vector<Hypothesis> greedy_decode(Seq2Seq& model, const Tensor& src, const Tensor& src_lengths,
                                      const DecodeOptions& o) {
  NoGradGuard no_grad;
  autocast precision(o.precision);
  const int64_t B = src.size(0);
  const std::vector<int64_t> limit = max_lengths(src_lengths, o);
  if (o.screen) o.screen->check(model);
  auto state = model.encode(src, src_lengths);
  std::vector<Hypothesis> hyps(B);
  std::vector<bool> done(B, false);
  Tensor tokens = full({B}, static_cast<double>(o.bos), {.dtype = DType::Int64});
  for (int64_t t = 0;; ++t) {
    Tensor weights;
    const int64_t barred = t < o.min_len ? o.eos : -1;
    // Each row's best token and its log-probability: from the float32 log-probabilities
    // [B, V], or through the int8 screen from the output layer's input [B, D].
    std::vector<int64_t> best(B, -1);
    std::vector<double> best_lp(B, 0), best_error(B, 0);
    if (o.screen) {
      const Tensor f = model.decode_features(*state, tokens, o.keep_attention ? &weights : nullptr).contiguous();
      GG_CHECK(f.dtype() == DType::Float32 && f.dim() == 2 && f.size(1) == o.screen->width(),
               "greedy_decode: the screen expects float32 features [B, {}], the model gave {} {}",
               o.screen->width(), dtype_name(f.dtype()), f.shape());
      for (int64_t b = 0; b < B; ++b) {
        if (done[b]) continue;
        const auto p = o.screen->pick(f.data<float>() + b * f.size(1), barred, t + 1 >= limit[b] ? o.eos : -1);
        best[b] = p.token;
        best_lp[b] = p.log_prob;
        best_error[b] = p.max_error;
      }
    } else {
      const Tensor logp = model.decode_step(*state, tokens, o.keep_attention ? &weights : nullptr);  // [B, V]
      const int64_t V = logp.size(1);
      GG_CHECK(o.eos >= 0 && o.eos < V, "greedy_decode: <eos> id {} is outside the vocabulary of {}", o.eos, V);
      const std::vector<double> lp = logp.to_vector<double>();
      for (int64_t b = 0; b < B; ++b) {
        const double* r = &lp[b * V];
        for (int64_t v = 0; v < V; ++v)
          if (v != barred && (best[b] < 0 || r[v] > r[best[b]])) best[b] = v;
        if (t + 1 >= limit[b]) best[b] = o.eos;  // out of room: finish here
        best_lp[b] = r[best[b]];
      }
    }
    std::vector<int64_t> next(B, o.eos);
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      next[b] = best[b];
      hyps[b].log_prob += best_lp[b];
      hyps[b].log_prob_error += best_error[b];
      if (o.keep_attention) hyps[b].attention.push_back(row(weights, b));
      if (best[b] == o.eos) done[b] = true;
      else hyps[b].tokens.push_back(best[b]);
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
  autocast precision(o.precision);
  const int64_t B = src.size(0), K = beam.beam;
  const std::vector<int64_t> limit = max_lengths(src_lengths, o);
  auto state = model.encode(src, src_lengths);
  // The state holds K rows for each sentence still searching: rows i * K + k are hypothesis k
  // of sentence active[i]. A sentence whose search is over leaves the state at the next
  // select, so the steps cost what the live sentences need. All K start as copies.
  std::vector<int64_t> active(B), start(B * K);
  std::iota(active.begin(), active.end(), 0);
  for (int64_t i = 0; i < B * K; ++i) start[i] = i / K;
  state->select(from_vector(start));
  std::vector<Hypothesis> alive(B * K);
  std::vector<double> scores(B * K, -std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < B; ++i) scores[i * K] = 0;  // only one live copy at the start
  std::vector<std::vector<Hypothesis>> finished(B);
  Tensor tokens = full({B * K}, static_cast<double>(o.bos), {.dtype = DType::Int64});

  for (int64_t t = 0; !active.empty(); ++t) {
    Tensor weights;
    const Tensor logp = model.decode_step(*state, tokens, o.keep_attention ? &weights : nullptr).contiguous();
    const int64_t V = logp.size(1);  // logp [A*K, V], float32 (or float64), read in place
    const bool f32 = logp.dtype() == DType::Float32;
    auto lp = [&](int64_t r, int64_t v) -> double {
      return f32 ? logp.data<float>()[r * V + v] : logp.data<double>()[r * V + v];
    };
    std::vector<int64_t> best, still_active, parents, next;
    std::vector<Hypothesis> next_alive;
    std::vector<double> next_scores;
    for (size_t i = 0; i < active.size(); ++i) {
      const int64_t b = active[i];
      // The 2K best extensions of the sentence's K hypotheses.
      std::vector<std::pair<double, int64_t>> candidates;  // (score, row * V + token)
      for (int64_t r = static_cast<int64_t>(i) * K; r < static_cast<int64_t>(i + 1) * K; ++r) {
        if (!std::isfinite(scores[r])) continue;
        const int64_t barred = t < o.min_len ? o.eos : -1;
        if (f32) best_tokens(logp.data<float>() + r * V, V, static_cast<size_t>(2 * K), barred, best);
        else best_tokens(logp.data<double>() + r * V, V, static_cast<size_t>(2 * K), barred, best);
        for (int64_t v : best) candidates.emplace_back(scores[r] + lp(r, v), r * V + v);
      }
      const size_t keep = std::min(candidates.size(), static_cast<size_t>(2 * K));
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                        [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
      const bool last_step = t + 1 >= limit[b];
      const size_t first = parents.size();  // this sentence's K slots in the next step
      for (size_t c = 0; c < keep && parents.size() < first + static_cast<size_t>(K); ++c) {
        const auto [score, flat] = candidates[c];
        const int64_t r = flat / V, v = flat % V;
        Hypothesis h = alive[r];
        h.log_prob = score;
        if (o.keep_attention) h.attention.push_back(row(weights, r));
        if (v == o.eos || last_step) {
          if (v != o.eos) h.tokens.push_back(v);
          h.score = score / gnmt_penalty(h.tokens.size() + 1, beam.length_penalty);
          finished[b].push_back(std::move(h));
          continue;
        }
        h.tokens.push_back(v);
        parents.push_back(r);
        next.push_back(v);
        next_scores.push_back(score);
        next_alive.push_back(std::move(h));
      }
      const int64_t filled = static_cast<int64_t>(parents.size() - first);
      const bool over = last_step || filled == 0 ||
                        (static_cast<int64_t>(finished[b].size()) >= K &&
                         !can_overtake(finished[b], next_scores, static_cast<int64_t>(first), filled, limit[b], beam));
      if (over) {  // the sentence leaves the state
        parents.resize(first);
        next.resize(first);
        next_scores.resize(first);
        next_alive.resize(first);
        continue;
      }
      for (int64_t k = filled; k < K; ++k) {  // empty slots: a copy of the first row, never extended
        parents.push_back(parents[first]);
        next.push_back(o.eos);
        next_scores.push_back(-std::numeric_limits<double>::infinity());
        next_alive.emplace_back();
      }
      still_active.push_back(b);
    }
    active = std::move(still_active);
    if (active.empty()) break;
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
