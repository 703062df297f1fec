#pragma once
// Transformer building blocks (Vaswani et al., 2017), with torch.nn.Transformer*Layer's
// parameter names, so a state dict compares one to one: self_attn, multihead_attn, linear1,
// linear2, norm1..3.
//
// Post-norm (the paper, PyTorch's default):   x = norm(x + sublayer(x))
// Pre-norm  (norm_first, easier to train deep): x = x + sublayer(norm(x))
#include <functional>
#include <memory>
#include <vector>

#include "nn/activation.h"
#include "nn/embedding.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/multihead.h"
#include "nn/sequential.h"

namespace gg::nn {

// x + PE[offset : offset + T], PE[pos, 2i] = sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = cos(...).
// x is [B, T, D] (batch_first) or [T, B, D]. The table is a buffer of max_len rows.
class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len = 1024, bool batch_first = true,
                               DType dtype = DType::Float32);
  std::string name() const override { return "SinusoidalPositionalEncoding"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  Tensor forward(const Tensor& x, int64_t offset);
  Tensor table;  // [max_len, D]
  bool batch_first;
};

// x + P[offset : offset + T] with a learned table P [max_len, D] (as BERT/GPT), N(0, 1) init.
class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t d_model, bool batch_first = true, DType dtype = DType::Float32);
  std::string name() const override { return "LearnedPositionalEmbedding"; }
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  Tensor forward(const Tensor& x, int64_t offset);
  std::shared_ptr<Embedding> positions;
  bool batch_first;
};

struct TransformerLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  bool gelu = false;  // activation of the feed-forward block: relu (default) or gelu
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
  DType dtype = DType::Float32;
};

// Self-attention then a feed-forward block, each with a residual and a LayerNorm.
class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options = {});
  std::string name() const override { return "TransformerEncoderLayer"; }
  // src [S, B, D] (or [B, S, D]); src_mask bool [S, S]; src_key_padding_mask bool [B, S] (true = padding).
  Tensor forward(const Tensor& src, const Tensor& src_mask = {}, const Tensor& src_key_padding_mask = {});
  Tensor forward(const Tensor& src) override { return forward(src, Tensor(), Tensor()); }

  TransformerLayerOptions options;
  std::shared_ptr<MultiHeadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;

  // The same layer on packed tokens (Packing, nn/attention.h): src [N, D], the tokens at the
  // positions `rows` gives, rows.padding the key padding mask. The padded layout is never
  // built unless the attention needs it (MultiHeadAttention::forward_packed).
  Tensor forward_packed(const Tensor& src, const Packing& rows, const Tensor& src_mask = {});

 private:
  // The residual connections, layer norms and feed-forward around the self-attention `attend`.
  Tensor around(const Tensor& src, const std::function<Tensor(const Tensor&)>& attend);
};

// Causal self-attention, cross-attention over the encoder's memory, then feed-forward.
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options = {});
  std::string name() const override { return "TransformerDecoderLayer"; }
  // tgt [T, B, D]; memory [S, B, D] (or batch-first); tgt_mask bool [T, T] (causal_mask(T));
  // key padding masks bool [B, T] and [B, S]. If cross_weights is given it receives the
  // cross-attention weights averaged over heads, [B, T, S]: where each target step looks.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 Tensor* cross_weights = nullptr);
  // The same layer on packed tokens: tgt [Nt, D] and memory [Ns, D], the tokens at the
  // positions tgt_rows and memory_rows give (Packing, nn/attention.h), whose padding masks
  // are the key padding masks.
  Tensor forward_packed(const Tensor& tgt, const Packing& tgt_rows, const Tensor& memory, const Packing& memory_rows,
                        const Tensor& tgt_mask = {}, const Tensor& memory_mask = {});

  // Incremental decoding (a key/value cache): what the layer keeps between steps, per row.
  struct Cache {
    MultiHeadAttention::KeyValues self;    // keys and values of the target positions so far [B, t, E]
    // The encoder's memory, projected once [M, S, E]: M = B, or fewer, each run of B / M
    // consecutive rows reading one memory row (MultiHeadAttention::forward_projected).
    MultiHeadAttention::KeyValues memory;
    void select(const Tensor& index);      // keeps rows `index` (int64 [B']) of both, with M = B
  };
  // The cache before the first step of decoding against `memory` ([S, M, D] or batch-first).
  Cache start(const Tensor& memory);
  // One target position, tgt [1, B, D] (or [B, 1, D]): its output equals that position's
  // output of forward() over the whole prefix with causal_mask, up to rounding, at the cost
  // of one position. memory_key_padding_mask is [M, S]; cross_weights, if given, receives [B, 1, S].
  Tensor forward_step(const Tensor& tgt, Cache& cache, const Tensor& memory_key_padding_mask = {},
                      Tensor* cross_weights = nullptr);

  TransformerLayerOptions options;
  std::shared_ptr<MultiHeadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;

 private:
  Tensor around(const Tensor& tgt, const std::function<Tensor(const Tensor&)>& self_attend,
                const std::function<Tensor(const Tensor&)>& cross_attend);
};

// N encoder layers (named layers.0 ... layers.N-1) and an optional final LayerNorm ("norm",
// needed after a pre-norm stack).
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(int64_t d_model, int64_t nhead, int64_t num_layers, TransformerLayerOptions options = {},
                     bool final_norm = false);
  std::string name() const override { return "TransformerEncoder"; }
  Tensor forward(const Tensor& src, const Tensor& mask = {}, const Tensor& src_key_padding_mask = {});
  Tensor forward(const Tensor& src) override { return forward(src, Tensor(), Tensor()); }
  // On packed tokens, src [N, D] (TransformerEncoderLayer::forward_packed) -> [N, D].
  Tensor forward_packed(const Tensor& src, const Packing& rows, const Tensor& mask = {});
  std::shared_ptr<ModuleList<TransformerEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;  // null without final_norm
};

class TransformerDecoder : public Module {
 public:
  TransformerDecoder(int64_t d_model, int64_t nhead, int64_t num_layers, TransformerLayerOptions options = {},
                     bool final_norm = false);
  std::string name() const override { return "TransformerDecoder"; }
  // cross_weights, if given, receives the last layer's cross-attention weights [B, T, S].
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 Tensor* cross_weights = nullptr);
  // On packed tokens (TransformerDecoderLayer::forward_packed) -> [Nt, D].
  Tensor forward_packed(const Tensor& tgt, const Packing& tgt_rows, const Tensor& memory, const Packing& memory_rows,
                        const Tensor& tgt_mask = {}, const Tensor& memory_mask = {});
  // Incremental decoding, one layer cache each (TransformerDecoderLayer::forward_step):
  // tgt [1, B, D] (or [B, 1, D]) is the next position; cross_weights gets the last layer's.
  using Cache = std::vector<TransformerDecoderLayer::Cache>;
  Cache start(const Tensor& memory);
  Tensor forward_step(const Tensor& tgt, Cache& cache, const Tensor& memory_key_padding_mask = {},
                      Tensor* cross_weights = nullptr);
  std::shared_ptr<ModuleList<TransformerDecoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;
};

}  // namespace gg::nn
