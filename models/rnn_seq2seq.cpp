#include "models/rnn_seq2seq.h"

#include <algorithm>
#include <numeric>

#include "autograd/elementwise.h"
#include "autograd/embedding.h"
#include "autograd/index.h"
#include "autograd/linalg.h"
#include "autograd/reduce.h"
#include "core/random.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nn/functional.h"

namespace gg::models {

AttentionKind parse_attention(const std::string& name) {
  if (name == "none") return AttentionKind::None;
  if (name == "dot") return AttentionKind::Dot;
  if (name == "scaled-dot") return AttentionKind::ScaledDot;
  if (name == "general") return AttentionKind::General;
  if (name == "additive" || name == "bahdanau") return AttentionKind::Additive;
  if (name == "concat") return AttentionKind::Concat;
  fail("unknown attention '{}'; expected none, dot, scaled-dot, general, additive or concat", name);
}

std::string attention_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::None: return "none";
    case AttentionKind::Dot: return "dot";
    case AttentionKind::ScaledDot: return "scaled-dot";
    case AttentionKind::General: return "general";
    case AttentionKind::Additive: return "additive";
    case AttentionKind::Concat: return "concat";
  }
  return "?";
}

// Everything the decoder needs between steps. B decoding rows read M source rows.
struct RNNSeq2Seq::State : DecoderState {
  Tensor memory;     // encoder outputs [M, S, H]
  Tensor keys_proj;  // additive attention's W h_j [M, S, A], computed once
  Tensor mask;       // [M, 1, S], true at source padding
  std::vector<nn::RNNState> layers;  // per decoder layer, [B, H]
  Tensor feed;       // a_{t-1} [B, H] (input feeding)
  int64_t S = 0;
  SourceRows source;

  explicit State(int64_t B) : source(B) {}
  void select(const Tensor& index) override {
    auto pick = [](Tensor& t, const Tensor& rows) {
      if (t.defined()) t = index_select(t, 0, rows);
    };
    pick(feed, index);
    for (auto& l : layers) {
      pick(l.h, index);
      pick(l.c, index);
    }
    const Tensor kept = source.select(index);
    if (!kept.defined()) return;
    pick(memory, kept);
    pick(keys_proj, kept);
    pick(mask, kept);
  }
};

RNNSeq2Seq::RNNSeq2Seq(int64_t src_vocab, int64_t tgt_vocab, RNNSeq2SeqOptions o) : options(o) {
  GG_CHECK(!o.bidirectional || o.hidden % 2 == 0, "RNNSeq2Seq: a bidirectional encoder needs an even hidden size, got {}",
           o.hidden);
  GG_CHECK(!o.tie_embeddings || o.embed == o.hidden,
           "RNNSeq2Seq: tied embeddings need embed == hidden, got {} and {}", o.embed, o.hidden);
  if (o.attention == AttentionKind::None) options.input_feeding = false;  // nothing to feed
  const int64_t H = o.hidden, E = o.embed;
  src_embed = register_module("src_embed", std::make_shared<nn::Embedding>(src_vocab, E, nn::EmbeddingOptions{.padding_idx = 0}));
  tgt_embed = register_module("tgt_embed", std::make_shared<nn::Embedding>(tgt_vocab, E, nn::EmbeddingOptions{.padding_idx = 0}));
  nn::RNNOptions enc{.num_layers = o.layers, .bidirectional = o.bidirectional, .dropout = o.dropout, .batch_first = true};
  const int64_t enc_hidden = o.bidirectional ? H / 2 : H;
  switch (o.cell) {
    case nn::RNNMode::LSTM: encoder = std::make_shared<nn::LSTM>(E, enc_hidden, enc); break;
    case nn::RNNMode::GRU: encoder = std::make_shared<nn::GRU>(E, enc_hidden, enc); break;
    default: encoder = std::make_shared<nn::RNN>(E, enc_hidden, enc); break;
  }
  register_module("encoder", encoder);
  decoder = register_module("decoder", std::make_shared<nn::ModuleList<nn::RNNCellBase>>());
  for (int64_t l = 0; l < o.layers; ++l) {
    const int64_t in = l == 0 ? E + (options.input_feeding ? H : 0) : H;
    switch (o.cell) {
      case nn::RNNMode::LSTM: decoder->push_back(std::make_shared<nn::LSTMCell>(in, H)); break;
      case nn::RNNMode::GRU: decoder->push_back(std::make_shared<nn::GRUCell>(in, H)); break;
      default: decoder->push_back(std::make_shared<nn::RNNCell>(in, H)); break;
    }
  }
  switch (o.attention) {
    case AttentionKind::None: break;
    case AttentionKind::Dot: attention = std::make_shared<nn::DotAttention>(); break;
    case AttentionKind::ScaledDot: attention = std::make_shared<nn::ScaledDotAttention>(); break;
    case AttentionKind::General: attention = std::make_shared<nn::GeneralAttention>(H, H); break;
    case AttentionKind::Additive: attention = std::make_shared<nn::AdditiveAttention>(H, H, H); break;
    case AttentionKind::Concat: attention = std::make_shared<nn::ConcatAttention>(H, H, H); break;
  }
  if (attention) register_module("attention", attention);
  if (attention && o.attentional_output)
    attentional = register_module("attentional", std::make_shared<nn::LuongAttentionalState>(H, H, H));
  const int64_t out_in = attention && !o.attentional_output ? 2 * H : H;
  GG_CHECK(!o.tie_embeddings || out_in == E, "RNNSeq2Seq: tied embeddings need the output layer's input ({}) to equal embed ({})",
           out_in, E);
  if (!o.tie_embeddings) out = register_module("out", std::make_shared<nn::Linear>(out_in, tgt_vocab));
}

std::string RNNSeq2Seq::extra_repr() const {
  return fmt::format("attention={}, input_feeding={}, attentional_output={}", attention_name(options.attention),
                     options.input_feeding, options.attentional_output);
}

std::unique_ptr<DecoderState> RNNSeq2Seq::encode(const Tensor& src, const Tensor& src_lengths) {
  GG_CHECK(src.dim() == 2 && src.dtype() == DType::Int64, "RNNSeq2Seq.encode: src must be int64 [B, S], got {} {}",
           dtype_name(src.dtype()), src.shape());
  const int64_t B = src.size(0), S = src.size(1), L = options.layers;
  auto state = std::make_unique<State>(B);
  Tensor x = nn::functional::dropout(src_embed->forward(src), options.dropout, is_training());  // [B, S, E]
  nn::RNNOutput enc = encoder->forward(x, src_lengths);
  state->memory = enc.output;  // [B, S, H]
  state->mask = nn::functional::padding_mask(src_lengths, S);
  state->S = S;
  // The encoder's final states start the decoder; two directions are concatenated: [L*2, B, H/2] -> [L, B, H].
  auto per_layer = [&](const Tensor& t) {
    return options.bidirectional ? t.reshape({L, 2, B, options.hidden / 2}).permute({0, 2, 1, 3}).reshape({L, B, options.hidden})
                                 : t;
  };
  Tensor h = per_layer(enc.state.h), c = enc.state.c.defined() ? per_layer(enc.state.c) : Tensor();
  for (int64_t l = 0; l < L; ++l) state->layers.push_back({h.select(0, l), c.defined() ? c.select(0, l) : Tensor()});
  if (auto* additive = dynamic_cast<nn::AdditiveAttention*>(attention.get()))
    state->keys_proj = additive->project_keys(state->memory);
  if (options.input_feeding) state->feed = zeros({B, options.hidden}, {.dtype = state->memory.dtype()});
  return state;
}

Tensor RNNSeq2Seq::step(State& st, const Tensor& tokens, Tensor* weights) {
  const bool training = is_training();
  Tensor x = tgt_embed->forward(tokens);  // [B, E]
  if (options.input_feeding) x = cat({x, st.feed}, 1);
  x = nn::functional::dropout(x, options.dropout, training);
  for (size_t l = 0; l < st.layers.size(); ++l) {
    st.layers[l] = (*decoder)[l]->forward(x, st.layers[l]);
    x = st.layers[l].h;
    if (l + 1 < st.layers.size()) x = nn::functional::dropout(x, options.dropout, training);
  }
  if (!attention) {
    if (weights) *weights = zeros({x.size(0), st.S}, {.dtype = x.dtype()});
    return x;  // a_t = h_t
  }
  // Each run of G = B / M rows reads one source row: as G queries of that row.
  const int64_t B = x.size(0), M = st.memory.size(0);
  const Tensor query = B == M ? x : x.reshape({M, B / M, x.size(1)});  // [B, H] or [M, G, H]
  nn::AttentionOutput att;
  if (!st.keys_proj.defined()) att = attention->forward(query, st.memory, st.memory, st.mask);
  else att = static_cast<nn::AdditiveAttention&>(*attention).forward_projected(query, st.keys_proj, st.memory, st.mask);
  if (B != M) att = {att.context.reshape({B, -1}), att.weights.reshape({B, -1})};
  if (weights) *weights = att.weights;  // [B, S]
  if (!attentional) {  // Bahdanau-style: feed c_t, read [h_t; c_t]
    if (options.input_feeding) st.feed = att.context;
    return cat({x, att.context}, 1);
  }
  Tensor a = attentional->forward(att.context, x);  // tanh(W_c [c_t; h_t])
  if (options.input_feeding) st.feed = a;
  return a;
}

Tensor RNNSeq2Seq::project(const Tensor& a) {
  Tensor x = nn::functional::dropout(a, options.dropout, is_training());
  return out ? out->forward(x) : nn::functional::linear(x, tgt_embed->weight);
}

Tensor RNNSeq2Seq::features(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) {
  GG_CHECK(tgt_in.dim() == 2 && tgt_in.size(0) == src.size(0),
           "RNNSeq2Seq.forward: tgt_in must be int64 [B, T] with the batch of src {}, got {}", src.shape(),
           tgt_in.shape());
  GG_CHECK(!scheduled_sampling(), "RNNSeq2Seq.features: with scheduled sampling (teacher_forcing {}) each step "
           "reads the previous step's logits; use forward() or loss()", teacher_forcing);
  auto state = encode(src, src_lengths);
  auto& st = static_cast<State&>(*state);
  std::vector<Tensor> outputs;
  for (int64_t t = 0; t < tgt_in.size(1); ++t) outputs.push_back(step(st, tgt_in.select(1, t), nullptr));
  return stack(outputs, 1);  // [B, T, D]: the output layer then runs as one GEMM for all steps
}

Tensor RNNSeq2Seq::forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) {
  if (!scheduled_sampling()) return project(features(src, src_lengths, tgt_in));
  GG_CHECK(tgt_in.dim() == 2 && tgt_in.size(0) == src.size(0),
           "RNNSeq2Seq.forward: tgt_in must be int64 [B, T] with the batch of src {}, got {}", src.shape(),
           tgt_in.shape());
  auto state = encode(src, src_lengths);
  auto& st = static_cast<State&>(*state);
  // Scheduled sampling: some steps read the previous prediction instead of the reference.
  std::vector<Tensor> outputs;
  Tensor previous;
  for (int64_t t = 0; t < tgt_in.size(1); ++t) {
    const bool own = t > 0 && global_generator().uniform() >= teacher_forcing;
    Tensor input = own ? argmax(previous.detach(), 1) : tgt_in.select(1, t);
    previous = project(step(st, input, nullptr));  // [B, V]
    outputs.push_back(previous);
  }
  return stack(outputs, 1);
}

// The decoder stops working on a row once its target has ended. The rows are put in order of
// decreasing target length, so the rows still decoding at step t are the first n_t of the
// batch, and step t runs on that prefix: views of the state, narrowed, no copies (PyTorch's
// packed sequences do the same for nn.LSTM). The steps a row skips would only have produced
// outputs at padding, which the loss ignores; with target lengths spread over [L/2, L], as in
// bench/, they are a quarter of the decoder's work. The outputs of all steps, stacked
// time-major, then go through the output layer at the positions with a target, as in
// Seq2Seq::loss.
Tensor RNNSeq2Seq::loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, const Tensor& tgt_out,
                        const CrossEntropyOptions& options) {
  if (scheduled_sampling()) return nn::functional::cross_entropy(forward(src, src_lengths, tgt_in), tgt_out, options);
  if (!loss_can_skip_padding(src, tgt_in, tgt_out, options))
    return Seq2Seq::loss(src, src_lengths, tgt_in, tgt_out, options);
  const int64_t B = tgt_out.size(0), T = tgt_out.size(1);
  const std::vector<int64_t> ids = tgt_out.reshape({-1}).to_vector<int64_t>();
  std::vector<int64_t> steps(static_cast<size_t>(B), 0);  // per row: 1 + its last position with a target
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      if (ids[static_cast<size_t>(b * T + t)] != options.ignore_index) steps[static_cast<size_t>(b)] = t + 1;
  std::vector<int64_t> order(static_cast<size_t>(B));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return steps[static_cast<size_t>(x)] > steps[static_cast<size_t>(y)]; });
  if (order.empty() || steps[static_cast<size_t>(order[0])] == 0)  // no target at all
    return Seq2Seq::loss(src, src_lengths, tgt_in, tgt_out, options);

  Tensor s = src, s_lengths = src_lengths, t_in = tgt_in;
  if (!std::is_sorted(order.begin(), order.end())) {
    const Tensor index = from_vector(order);
    s = index_select(src, 0, index);
    s_lengths = src_lengths.defined() ? index_select(src_lengths, 0, index) : src_lengths;
    t_in = index_select(tgt_in, 0, index);
  }
  auto state = encode(s, s_lengths);
  auto& st = static_cast<State&>(*state);
  const Tensor memory = st.memory, keys_proj = st.keys_proj, mask = st.mask;  // [B, ...], narrowed below
  std::vector<Tensor> outputs;
  std::vector<int64_t> keep, targets;  // rows of the stacked outputs with a target, and those targets
  int64_t n = B, row = 0;
  for (int64_t t = 0; t < T; ++t) {
    while (n > 0 && steps[static_cast<size_t>(order[static_cast<size_t>(n - 1)])] <= t) --n;
    if (n == 0) break;
    if (n < st.memory.size(0)) {  // rows n.. have ended: keep the first n rows of everything
      auto first = [n](const Tensor& x) { return x.defined() ? x.narrow(0, 0, n) : Tensor(); };
      st.memory = first(memory);  // narrowed from the full tensors, not view upon view
      st.keys_proj = first(keys_proj);
      st.mask = first(mask);
      st.feed = first(st.feed);
      for (auto& l : st.layers) l = {first(l.h), first(l.c)};
    }
    outputs.push_back(step(st, t_in.select(1, t).narrow(0, 0, n), nullptr));  // [n, D]
    for (int64_t i = 0; i < n; ++i, ++row) {
      const int64_t id = ids[static_cast<size_t>(order[static_cast<size_t>(i)] * T + t)];
      if (id == options.ignore_index) continue;
      keep.push_back(row);
      targets.push_back(id);
    }
  }
  Tensor feats = cat(outputs, 0);  // [rows, D], time-major
  if (static_cast<int64_t>(keep.size()) < row) feats = index_select(feats, 0, from_vector(keep));
  return nn::functional::cross_entropy(project(feats), from_vector(targets), options);
}

Tensor RNNSeq2Seq::decode_features(DecoderState& state, const Tensor& tokens, Tensor* attention_weights) {
  return step(dynamic_cast<State&>(state), tokens, attention_weights);
}

Seq2Seq::OutputLayer RNNSeq2Seq::output_layer() {
  return out ? OutputLayer{out->weight, out->bias} : OutputLayer{tgt_embed->weight, Tensor()};
}

}  // namespace gg::models
