#include "autograd/embedding.h"

#include "autograd/node.h"
#include "core/kernels.h"

namespace gg {

// forward: y[..., :] = W[ids[...], :]      backward: dW[v] = sum of dy rows whose id is v (none for padding_idx)
struct EmbeddingBackward : Node {
  SavedTensor ids{this};  // flat [N]
  int64_t padding_idx = -1;
  std::string name() const override { return "EmbeddingBackward"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Shape& w = inputs[0].shape;
    Tensor rows = kernel::contiguous(dy).view({-1, w[1]});  // [N, E]
    if (padding_idx >= 0) {  // the padding row learns nothing: drop its rows of dy
      Tensor pad = scalar_tensor(static_cast<double>(padding_idx), {.dtype = DType::Int64});
      rows = kernel::masked_fill(rows, kernel::compare(kernel::Compare::Eq, ids(), pad).unsqueeze(1), 0.0);
    }
    if (inputs[0].leaf) {  // the engine adds the rows of every use into .grad() at once (node.h)
      deferred.push_back({DeferredGrad::Kind::Rows, inputs[0].leaf, nullptr, rows, ids(), w});
      return {Tensor(), Tensor()};
    }
    return {kernel::index_add(zeros(w, {.dtype = dy.dtype()}), 0, ids(), rows), Tensor()};
  }
};

Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx) {
  GG_CHECK(weight.defined() && weight.dim() == 2, "embedding: weight must be 2-D [V, E], got shape {}",
           weight.defined() ? weight.shape() : Shape{});
  GG_CHECK(ids.defined() && ids.dtype() == DType::Int64,
           "embedding: ids must be an int64 tensor, got {}; hint: token ids are int64",
           ids.defined() ? dtype_name(ids.dtype()) : "an undefined tensor");
  const int64_t V = weight.size(0);
  GG_CHECK(padding_idx < V, "embedding: padding_idx {} is out of range for a vocabulary of {}", padding_idx, V);
  const Tensor flat = kernel::contiguous(ids).view({-1});
  const int64_t* p = flat.data<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i)
    GG_CHECK(p[i] >= 0 && p[i] < V,
             "embedding: token id {} (at flat position {} of ids with shape {}) is outside the vocabulary of size {}",
             p[i], i, ids.shape(), V);
  Shape shape = ids.shape();
  shape.push_back(weight.size(1));
  Tensor y = kernel::view(kernel::index_select(weight, 0, flat), shape);
  if (needs_grad(weight)) {
    auto node = std::make_shared<EmbeddingBackward>();
    node->ids = flat;
    node->padding_idx = padding_idx;
    attach(y, node, {weight, ids});
  }
  return y;
}

}  // namespace gg
