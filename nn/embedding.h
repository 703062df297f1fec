#pragma once
#include <fmt/format.h>

#include "nn/functional.h"
#include "nn/init.h"
#include "nn/module.h"

namespace gg::nn {

struct EmbeddingOptions {
  int64_t padding_idx = -1;  // this row starts at zero and gets no gradient; -1 for none
  DType dtype = DType::Float32;
};

// Token ids int64 [...] -> vectors [..., E]. Initialization as PyTorch's nn.Embedding:
// N(0, 1), with the padding row zeroed.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {})
      : num_embeddings(num_embeddings), embedding_dim(embedding_dim), padding_idx(options.padding_idx) {
    GG_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: sizes must be positive, got {} x {}",
             num_embeddings, embedding_dim);
    GG_CHECK(padding_idx >= -1 && padding_idx < num_embeddings,
             "Embedding: padding_idx {} is out of range for {} embeddings", padding_idx, num_embeddings);
    weight = Tensor::empty({num_embeddings, embedding_dim}, options.dtype);
    init::normal_(weight);
    if (padding_idx >= 0) weight.select(0, padding_idx).zero_();
    register_parameter("weight", weight);
  }

  std::string name() const override { return "Embedding"; }
  std::string extra_repr() const override {
    return fmt::format("{}, {}{}", num_embeddings, embedding_dim,
                       padding_idx >= 0 ? fmt::format(", padding_idx={}", padding_idx) : "");
  }
  Tensor forward(const Tensor& ids) override { return functional::embedding(ids, weight, padding_idx); }

  int64_t num_embeddings, embedding_dim, padding_idx;
  Tensor weight;  // [V, E]
};

}  // namespace gg::nn
