#include "models/seq2seq.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "autograd/index.h"
#include "autograd/softmax.h"
#include "nn/functional.h"

namespace gg::models {

namespace {

// If `rows` is runs of one length, each of one value ([a, a, b, b, c, c]), those values.
std::optional<std::vector<int64_t>> runs_of_one_length(const std::vector<int64_t>& rows) {
  std::vector<size_t> starts;
  for (size_t r = 0; r < rows.size(); ++r)
    if (r == 0 || rows[r] != rows[r - 1]) starts.push_back(r);
  if (starts.empty() || rows.size() % starts.size() != 0) return std::nullopt;
  const size_t G = rows.size() / starts.size();
  std::vector<int64_t> values;
  for (size_t j = 0; j < starts.size(); ++j) {
    if (starts[j] != j * G) return std::nullopt;
    values.push_back(rows[j * G]);
  }
  return values;
}

}  // namespace

SourceRows::SourceRows(int64_t B, bool shared) : of_row(static_cast<size_t>(B)), shared(shared) {
  std::iota(of_row.begin(), of_row.end(), int64_t{0});
}

Tensor SourceRows::select(const Tensor& index) {
  std::vector<int64_t> rows;  // the source row each new decoding row reads
  for (int64_t i : index.to_vector<int64_t>()) rows.push_back(of_row.at(static_cast<size_t>(i)));
  const int64_t M = of_row.empty() ? 0 : *std::max_element(of_row.begin(), of_row.end()) + 1;
  const std::optional<std::vector<int64_t>> runs = shared ? runs_of_one_length(rows) : std::nullopt;
  const std::vector<int64_t>& keep = runs ? *runs : rows;  // the source rows still read, in order
  const size_t G = runs ? rows.size() / runs->size() : 1;
  of_row.resize(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) of_row[r] = static_cast<int64_t>(r / G);
  std::vector<int64_t> all(static_cast<size_t>(M));
  std::iota(all.begin(), all.end(), int64_t{0});
  return keep == all ? Tensor() : from_vector(keep);
}

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
