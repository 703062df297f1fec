#include "models/seq2seq.h"

#include "autograd/index.h"
#include "autograd/softmax.h"
#include "nn/functional.h"

namespace gg::models {

Tensor Seq2Seq::forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) {
  return project(features(src, src_lengths, tgt_in));
}

Tensor Seq2Seq::decode_step(DecoderState& state, const Tensor& tokens, Tensor* attention) {
  return log_softmax(project(decode_features(state, tokens, attention)), -1);
}

bool Seq2Seq::loss_can_skip_padding(const Tensor& src, const Tensor& tgt_in, const Tensor& tgt_out,
                                    const CrossEntropyOptions& options) {
  return options.reduction != Reduction::None && src.defined() && src.dim() == 2 && tgt_in.defined() &&
         tgt_in.dim() == 2 && tgt_in.size(0) == src.size(0) && tgt_out.defined() && tgt_out.dtype() == DType::Int64 &&
         tgt_out.shape() == tgt_in.shape();
}

Tensor Seq2Seq::loss(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, const Tensor& tgt_out,
                     const CrossEntropyOptions& options) {
  GG_CHECK(tgt_out.defined() && tgt_out.dtype() == DType::Int64 && tgt_out.shape() == tgt_in.shape(),
           "{}.loss: tgt_out must be int64 shaped like tgt_in {}, got {}", name(), tgt_in.shape(),
           tgt_out.defined() ? tgt_out.shape() : Shape{});
  if (options.reduction == Reduction::None) return nn::functional::cross_entropy(forward(src, src_lengths, tgt_in), tgt_out, options);
  const Tensor feats = features(src, src_lengths, tgt_in);  // [B, T, D]
  const Tensor targets = tgt_out.reshape({-1});
  std::vector<int64_t> keep;  // flat positions with a real target
  const std::vector<int64_t> ids = targets.to_vector<int64_t>();
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != options.ignore_index) keep.push_back(static_cast<int64_t>(i));
  if (keep.size() == ids.size()) return nn::functional::cross_entropy(project(feats), tgt_out, options);
  const Tensor rows = from_vector(keep);
  const Tensor kept = index_select(feats.reshape({-1, feats.size(-1)}), 0, rows);  // [N, D]
  return nn::functional::cross_entropy(project(kept), index_select(targets, 0, rows), options);
}

}  // namespace gg::models
