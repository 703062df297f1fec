// Data-parallel training, run by CTest under mpirun with 2 and 3 ranks (and over TCP on the
// loopback interface, standing for separate machines): see tests/CMakeLists.txt.
//
// Every rank runs every test case, in the same order: a case's collectives meet only if all
// ranks reach them, so checks here are CHECK (never REQUIRE, which would leave a case early on
// one rank and hang the others), and results are compared on every rank through all_gather.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/random.h"
#include "data/batch.h"
#include "data/toy.h"
#include "dist/comm.h"
#include "dist/data_parallel.h"
#include "app/checkpoint.h"
#include "app/trainer.h"
#include "app/translator.h"
#include "optim/clip.h"
#include "optim/optimizers.h"

namespace {

using gg::Tensor;
namespace dist = gg::dist;

const std::vector<gg::data::SentencePair>& toy_pairs() {
  static const auto pairs = gg::data::toy_task("reverse").generate(35, 11);  // 5 batches of 7
  return pairs;
}

// A small LSTM-attention or Transformer translator, the same on every rank (seeded).
gg::app::Translator tiny_translator(const std::string& arch, double dropout) {
  gg::manual_seed(5);
  gg::app::TranslatorConfig config;
  config.architecture = arch;
  config.tokenizer = "char";
  config.rnn = {.embed = 8, .hidden = 16, .dropout = dropout};
  config.transformer = {.d_model = 16, .heads = 2, .encoder_layers = 1, .decoder_layers = 1, .dim_feedforward = 32,
                        .dropout = dropout};
  auto tok = gg::app::make_tokenizer("char", false);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& p : toy_pairs()) {
    src.push_back(tok->encode(p.src));
    tgt.push_back(tok->encode(p.tgt));
  }
  return gg::app::Translator(config, tok, tok, gg::data::Vocab::build(src), gg::data::Vocab::build(tgt));
}

std::vector<gg::data::EncodedPair> encoded(const gg::app::Translator& t) {
  return gg::data::encode_pairs(toy_pairs(), *t.src_tokenizer, t.src_vocab, *t.tgt_tokenizer, t.tgt_vocab);
}

// One directory for the whole job: rank 0 names it, every rank learns the name.
std::string job_dir(const std::string& name) {
  std::array<char, 256> path{};
  if (dist::rank() == 0) {
    const auto dir = std::filesystem::temp_directory_path() / ("gg-dist-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir);
    std::snprintf(path.data(), path.size(), "%s", dir.c_str());
  }
  dist::broadcast({reinterpret_cast<std::byte*>(path.data()), path.size()});
  return path.data();
}

std::vector<float> flat(const std::vector<Tensor>& tensors) {
  std::vector<float> out;
  for (const Tensor& t : tensors) {
    const auto v = t.contiguous().to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// The same on every rank? A fingerprint of the bytes, gathered.
bool same_on_every_rank(const std::vector<float>& values) {
  uint64_t h = 1469598103934665603ull;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    h = (h ^ bits) * 1099511628211ull;
  }
  const auto all = dist::all_gather(static_cast<int64_t>(h));
  return std::all_of(all.begin(), all.end(), [&](int64_t x) { return x == all[0]; });
}

gg::app::TrainOptions train_options(const std::string& dir, double clip, dist::ReduceMode mode) {
  return {.out_dir = dir, .epochs = 1, .batch_size = 7, .lr = 1e-2, .clip = clip, .valid_bleu_sentences = 0,
          .log_every = 1, .seed = 3, .save_every_minutes = 0, .handle_signals = false, .quiet = true, .reduce = mode};
}

// What the ranks must compute, by one process: each global batch's shares one after another,
// every one's gradient from zero, added in rank order, then divided by the batch's tokens,
// clipped and applied: the trainer's data-parallel step spelled out without MPI.
std::vector<float> one_process_reference(const std::string& arch, double dropout, const gg::app::TrainOptions& o,
                                         int world, double* largest_norm) {
  auto t = tiny_translator(arch, dropout);
  auto& model = *t.model;
  model.train();
  const auto params = model.parameters();
  gg::optim::Adam adam(params, {.lr = o.lr});
  int64_t step = 0;
  *largest_norm = 0;
  for (const auto& batch : gg::data::make_batches(encoded(t), {.batch_size = o.batch_size, .seed = o.seed}, 0)) {
    std::vector<Tensor> total(params.size());
    for (int r = 0; r < world; ++r) {
      const auto mine = gg::data::shard(batch, r, world);
      adam.zero_grad();
      if (mine.size() > 0) {
        gg::global_generator().seed(dist::step_seed(o.seed, step, r));
        model.loss(mine.src, mine.src_lengths, mine.tgt_in, mine.tgt_out, {.ignore_index = 0, .reduction = gg::Reduction::Sum})
            .backward();
      }
      for (size_t i = 0; i < params.size(); ++i) {
        const Tensor g = params[i].grad().defined() ? params[i].grad() : gg::zeros(params[i].shape());
        if (r == 0) total[i] = g.clone();
        else total[i].add_(g);
      }
    }
    for (size_t i = 0; i < params.size(); ++i) params[i].autograd_meta->grad = total[i];
    dist::divide_gradients(params, batch.tgt_tokens);
    if (o.clip > 0) *largest_norm = std::max(*largest_norm, gg::optim::clip_grad_norm_(params, o.clip));
    adam.step();
    ++step;
  }
  return flat(params);
}

}  // namespace

TEST_CASE("dist: exact reduction gives the bits of one process that adds the shares in rank order", "[dist]") {
  for (const std::string arch : {"rnn", "transformer"}) {
    INFO(arch << " on " << dist::world_size() << " ranks, batches of 7 (uneven shares), clipping at 0.1, dropout 0.1");
    const std::string dir = job_dir("exact-" + arch);
    auto t = tiny_translator(arch, 0.1);
    const auto o = train_options(dir, 0.1, dist::ReduceMode::Exact);
    const auto result = gg::app::train(t, encoded(t), {}, {}, o);
    CHECK(result.steps == 5);
    const auto trained = flat(t.model->parameters());
    CHECK(same_on_every_rank(trained));
    if (dist::rank() == 0) {
      double largest_norm = 0;
      const auto reference = one_process_reference(arch, 0.1, o, dist::world_size(), &largest_norm);
      CHECK(largest_norm > 0.1);  // clipping took part
      REQUIRE(reference.size() == trained.size());
      CHECK(std::memcmp(reference.data(), trained.data(), trained.size() * sizeof(float)) == 0);
      // Rank 0 alone wrote the model directory: checkpoints at the start and the end.
      CHECK(gg::app::list_checkpoints(dir).size() == 2);
      std::filesystem::remove_all(dir);
    }
  }
}

TEST_CASE("dist: fast reduction (MPI_Allreduce) agrees with exact, and both with one big batch", "[dist]") {
  // One step's gradients, without dropout: fast and exact differ only in the order of float
  // additions, and both from the mean loss of the whole batch in one process only in rounding.
  auto t = tiny_translator("rnn", 0.0);
  auto& model = *t.model;
  const auto params = model.parameters();
  const auto batch = gg::data::make_batches(encoded(t), {.batch_size = 7, .seed = 3}, 0)[0];
  const auto mine = gg::data::shard(batch, dist::rank(), dist::world_size());
  auto gradients = [&](dist::ReduceMode mode) {
    dist::DataParallel ddp(params, {.mode = mode, .bucket_bytes = 1024});  // several buckets
    for (const Tensor& p : params) p.autograd_meta->grad = Tensor();
    ddp.begin_step();
    if (mine.size() > 0)
      model.loss(mine.src, mine.src_lengths, mine.tgt_in, mine.tgt_out, {.ignore_index = 0, .reduction = gg::Reduction::Sum})
          .backward();
    CHECK(ddp.finish(mine.tgt_tokens) == batch.tgt_tokens);
    CHECK(ddp.bucket_count() > 1);
    std::vector<Tensor> grads;
    for (const Tensor& p : params) grads.push_back(p.grad().clone());
    return flat(grads);
  };
  const auto exact = gradients(dist::ReduceMode::Exact), fast = gradients(dist::ReduceMode::Fast);
  for (const Tensor& p : params) p.autograd_meta->grad = Tensor();
  model.loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out, {.ignore_index = 0}).backward();
  std::vector<Tensor> grads;
  for (const Tensor& p : params) grads.push_back(p.grad());
  const auto whole = flat(grads);
  float largest = 0;
  for (float g : exact) largest = std::max(largest, std::abs(g));
  REQUIRE(largest > 0);
  float fast_error = 0, whole_error = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    fast_error = std::max(fast_error, std::abs(fast[i] - exact[i]));
    whole_error = std::max(whole_error, std::abs(whole[i] - exact[i]));
  }
  INFO("largest gradient " << largest << ", fast - exact " << fast_error << ", one batch - exact " << whole_error);
  CHECK(fast_error <= 1e-6f * largest);
  CHECK(whole_error <= 1e-5f * largest);
  CHECK(same_on_every_rank(exact));
  CHECK(same_on_every_rank(fast));
}

TEST_CASE("dist: gradients leave during backward, bucket by bucket, in the same order on every rank", "[dist]") {
  auto t = tiny_translator("transformer", 0.0);
  const auto params = t.model->parameters();
  const auto batch = gg::data::make_batches(encoded(t), {.batch_size = 7, .seed = 3}, 0)[1];
  const auto mine = gg::data::shard(batch, dist::rank(), dist::world_size());
  // The hook sees each gradient final exactly once per backward, before backward returns.
  std::vector<int> calls(params.size(), 0);
  {
    dist::DataParallel ddp(params, {.bucket_bytes = 2048});
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor p = params[i];
      std::function<void()> inner = p.autograd_meta->grad_ready;
      p.set_grad_ready_hook([&calls, i, inner] { ++calls[i], inner(); });
    }
    ddp.begin_step();
    t.model->loss(mine.src, mine.src_lengths, mine.tgt_in, mine.tgt_out, {.ignore_index = 0, .reduction = gg::Reduction::Sum})
        .backward();
    for (int c : calls) CHECK(c == 1);
    CHECK(ddp.last_step().start_seconds > 0);  // buckets started inside backward
    ddp.finish(mine.tgt_tokens);
  }
}

TEST_CASE("dist: a rank whose share of the batch is empty takes part with zero gradients", "[dist]") {
  auto t = tiny_translator("rnn", 0.0);
  const auto params = t.model->parameters();
  const auto batch = gg::data::make_batches(encoded(t), {.batch_size = 7, .seed = 3}, 0)[0];
  const auto one_row = gg::data::shard(batch, 0, batch.size());  // a batch of one pair
  const auto mine = gg::data::shard(one_row, dist::rank(), dist::world_size());
  CHECK(mine.size() == (dist::rank() == 0 ? 1 : 0));
  dist::DataParallel ddp(params);
  for (const Tensor& p : params) p.autograd_meta->grad = Tensor();
  ddp.begin_step();
  if (mine.size() > 0)
    t.model->loss(mine.src, mine.src_lengths, mine.tgt_in, mine.tgt_out, {.ignore_index = 0, .reduction = gg::Reduction::Sum})
        .backward();
  CHECK(ddp.finish(mine.tgt_tokens) == one_row.tgt_tokens);
  std::vector<Tensor> grads;
  for (const Tensor& p : params) grads.push_back(p.grad());
  const auto g = flat(grads);
  CHECK(same_on_every_rank(g));
  CHECK(std::any_of(g.begin(), g.end(), [](float x) { return x != 0; }));
}

TEST_CASE("dist: ranks on one machine add their gradients in shared memory, unless GG_DIST_SHARED_MEMORY=0", "[dist]") {
  // CTest starts every rank on this machine; its TCP run stands for separate machines and sets
  // GG_DIST_SHARED_MEMORY=0. The exact test above then checks both paths against one process.
  auto t = tiny_translator("rnn", 0.0);
  const auto params = t.model->parameters();
  const char* setting = std::getenv("GG_DIST_SHARED_MEMORY");
  const bool messages = setting != nullptr && std::string(setting) == "0";
  {
    dist::DataParallel exact(params);
    CHECK(exact.shared_memory() == (dist::world_size() > 1 && !messages));
  }
  dist::DataParallel fast(params, {.mode = dist::ReduceMode::Fast});
  CHECK_FALSE(fast.shared_memory());  // fast is MPI_Allreduce by definition
}

