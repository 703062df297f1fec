// Five attention mechanisms side by side on one sentence pair.
//
//   build/bin/attention_zoo [--steps N]
//
// Each mechanism (dot, scaled dot, general, additive, concat) gets its own word embeddings
// and parameters, and is trained for the same few Adam steps (8 by default) to attend from
// every English word to the Spanish word it translates (with the reordering "gato negro" ->
// "black cat"). Then its attention matrix is printed, so the five can be compared by eye:
// unbounded dot-product scores sharpen fastest, the 1/sqrt(d) of scaled dot tempers them,
// and the tanh-bounded additive and concat scores stay softer. With --steps 300 all five
// reach the alignment. The last source column is padding, masked out: every mechanism
// gives it exactly zero.
#include <fmt/core.h>

#include <memory>
#include <string>

#include "glassgrad.h"
#include "pictures/attention_text.h"

namespace {

const std::vector<std::string> kSource = {"el", "gato", "negro", "come", "pescado", "<pad>"};
const std::vector<std::string> kTarget = {"the", "black", "cat", "eats", "fish"};
const std::vector<int64_t> kAlignment = {0, 2, 1, 3, 4};  // target word i translates source word kAlignment[i]
constexpr int64_t kDim = 16;

struct Contestant {
  std::string label;
  std::shared_ptr<gg::nn::Attention> attention;
};

}  // namespace

int main(int argc, char** argv) try {
  int steps = 8;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) steps = std::stoi(argv[++i]);
    else throw gg::Error(fmt::format("attention_zoo: unknown option '{}'; usage: attention_zoo [--steps N]", arg));
  }
  gg::manual_seed(0);
  const int64_t S = static_cast<int64_t>(kSource.size()), T = static_cast<int64_t>(kTarget.size());
  gg::Tensor source_ids = gg::arange(S).unsqueeze(0);                                 // [1, S]
  gg::Tensor target_ids = gg::arange(T).unsqueeze(0);                                 // [1, T]
  gg::Tensor mask = gg::nn::functional::padding_mask(gg::from_vector(std::vector<int64_t>{S - 1}), S);  // [1, 1, S]
  gg::Tensor gold = gg::from_vector(kAlignment).unsqueeze(0);                          // [1, T]

  std::vector<Contestant> contestants = {
      {"dot             e = s.h", std::make_shared<gg::nn::DotAttention>()},
      {"scaled dot      e = s.h / sqrt(d)", std::make_shared<gg::nn::ScaledDotAttention>()},
      {"general         e = s W h", std::make_shared<gg::nn::GeneralAttention>(kDim, kDim)},
      {"additive        e = v tanh(W h + U s)", std::make_shared<gg::nn::AdditiveAttention>(kDim, kDim, kDim)},
      {"concat          e = v tanh(W [s; h])", std::make_shared<gg::nn::ConcatAttention>(kDim, kDim, kDim)},
  };
  for (auto& c : contestants) {
    gg::nn::Embedding source_embed(S, kDim), target_embed(T, kDim);
    std::vector<gg::Tensor> params = c.attention->parameters();
    for (auto& p : source_embed.parameters()) params.push_back(p);
    for (auto& p : target_embed.parameters()) params.push_back(p);
    gg::optim::Adam optimizer(params, {.lr = 0.05});
    gg::nn::AttentionOutput out;
    double first_loss = 0, loss_value = 0;
    for (int step = 0; step < steps; ++step) {
      gg::Tensor keys = source_embed.forward(source_ids);    // [1, S, E]
      gg::Tensor queries = target_embed.forward(target_ids);  // [1, T, E]
      out = c.attention->forward(queries, keys, keys, mask);
      // Maximize the weight on the right word: -log alpha[t, gold(t)].
      gg::Tensor loss = -gg::mean(gg::log(gg::gather(out.weights, 2, gold.unsqueeze(2)) + 1e-9));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_value = loss.item();
      if (step == 0) first_loss = loss_value;
    }
    fmt::print("{}   ({} parameters; loss {:.3f} -> {:.3f})\n", c.label, c.attention->num_parameters(), first_loss,
               loss_value);
    fmt::print("{}\n", gg::pictures::attention_text(out.weights.select(0, 0), kSource, kTarget));
  }

  // Self-attention is the same machinery with query = key = value: every word of one
  // sentence looks at the words of the same sentence. With a causal mask (as in a decoder)
  // word t may only look at words 0..t, so each row's weights stop at the diagonal.
  gg::nn::Embedding embed(T, kDim);
  gg::nn::MultiHeadAttention self_attention(kDim, 2, {.batch_first = true});
  gg::Tensor x = embed.forward(target_ids);  // [1, T, E]
  auto self = self_attention.forward(x, x, x, {}, gg::nn::functional::causal_mask(T));
  fmt::print("self-attention (2 heads, untrained, causal mask): \"the black cat eats fish\" attends to itself\n{}\n",
             gg::pictures::attention_text(self.weights.select(0, 0), kTarget, kTarget));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
