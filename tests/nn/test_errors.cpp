// Errors name the problem: what was given, what was expected, and a hint where the usual
// cause is known. Every one is a gg::Error, never a crash.
#include <string>

#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;
namespace nn = gg::nn;
namespace F = gg::nn::functional;

TEST_CASE("errors: Embedding with an id beyond the vocabulary names the id and the size", "[nn][errors]") {
  nn::Embedding m(10, 4);
  const std::string msg = error_message([&] { m.forward(indices({3, 12, 1}, {3})); });
  CHECK_THAT(msg, Contains("token id 12"));
  CHECK_THAT(msg, Contains("size 10"));
  CHECK_THAT(error_message([&] { m.forward(indices({-1}, {1})); }), Contains("token id -1"));
  CHECK_THAT(error_message([&] { m.forward(gg::zeros({2})); }), Contains("int64"));
  CHECK_THAT(error_message([] { nn::Embedding(10, 4, {.padding_idx = 10}); }), Contains("padding_idx 10"));
}

TEST_CASE("errors: Linear with the wrong number of input features names both shapes", "[nn][errors]") {
  nn::Linear m(4, 3);
  const std::string msg = error_message([&] { m.forward(gg::zeros({2, 5})); });
  CHECK_THAT(msg, Contains("[2, 5]"));
  CHECK_THAT(msg, Contains("[3, 4]"));
  CHECK_THAT(msg, Contains("4 input features"));
  CHECK_THAT(error_message([] { nn::Linear(0, 3); }), Contains("in=0"));
}

TEST_CASE("errors: relu asked of a GRU or an LSTM is refused, not ignored", "[nn][errors][rnn]") {
  CHECK_THAT(error_message([] { nn::LSTMCell(3, 4, {.relu = true}); }), Contains("relu is an option of RNNCell"));
  CHECK_THAT(error_message([] { nn::GRUCell(3, 4, {.relu = true}); }), Contains("relu is an option of RNNCell"));
  CHECK_THAT(error_message([] { nn::LSTM(3, 4, {.relu = true}); }), Contains("relu is an option of RNN only"));
  CHECK_THAT(error_message([] { nn::GRU(3, 4, {.relu = true}); }), Contains("relu is an option of RNN only"));
  CHECK(nn::RNNCell(3, 4, {.relu = true}).mode == nn::RNNMode::Relu);
}

TEST_CASE("errors: RNN with a 2-D input gives the unsqueeze hint", "[nn][errors][rnn]") {
  nn::LSTM m(3, 4);
  const std::string msg = error_message([&] { m.forward(gg::zeros({5, 3})); });
  CHECK_THAT(msg, Contains("LSTM"));
  CHECK_THAT(msg, Contains("[5, 3]"));
  CHECK_THAT(msg, Contains("hint: a single sequence needs a batch dim: unsqueeze(1)"));
  // Wrong feature count: the expected size and the shape.
  const std::string features = error_message([&] { m.forward(gg::zeros({5, 2, 7})); });
  CHECK_THAT(features, Contains("3 features"));
  CHECK_THAT(features, Contains("[5, 2, 7]"));
  nn::GRU bf(3, 4, {.batch_first = true});
  CHECK_THAT(error_message([&] { bf.forward(gg::zeros({5, 3})); }), Contains("[B, T]"));
}

TEST_CASE("errors: RNN with an empty sequence or batch says so", "[nn][errors][rnn]") {
  nn::LSTM m(3, 4);
  CHECK_THAT(error_message([&] { m.forward(gg::zeros({0, 2, 3})); }), Contains("[0, 2, 3] has no time steps"));
  CHECK_THAT(error_message([&] { m.forward(gg::zeros({5, 0, 3})); }), Contains("[5, 0, 3] has no sequences"));
  nn::GRU bf(3, 4, {.batch_first = true});
  CHECK_THAT(error_message([&] { bf.forward(gg::zeros({2, 0, 3})); }), Contains("[2, 0, 3] has no time steps"));
}

TEST_CASE("errors: RNN lengths out of range, of the wrong dtype or count", "[nn][errors][rnn]") {
  nn::GRU m(3, 4);
  const Tensor x = gg::zeros({5, 2, 3});
  CHECK_THAT(error_message([&] { m.forward(x, indices({5, 6}, {2})); }), Contains("length 6 is outside 1..5"));
  CHECK_THAT(error_message([&] { m.forward(x, indices({0, 3}, {2})); }), Contains("length 0 is outside 1..5"));
  CHECK_THAT(error_message([&] { m.forward(x, indices({5, 3, 2}, {3})); }), Contains("int64 [2]"));
  CHECK_THAT(error_message([&] { m.forward(x, gg::tensor({5, 3})); }), Contains("float32"));
}

TEST_CASE("errors: RNN initial state of the wrong shape", "[nn][errors][rnn]") {
  nn::LSTM m(3, 4, {.num_layers = 2});
  const Tensor x = gg::zeros({5, 2, 3});
  const std::string msg = error_message([&] { m.forward(x, {}, {gg::zeros({1, 2, 4}), {}}); });
  CHECK_THAT(msg, Contains("initial h has shape [1, 2, 4], expected [2, 2, 4]"));
  CHECK_THAT(error_message([&] { m.forward(x, {}, {gg::zeros({2, 2, 4}), gg::zeros({2, 4})}); }),
             Contains("initial c has shape [2, 4]"));
  nn::LSTMCell cell(3, 4);
  CHECK_THAT(error_message([&] { cell.forward(gg::zeros({2, 3}), {gg::zeros({3, 4}), {}}); }),
             Contains("expected [2, 4]"));
  CHECK_THAT(error_message([&] { cell.forward(gg::zeros({5, 2, 3})); }), Contains("hint: a cell takes one time step"));
}

TEST_CASE("errors: cross_entropy with float targets or a target out of range", "[nn][errors][loss]") {
  const Tensor logits = gg::zeros({3, 5});
  const std::string dtype = error_message([&] { F::cross_entropy(logits, gg::tensor({1, 2, 3})); });
  CHECK_THAT(dtype, Contains("targets must be int64"));
  CHECK_THAT(dtype, Contains("float32"));
  CHECK_THAT(dtype, Contains("hint"));
  const std::string range = error_message([&] { F::cross_entropy(logits, indices({1, 7, 2}, {3})); });
  CHECK_THAT(range, Contains("target 7 at position 1 is out of range for 5 classes"));
  CHECK_THAT(error_message([&] { F::cross_entropy(logits, indices({1, -1, 2}, {3})); }),
             Contains("target -1"));
  CHECK_THAT(error_message([&] { F::cross_entropy(logits, indices({1, 2}, {2})); }),
             Contains("need targets of shape [3]"));
  CHECK_THAT(error_message([&] { F::cross_entropy(logits, indices({1, 2, 3}, {3}), {.label_smoothing = 1.5}); }),
             Contains("label_smoothing"));
}

TEST_CASE("errors: nll_loss and mse_loss shape and dtype checks", "[nn][errors][loss]") {
  CHECK_THAT(error_message([] { F::nll_loss(gg::zeros({3, 5}), gg::tensor({1, 2, 3})); }), Contains("int64"));
  CHECK_THAT(error_message([] { F::nll_loss(gg::zeros({3, 5}), indices({1, 2}, {2})); }),
             Contains("need targets of shape [3]"));
  const std::string mse = error_message([] { F::mse_loss(gg::zeros({2, 3}), gg::zeros({3, 2})); });
  CHECK_THAT(mse, Contains("[2, 3]"));
  CHECK_THAT(mse, Contains("[3, 2]"));
}

TEST_CASE("errors: LayerNorm with a mismatched normalized shape, Dropout with a bad p", "[nn][errors]") {
  nn::LayerNorm m({4});
  CHECK_THAT(error_message([&] { m.forward(gg::zeros({2, 3})); }),
             Contains("does not end with the normalized shape [4]"));
  CHECK_THAT(error_message([] { nn::Dropout(1.0); }), Contains("p must be in [0, 1)"));
  CHECK_THAT(error_message([] { F::dropout(gg::zeros({2}), -0.1, true); }), Contains("p must be in [0, 1)"));
  CHECK_THAT(error_message([] { nn::LSTM(3, 4, {.dropout = 1.0}); }), Contains("dropout must be in [0, 1)"));
}

TEST_CASE("errors: a float64 input to a float32 layer names both dtypes and the fix", "[nn][errors]") {
  gg::nn::Linear linear(3, 2);
  REQUIRE_THROWS_WITH(linear.forward(gg::zeros({4, 3}, {.dtype = gg::DType::Float64})),
                      Catch::Contains("linear") && Catch::Contains("float64") && Catch::Contains("float32") &&
                          Catch::Contains("module.to("));
}
