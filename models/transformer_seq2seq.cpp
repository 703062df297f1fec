#include "models/transformer_seq2seq.h"

#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/index.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nn/attention.h"
#include "nn/functional.h"

namespace gg::models {
namespace {

struct State : DecoderState {
  Tensor memory;      // [M, S, D]; with the cache, only until the first step projects it
  Tensor source_pad;  // [M, S] bool, true at padding
  Tensor prefix;      // [B, t] int64: the tokens fed so far (without the cache)
  nn::TransformerDecoder::Cache cache;  // each layer's keys and values (with it)
  int64_t steps = 0;                    // positions decoded so far
  SourceRows source;  // shared between rows with the cache; without it, M = B (the prefix is re-run on it)

  State(int64_t B, bool shared) : source(B, shared) {}
  void select(const Tensor& index) override {
    if (prefix.defined()) prefix = index_select(prefix, 0, index);
    for (auto& layer : cache)
      if (layer.self.k.defined()) layer.self.select(index);
    const Tensor kept = source.select(index);
    if (!kept.defined()) return;
    if (memory.defined()) memory = index_select(memory, 0, kept);
    source_pad = index_select(source_pad, 0, kept);
    for (auto& layer : cache) layer.memory.select(kept);
  }
};

}  // namespace

TransformerSeq2Seq::TransformerSeq2Seq(int64_t src_vocab, int64_t tgt_vocab, TransformerSeq2SeqOptions o)
    : options(o) {
  const int64_t D = o.d_model;
  src_embed = register_module("src_embed", std::make_shared<nn::Embedding>(src_vocab, D, nn::EmbeddingOptions{.padding_idx = 0}));
  tgt_embed = register_module("tgt_embed", std::make_shared<nn::Embedding>(tgt_vocab, D, nn::EmbeddingOptions{.padding_idx = 0}));
  // Embeddings ~ N(0, 1/D), so that embed * sqrt(D) has unit scale next to the positions.
  for (auto* table : {src_embed.get(), tgt_embed.get()}) table->weight.detach().mul_(1.0 / std::sqrt(static_cast<double>(D)));
  positions = register_module("positions", std::make_shared<nn::SinusoidalPositionalEncoding>(D, o.max_len, true));
  nn::TransformerLayerOptions layer{.dim_feedforward = o.dim_feedforward, .dropout = o.dropout, .batch_first = true,
                                    .norm_first = o.norm_first};
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(D, o.heads, o.encoder_layers, layer, o.norm_first));
  decoder = register_module("decoder", std::make_shared<nn::TransformerDecoder>(D, o.heads, o.decoder_layers, layer, o.norm_first));
  if (!o.tie_embeddings) out = register_module("out", std::make_shared<nn::Linear>(D, tgt_vocab));
}

Tensor TransformerSeq2Seq::embed(nn::Embedding& table, const Tensor& ids, int64_t offset) {
  Tensor x = positions->forward(table.forward(ids) * std::sqrt(static_cast<double>(options.d_model)), offset);
  return nn::functional::dropout(x, options.dropout, is_training());
}

Tensor TransformerSeq2Seq::project(const Tensor& x) {
  return out ? out->forward(x) : nn::functional::linear(x, tgt_embed->weight);
}

std::unique_ptr<DecoderState> TransformerSeq2Seq::encode(const Tensor& src, const Tensor& src_lengths) {
  GG_CHECK(src.dim() == 2 && src.dtype() == DType::Int64, "TransformerSeq2Seq.encode: src must be int64 [B, S], got {} {}",
           dtype_name(src.dtype()), src.shape());
  auto state = std::make_unique<State>(src.size(0), kv_cache);
  state->source_pad = nn::functional::padding_mask(src_lengths, src.size(1)).squeeze(1);  // [B, S]
  state->memory = encoder->forward(embed(*src_embed, src), {}, state->source_pad);
  return state;
}

Tensor TransformerSeq2Seq::features(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) {
  auto state = encode(src, src_lengths);
  auto& st = static_cast<State&>(*state);
  const int64_t T = tgt_in.size(1);
  Tensor target_pad = eq(tgt_in, 0.0);  // [B, T]
  Tensor y = decoder->forward(embed(*tgt_embed, tgt_in), st.memory, nn::functional::causal_mask(T), {}, target_pad,
                              st.source_pad);
  return y;  // [B, T, D]
}

Tensor TransformerSeq2Seq::loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in,
                                const Tensor& tgt_out, const CrossEntropyOptions& options) {
  if (!loss_can_skip_padding(src, tgt_in, tgt_out, options))
    return Seq2Seq::loss(src, src_lengths, tgt_in, tgt_out, options);
  const Tensor source_pad = nn::functional::padding_mask(src_lengths, src.size(1)).squeeze(1);  // [B, S]
  const Tensor target_pad = eq(tgt_in, 0.0);                                                    // [B, T]
  const nn::Packing source_rows = nn::Packing::from_padding(source_pad);
  const nn::Packing target_rows = nn::Packing::from_padding(target_pad);
  // The loss reads the decoder's output where tgt_out has a target: positions that must hold
  // an input token, as <bos> + target and target + <eos> do. Anything else takes the padded path.
  const std::vector<int64_t> ids = tgt_out.reshape({-1}).to_vector<int64_t>();
  const std::vector<int64_t> tokens = target_rows.index.to_vector<int64_t>();
  std::vector<int64_t> keep, targets;  // rows of the packed output with a target, and those targets
  size_t next = 0;
  for (size_t pos = 0; pos < ids.size(); ++pos) {
    const bool token = next < tokens.size() && tokens[next] == static_cast<int64_t>(pos);
    if (ids[pos] != options.ignore_index) {
      if (!token) return Seq2Seq::loss(src, src_lengths, tgt_in, tgt_out, options);
      keep.push_back(static_cast<int64_t>(next));
      targets.push_back(ids[pos]);
    }
    next += token;
  }
  if (keep.empty() || source_rows.tokens() == 0) return Seq2Seq::loss(src, src_lengths, tgt_in, tgt_out, options);

  const Tensor memory = encoder->forward_packed(source_rows.pack(embed(*src_embed, src)), source_rows);
  Tensor y = decoder->forward_packed(target_rows.pack(embed(*tgt_embed, tgt_in)), target_rows, memory, source_rows,
                                     nn::functional::causal_mask(tgt_in.size(1)));  // [N, D]
  if (static_cast<int64_t>(keep.size()) < target_rows.tokens()) y = index_select(y, 0, from_vector(keep));
  return nn::functional::cross_entropy(project(y), from_vector(targets), options);
}

Tensor TransformerSeq2Seq::decode_features(DecoderState& state, const Tensor& tokens, Tensor* attention) {
  auto& st = dynamic_cast<State&>(state);
  Tensor next = tokens.unsqueeze(1);  // [B, 1]
  if (kv_cache && st.steps == 0 && !st.prefix.defined()) {  // the first step: project the memory once
    st.cache = decoder->start(st.memory);
    st.memory = Tensor();
  }
  if (!st.cache.empty()) {  // one position through each layer, against its cache
    Tensor cross;
    const Tensor y = decoder->forward_step(embed(*tgt_embed, next, st.steps++), st.cache, st.source_pad,
                                           attention ? &cross : nullptr);  // [B, 1, D]
    if (attention) *attention = cross.select(1, 0);  // [B, S]
    return y.select(1, 0);  // [B, D]
  }
  st.prefix = st.prefix.defined() ? cat({st.prefix, next}, 1) : next;
  const int64_t t = st.prefix.size(1);
  Tensor cross;
  Tensor y = decoder->forward(embed(*tgt_embed, st.prefix), st.memory, nn::functional::causal_mask(t), {}, {},
                              st.source_pad, attention ? &cross : nullptr);
  if (attention) *attention = cross.select(1, t - 1);  // [B, S]
  return y.select(1, t - 1);  // [B, D]
}

Seq2Seq::OutputLayer TransformerSeq2Seq::output_layer() {
  return out ? OutputLayer{out->weight, out->bias} : OutputLayer{tgt_embed->weight, Tensor()};
}

}  // namespace gg::models
