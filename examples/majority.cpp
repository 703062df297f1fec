// A sequence classifier built from nn and optim pieces: an LSTM reads a padded batch of
// digit sequences of different lengths and says which digit occurs most often.
//
//   build/bin/majority [--steps N] [--seed S]
//
// Embedding -> LSTM (with lengths: padding never reaches the state) -> Linear on the
// final hidden state -> cross_entropy; Adam, gradient clipping, a step LR schedule.
#include <fmt/core.h>

#include <string>

#include "glassgrad.h"

namespace {

constexpr int64_t kDigits = 5;   // tokens 1..5 are the digits 0..4; 0 is padding
constexpr int64_t kMaxLen = 12;

struct Batch {
  gg::Tensor tokens;   // [T, B] int64, 0 = padding
  gg::Tensor lengths;  // [B] int64
  gg::Tensor labels;   // [B] int64: the most frequent digit (the smallest one on ties)
};

Batch make_batch(int64_t B) {
  std::vector<int64_t> tokens(kMaxLen * B, 0), lengths(B), labels(B);
  gg::Tensor draws = gg::randint(0, kDigits, {B, kMaxLen});
  gg::Tensor lens = gg::randint(3, kMaxLen + 1, {B});
  auto d = draws.to_vector<int64_t>();
  auto l = lens.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> count(kDigits, 0);
    lengths[b] = l[b];
    for (int64_t t = 0; t < l[b]; ++t) {
      tokens[t * B + b] = d[b * kMaxLen + t] + 1;
      ++count[d[b * kMaxLen + t]];
    }
    labels[b] = std::max_element(count.begin(), count.end()) - count.begin();
  }
  return {gg::from_vector(tokens, {kMaxLen, B}), gg::from_vector(lengths), gg::from_vector(labels)};
}

class Classifier : public gg::nn::Module {
 public:
  Classifier(int64_t embed, int64_t hidden) {
    embedding = register_module("embedding", std::make_shared<gg::nn::Embedding>(kDigits + 1, embed,
                                                                                    gg::nn::EmbeddingOptions{.padding_idx = 0}));
    lstm = register_module("lstm", std::make_shared<gg::nn::LSTM>(embed, hidden));
    out = register_module("out", std::make_shared<gg::nn::Linear>(hidden, kDigits));
  }
  std::string name() const override { return "Classifier"; }

  gg::Tensor forward(const Batch& batch) {
    gg::Tensor x = embedding->forward(batch.tokens);            // [T, B, E]
    auto rnn = lstm->forward(x, batch.lengths);                 // state.h [1, B, H]
    return out->forward(rnn.state.h.select(0, 0));              // [B, digits]
  }

  std::shared_ptr<gg::nn::Embedding> embedding;
  std::shared_ptr<gg::nn::LSTM> lstm;
  std::shared_ptr<gg::nn::Linear> out;
};

}  // namespace

int main(int argc, char** argv) try {
  int steps = 600;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) steps = std::stoi(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else throw gg::Error(fmt::format("majority: unknown option '{}'; usage: majority [--steps N] [--seed S]", arg));
  }
  gg::manual_seed(seed);
  Classifier model(16, 64);
  fmt::print("{}\n{} parameters\n\n", model.str(), model.num_parameters());
  gg::optim::Adam optimizer(model.parameters(), {.lr = 1e-2});
  gg::optim::StepLR schedule(optimizer, steps / 2, 0.3);
  const Batch test = make_batch(500);

  for (int step = 1; step <= steps; ++step) {
    Batch batch = make_batch(64);
    gg::Tensor loss = gg::nn::functional::cross_entropy(model.forward(batch), batch.labels);
    optimizer.zero_grad();
    loss.backward();
    double norm = gg::optim::clip_grad_norm_(model.parameters(), 1.0);
    optimizer.step();
    schedule.step();
    if (step == 1 || step % (steps / 10) == 0) {
      gg::NoGradGuard no_grad;
      double accuracy = gg::mean(gg::eq(gg::argmax(model.forward(test), 1), test.labels).to(gg::DType::Float32)).item();
      fmt::print("step {:4d}  loss {:.4f}  grad norm {:6.3f}  lr {:.4f}  held-out accuracy {:5.1f}%\n", step,
                 loss.item(), norm, optimizer.lr(), 100 * accuracy);
    }
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
