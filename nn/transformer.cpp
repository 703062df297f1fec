#include "nn/transformer.h"

#include <cmath>
#include <functional>

#include "autograd/elementwise.h"
#include "autograd/shape.h"
#include "nn/init.h"

namespace gg::nn {

// ---- positional encodings ------------------------------------------------------------------------

namespace {
// The rows [offset, offset + T) of a [max_len, D] table, shaped to add to x.
Tensor positions_for(const Tensor& x, const Tensor& table, int64_t offset, bool batch_first, const char* who) {
  GG_CHECK(x.dim() == 3 && x.size(2) == table.size(1),
           "{}: input must be {} with D = {}, got shape {}", who, batch_first ? "[B, T, D]" : "[T, B, D]",
           table.size(1), x.shape());
  const int64_t T = x.size(batch_first ? 1 : 0);
  GG_CHECK(offset >= 0 && offset + T <= table.size(0),
           "{}: positions {}..{} exceed the table of {} positions; hint: raise max_len", who, offset, offset + T - 1,
           table.size(0));
  Tensor rows = table.narrow(0, offset, T);             // [T, D]
  return batch_first ? rows.unsqueeze(0) : rows.unsqueeze(1);
}
}  // namespace

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len, bool batch_first,
                                                           DType dtype)
    : batch_first(batch_first) {
  GG_CHECK(d_model > 0 && max_len > 0, "SinusoidalPositionalEncoding: sizes must be positive");
  std::vector<double> pe(static_cast<size_t>(max_len * d_model));
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < d_model; ++i) {
      const double angle = static_cast<double>(pos) /
                           std::pow(10000.0, static_cast<double>(2 * (i / 2)) / static_cast<double>(d_model));
      pe[pos * d_model + i] = i % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  table = from_vector(pe, {max_len, d_model}).to(dtype);
  register_buffer("table", table);
}

std::string SinusoidalPositionalEncoding::extra_repr() const {
  return fmt::format("d_model={}, max_len={}", table.size(1), table.size(0));
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t offset) {
  return x + positions_for(x, table, offset, batch_first, "SinusoidalPositionalEncoding");
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t d_model, bool batch_first, DType dtype)
    : batch_first(batch_first) {
  positions = register_module("positions", std::make_shared<Embedding>(max_len, d_model, EmbeddingOptions{.dtype = dtype}));
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, int64_t offset) {
  return x + positions_for(x, positions->weight, offset, batch_first, "LearnedPositionalEmbedding");
}

// ---- layers --------------------------------------------------------------------------------------------

namespace {
MultiHeadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  return {.dropout = o.dropout, .batch_first = o.batch_first, .dtype = o.dtype};
}
Tensor feed_forward(const Tensor& x, Linear& linear1, Linear& linear2, const TransformerLayerOptions& o, bool training) {
  Tensor h = linear1.forward(x);
  h = o.gelu ? functional::gelu(h) : relu(h);
  return functional::dropout(linear2.forward(functional::dropout(h, o.dropout, training)), o.dropout, training);
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options)
    : options(options) {
  self_attn = register_module("self_attn", std::make_shared<MultiHeadAttention>(d_model, nhead, attention_options(options)));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, options.dim_feedforward, LinearOptions{.dtype = options.dtype}));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, d_model, LinearOptions{.dtype = options.dtype}));
  LayerNormOptions ln{.eps = options.layer_norm_eps, .dtype = options.dtype};
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{d_model}, ln));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{d_model}, ln));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask) {
  return around(src, [&](const Tensor& x) {
    return self_attn->forward(x, x, x, src_key_padding_mask, src_mask, /*need_weights=*/false).output;
  });
}

Tensor TransformerEncoderLayer::forward_packed(const Tensor& src, const Packing& rows, const Tensor& src_mask) {
  return around(src, [&](const Tensor& x) { return self_attn->forward_packed(x, x, x, rows, rows, src_mask); });
}

Tensor TransformerEncoderLayer::around(const Tensor& src, const std::function<Tensor(const Tensor&)>& attend) {
  const bool training = is_training();
  auto attention_block = [&](const Tensor& x) { return functional::dropout(attend(x), options.dropout, training); };
  Tensor x = src;
  if (options.norm_first) {
    x = x + attention_block(norm1->forward(x));
    return x + feed_forward(norm2->forward(x), *linear1, *linear2, options, training);
  }
  x = norm1->forward(x + attention_block(x));
  return norm2->forward(x + feed_forward(x, *linear1, *linear2, options, training));
}

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options)
    : options(options) {
  self_attn = register_module("self_attn", std::make_shared<MultiHeadAttention>(d_model, nhead, attention_options(options)));
  multihead_attn =
      register_module("multihead_attn", std::make_shared<MultiHeadAttention>(d_model, nhead, attention_options(options)));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, options.dim_feedforward, LinearOptions{.dtype = options.dtype}));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, d_model, LinearOptions{.dtype = options.dtype}));
  LayerNormOptions ln{.eps = options.layer_norm_eps, .dtype = options.dtype};
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{d_model}, ln));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{d_model}, ln));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(Shape{d_model}, ln));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, Tensor* cross_weights) {
  auto self_attend = [&](const Tensor& x) {
    return self_attn->forward(x, x, x, tgt_key_padding_mask, tgt_mask, false).output;
  };
  auto cross_attend = [&](const Tensor& x) {
    auto out = multihead_attn->forward(x, memory, memory, memory_key_padding_mask, memory_mask, cross_weights != nullptr);
    if (cross_weights) *cross_weights = out.weights;
    return out.output;
  };
  return around(tgt, self_attend, cross_attend);
}

Tensor TransformerDecoderLayer::forward_packed(const Tensor& tgt, const Packing& tgt_rows, const Tensor& memory,
                                               const Packing& memory_rows, const Tensor& tgt_mask,
                                               const Tensor& memory_mask) {
  auto self_attend = [&](const Tensor& x) { return self_attn->forward_packed(x, x, x, tgt_rows, tgt_rows, tgt_mask); };
  auto cross_attend = [&](const Tensor& x) {
    return multihead_attn->forward_packed(x, memory, memory, tgt_rows, memory_rows, memory_mask);
  };
  return around(tgt, self_attend, cross_attend);
}

void TransformerDecoderLayer::Cache::select(const Tensor& index) {
  if (self.k.defined()) self.select(index);
  memory.select(index);
}

TransformerDecoderLayer::Cache TransformerDecoderLayer::start(const Tensor& memory) {
  return {.self = {}, .memory = multihead_attn->project_keys_values(memory, memory)};
}

Tensor TransformerDecoderLayer::forward_step(const Tensor& tgt, Cache& cache, const Tensor& memory_key_padding_mask,
                                             Tensor* cross_weights) {
  auto self_attend = [&](const Tensor& x) { return self_attn->forward_step(x, cache.self); };
  auto cross_attend = [&](const Tensor& x) {
    auto out = multihead_attn->forward_projected(x, cache.memory, memory_key_padding_mask, cross_weights != nullptr);
    if (cross_weights) *cross_weights = out.weights;
    return out.output;
  };
  return around(tgt, self_attend, cross_attend);
}

Tensor TransformerDecoderLayer::around(const Tensor& tgt, const std::function<Tensor(const Tensor&)>& self_attend,
                                       const std::function<Tensor(const Tensor&)>& cross_attend) {
  const bool training = is_training();
  auto self_block = [&](const Tensor& x) { return functional::dropout(self_attend(x), options.dropout, training); };
  auto cross_block = [&](const Tensor& x) { return functional::dropout(cross_attend(x), options.dropout, training); };
  Tensor x = tgt;
  if (options.norm_first) {
    x = x + self_block(norm1->forward(x));
    x = x + cross_block(norm2->forward(x));
    return x + feed_forward(norm3->forward(x), *linear1, *linear2, options, training);
  }
  x = norm1->forward(x + self_block(x));
  x = norm2->forward(x + cross_block(x));
  return norm3->forward(x + feed_forward(x, *linear1, *linear2, options, training));
}

// ---- stacks ----------------------------------------------------------------------------------------------

TransformerEncoder::TransformerEncoder(int64_t d_model, int64_t nhead, int64_t num_layers,
                                       TransformerLayerOptions options, bool final_norm) {
  layers = register_module("layers", std::make_shared<ModuleList<TransformerEncoderLayer>>());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<TransformerEncoderLayer>(d_model, nhead, options));
  if (final_norm)
    norm = register_module("norm", std::make_shared<LayerNorm>(Shape{d_model}, LayerNormOptions{.eps = options.layer_norm_eps, .dtype = options.dtype}));
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask) {
  Tensor x = src;
  for (const auto& layer : *layers) x = layer->forward(x, mask, src_key_padding_mask);
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(int64_t d_model, int64_t nhead, int64_t num_layers,
                                       TransformerLayerOptions options, bool final_norm) {
  layers = register_module("layers", std::make_shared<ModuleList<TransformerDecoderLayer>>());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<TransformerDecoderLayer>(d_model, nhead, options));
  if (final_norm)
    norm = register_module("norm", std::make_shared<LayerNorm>(Shape{d_model}, LayerNormOptions{.eps = options.layer_norm_eps, .dtype = options.dtype}));
}

Tensor TransformerEncoder::forward_packed(const Tensor& src, const Packing& rows, const Tensor& mask) {
  Tensor x = src;
  for (const auto& layer : *layers) x = layer->forward_packed(x, rows, mask);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerDecoder::forward_packed(const Tensor& tgt, const Packing& tgt_rows, const Tensor& memory,
                                          const Packing& memory_rows, const Tensor& tgt_mask, const Tensor& memory_mask) {
  Tensor x = tgt;
  for (const auto& layer : *layers) x = layer->forward_packed(x, tgt_rows, memory, memory_rows, tgt_mask, memory_mask);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, Tensor* cross_weights) {
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i) {
    const bool last = i + 1 == layers->size();
    x = (*layers)[i]->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                              last ? cross_weights : nullptr);
  }
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::Cache TransformerDecoder::start(const Tensor& memory) {
  Cache cache;
  for (const auto& layer : *layers) cache.push_back(layer->start(memory));
  return cache;
}

Tensor TransformerDecoder::forward_step(const Tensor& tgt, Cache& cache, const Tensor& memory_key_padding_mask,
                                        Tensor* cross_weights) {
  GG_CHECK(cache.size() == layers->size(), "TransformerDecoder.forward_step: a cache of {} layers for {} layers; "
           "hint: start it with this decoder's start(memory)", cache.size(), layers->size());
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i) {
    const bool last = i + 1 == layers->size();
    x = (*layers)[i]->forward_step(x, cache[i], memory_key_padding_mask, last ? cross_weights : nullptr);
  }
  return norm ? norm->forward(x) : x;
}

}  // namespace gg::nn
