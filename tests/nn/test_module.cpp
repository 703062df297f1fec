// The Module API: names, traversal, train/eval, zero_grad, dtype conversion, checkpoints
// (state_dict / load_state_dict and their errors), registration rules and printing.
#include <memory>
#include <sstream>
#include <string>

#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;
namespace nn = gg::nn;

namespace {

std::vector<std::string> names(const nn::StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [n, _] : state) out.push_back(n);
  return out;
}

// Sequential(Linear(in, 8), Tanh, Linear(8, 1)) as in the docs.
std::shared_ptr<nn::Sequential> mlp(int64_t in = 2) {
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Linear>(in, 8));
  m->push_back(std::make_shared<nn::Tanh>());
  m->push_back(std::make_shared<nn::Linear>(8, 1));
  return m;
}

// A module with a child, a parameter and a buffer of its own: an encoder with an embedding and an LSTM.
class Encoder : public nn::Module {
 public:
  Encoder() {
    embed = register_module("embed", std::make_shared<nn::Embedding>(10, 4, nn::EmbeddingOptions{.padding_idx = 0}));
    rnn = register_module("rnn", std::make_shared<nn::LSTM>(4, 3));
    head = register_module("head", mlp(3));
    register_parameter("scale", scale);
    register_buffer("steps", steps);
  }
  std::string name() const override { return "Encoder"; }
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::LSTM> rnn;
  std::shared_ptr<nn::Sequential> head;
  Tensor scale = gg::ones({1});
  Tensor steps = gg::zeros({2});
};

}  // namespace

TEST_CASE("Module: named_parameters gives dotted names in registration order", "[nn][module]") {
  auto m = mlp();
  CHECK(names(m->named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(m->named_parameters(/*recurse=*/false).empty());
  CHECK(m->parameters().size() == 4);
  CHECK(m->parameters()[2].shares_storage_with(std::dynamic_pointer_cast<nn::Linear>((*m)[2])->weight));
  CHECK(m->num_parameters() == 2 * 8 + 8 + 8 * 1 + 1);

  Encoder e;
  CHECK(names(e.named_parameters()) ==
        std::vector<std::string>{"scale", "embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                 "rnn.bias_hh_l0", "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"});
  CHECK(names(e.named_parameters(false)) == std::vector<std::string>{"scale"});
  CHECK(names(e.named_buffers()) == std::vector<std::string>{"steps"});
  CHECK(names(e.state_dict()).back() == "steps");  // parameters, then buffers
  CHECK(e.num_parameters() == 1 + 40 + (48 + 36 + 12 + 12) + (24 + 8 + 8 + 1));
}

TEST_CASE("Module: children and named_children", "[nn][module]") {
  auto m = mlp();
  const auto children = m->named_children();
  REQUIRE(children.size() == 3);
  CHECK(children[0].first == "0");
  CHECK(children[1].first == "1");
  CHECK(children[1].second->name() == "Tanh");
  CHECK(m->children()[2] == (*m)[2]);
  CHECK(m->size() == 3);
  Encoder e;
  CHECK(e.children().size() == 3);
  CHECK(e.children()[1] == e.rnn);
}

TEST_CASE("Module: train() and eval() propagate, Dropout is the identity in eval", "[nn][module]") {
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Linear>(4, 4));
  auto inner = m->push_back(std::make_shared<nn::Sequential>());
  auto dropout = inner->push_back(std::make_shared<nn::Dropout>(0.5));
  CHECK(m->is_training());
  CHECK(dropout->is_training());

  m->eval();
  CHECK_FALSE(m->is_training());
  CHECK_FALSE(inner->is_training());
  CHECK_FALSE(dropout->is_training());
  const Tensor x = gg::randn({8, 16});
  const Tensor y = dropout->forward(x);
  CHECK(max_abs_diff(y, x) == 0.0);

  m->train();
  CHECK(dropout->is_training());
  const std::vector<double> dropped = dropout->forward(x).to_vector<double>(), in = x.to_vector<double>();
  int zeros = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (dropped[i] == 0.0) ++zeros;
    else CHECK(dropped[i] == Approx(2 * in[i]).epsilon(1e-6));
  }
  CHECK(zeros > 32);  // about half of 128
  CHECK(zeros < 96);
}

TEST_CASE("Module: zero_grad drops every parameter's gradient, recursively", "[nn][module]") {
  Encoder e;
  const Tensor ids = indices({1, 2, 0, 3}, {2, 2});
  auto forward_backward = [&] {
    const Tensor out = e.head->forward(e.rnn->forward(e.embed->forward(ids)).output) * e.scale;
    gg::sum(out).backward();
    return out;
  };
  const Tensor out = forward_backward();
  CHECK(e.scale.grad().item() == Approx(gg::sum(out).item() / e.scale.item()).epsilon(1e-6));  // d sum(out) / d scale
  std::vector<Tensor> first;
  for (const auto& [n, p] : e.named_parameters()) {
    INFO(n);
    REQUIRE(p.grad().defined());
    first.push_back(p.grad().clone());
  }
  e.zero_grad();
  for (const auto& [n, p] : e.named_parameters()) {
    INFO(n);
    CHECK_FALSE(p.grad().defined());
  }
  forward_backward();  // starts from nothing again: the same gradients, not twice them
  size_t i = 0;
  for (const auto& [n, p] : e.named_parameters()) require_close(p.grad(), first[i++], 0.0, n);
}

TEST_CASE("Module: to(Float64) and back converts parameters and buffers, which stay trainable leaves",
          "[nn][module]") {
  Encoder e;
  nn::StateDict before;
  for (const auto& [n, t] : e.state_dict()) before.emplace_back(n, t.clone());

  e.to(gg::DType::Float64);
  for (const auto& [n, t] : e.state_dict()) {
    INFO(n);
    CHECK(t.dtype() == gg::DType::Float64);
  }
  for (const auto& [n, p] : e.named_parameters()) {
    INFO(n);
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
  }
  CHECK(e.rnn->weight_hh[0].dtype() == gg::DType::Float64);  // the members themselves changed
  CHECK(e.embed->weight.dtype() == gg::DType::Float64);
  CHECK_FALSE(e.steps.requires_grad());  // a buffer does not start requiring grad

  e.to(gg::DType::Float32);
  const nn::StateDict after = e.state_dict();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].first);
    CHECK(after[i].second.dtype() == gg::DType::Float32);
    CHECK(max_abs_diff(after[i].second, before[i].second) == 0.0);  // float -> double -> float is exact
  }
  for (const auto& p : e.parameters()) CHECK((p.is_leaf() && p.requires_grad()));

  // A converted module trains: gradients reach the new tensors.
  e.to(gg::DType::Float64);
  gg::sum(e.head->forward(gg::randn({3, 3}, {.dtype = gg::DType::Float64}))).backward();
  CHECK(e.head->parameters()[0].grad().defined());
  CHECK(error_message([&] { e.to(gg::DType::Int64); }).find("float") != std::string::npos);
}

TEST_CASE("Module: state_dict and load_state_dict round trip", "[nn][module]") {
  gg::manual_seed(1);
  Encoder a;
  a.steps.fill_(3.0);
  gg::manual_seed(2);
  Encoder b;
  const Tensor b_embed = b.embed->weight;  // load copies into the existing tensors
  b.load_state_dict(a.state_dict());
  const nn::StateDict sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(names(sa) == names(sb));
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(max_abs_diff(sa[i].second, sb[i].second) == 0.0);
    CHECK_FALSE(sa[i].second.shares_storage_with(sb[i].second));
  }
  CHECK(b.embed->weight.shares_storage_with(b_embed));
  CHECK(b.embed->weight.requires_grad());
  CHECK(b.steps.to_vector<double>() == std::vector<double>{3.0, 3.0});

  // Non-strict: a partial state loads what it has, and ignores what the module lacks.
  gg::manual_seed(3);
  Encoder c;
  const Tensor c_scale = c.scale.clone();
  c.load_state_dict({{"embed.weight", a.embed->weight}, {"decoder.weight", gg::zeros({2})}}, /*strict=*/false);
  CHECK(max_abs_diff(c.embed->weight, a.embed->weight) == 0.0);
  CHECK(max_abs_diff(c.scale, c_scale) == 0.0);
}

TEST_CASE("Module: load_state_dict names every bad key and changes nothing", "[nn][module]") {
  gg::manual_seed(4);
  Encoder e;
  nn::StateDict before;
  for (const auto& [n, t] : e.state_dict()) before.emplace_back(n, t.clone());
  auto unchanged = [&] {
    const nn::StateDict now = e.state_dict();
    for (size_t i = 0; i < now.size(); ++i) {
      INFO(now[i].first);
      REQUIRE(max_abs_diff(now[i].second, before[i].second) == 0.0);
    }
  };
  auto good = [&] {
    nn::StateDict s;
    for (const auto& [n, t] : before) s.emplace_back(n, gg::zeros(t.shape()));  // would change every value
    return s;
  };

  SECTION("a missing key") {
    nn::StateDict s = good();
    s.erase(s.begin() + 3);  // rnn.weight_hh_l0
    const std::string msg = error_message([&] { e.load_state_dict(s); });
    CHECK_THAT(msg, Contains("missing key 'rnn.weight_hh_l0'"));
    CHECK_THAT(msg, Contains("[12, 3]"));
    unchanged();
  }
  SECTION("an unexpected key") {
    nn::StateDict s = good();
    s.emplace_back("rnn.weight_ih_l1", gg::zeros({12, 3}));
    const std::string msg = error_message([&] { e.load_state_dict(s); });
    CHECK_THAT(msg, Contains("unexpected key 'rnn.weight_ih_l1'"));
    unchanged();
  }
  SECTION("a wrongly shaped key, even when not strict") {
    for (bool strict : {true, false}) {
      nn::StateDict s = good();
      s[1].second = gg::zeros({10, 5});  // embed.weight is [10, 4]
      const std::string msg = error_message([&] { e.load_state_dict(s, strict); });
      CHECK_THAT(msg, Contains("'embed.weight'"));
      CHECK_THAT(msg, Contains("[10, 5]"));
      CHECK_THAT(msg, Contains("[10, 4]"));
      unchanged();
    }
  }
  SECTION("several problems are all reported") {
    nn::StateDict s = good();
    s.erase(s.begin());                     // scale
    s.emplace_back("extra", gg::zeros({1}));
    const std::string msg = error_message([&] { e.load_state_dict(s); });
    CHECK_THAT(msg, Contains("missing key 'scale'"));
    CHECK_THAT(msg, Contains("unexpected key 'extra'"));
    CHECK_THAT(msg, Contains("Encoder.load_state_dict"));
    unchanged();
  }
}

namespace {

class Registrar : public nn::Module {
 public:
  std::string name() const override { return "Registrar"; }
  void param(const std::string& n, Tensor& t) { register_parameter(n, t); }
  void buffer(const std::string& n, Tensor& t) { register_buffer(n, t); }
  void child(const std::string& n) { register_module(n, std::make_shared<nn::Tanh>()); }
  Tensor a = gg::zeros({2}), b = gg::zeros({2}), c = gg::zeros({2});
  Tensor ints = gg::zeros({2}, {.dtype = gg::DType::Int64});
};

}  // namespace

TEST_CASE("Module: registering a name twice, or a bad name, is an error", "[nn][module]") {
  Registrar r;
  r.param("w", r.a);
  CHECK_THAT(error_message([&] { r.param("w", r.b); }), Contains("'w' is already registered"));
  CHECK_THAT(error_message([&] { r.buffer("w", r.c); }), Contains("'w' is already registered"));
  CHECK_THAT(error_message([&] { r.child("w"); }), Contains("'w' is already registered"));
  r.child("act");
  CHECK_THAT(error_message([&] { r.param("act", r.b); }), Contains("'act' is already registered"));
  CHECK_THAT(error_message([&] { r.param("x.y", r.b); }), Contains("invalid name 'x.y'"));
  CHECK_THAT(error_message([&] { r.param("", r.b); }), Contains("invalid name"));
  CHECK_THAT(error_message([&] { r.param("ids", r.ints); }), Contains("must be a float tensor"));
  CHECK(r.named_parameters().size() == 1);  // the failed registrations left nothing behind
  CHECK(r.named_children().size() == 1);
}

TEST_CASE("Module: a parameter is a leaf even when computed", "[nn][module]") {
  Registrar r;
  Tensor base = gg::ones({2}, {.requires_grad = true});
  r.a = base * 2.0;
  REQUIRE_FALSE(r.a.is_leaf());
  r.param("w", r.a);
  CHECK(r.a.is_leaf());
  CHECK(r.a.requires_grad());
  CHECK(r.parameters()[0].shares_storage_with(r.a));
}

TEST_CASE("Module: str() prints the module tree", "[nn][module]") {
  auto m = mlp();
  CHECK(m->str() ==
        "Sequential(\n"
        "  (0): Linear(in=2, out=8, bias=true)\n"
        "  (1): Tanh()\n"
        "  (2): Linear(in=8, out=1, bias=true)\n"
        ")");
  Encoder e;
  CHECK(e.str() ==
        "Encoder(\n"
        "  (embed): Embedding(10, 4, padding_idx=0)\n"
        "  (rnn): LSTM(4, 3)\n"
        "  (head): Sequential(\n"
        "    (0): Linear(in=3, out=8, bias=true)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in=8, out=1, bias=true)\n"
        "  )\n"
        ")");
  std::ostringstream os;
  os << *m;
  CHECK(os.str() == m->str());
  CHECK(nn::Linear(3, 2, {.bias = false}).str() == "Linear(in=3, out=2, bias=false)");
  CHECK(nn::GRU(3, 4, {.num_layers = 2, .bidirectional = true, .dropout = 0.5, .batch_first = true}).str() ==
        "GRU(3, 4, num_layers=2, bidirectional=true, batch_first=true, dropout=0.5)");
  CHECK(nn::RNN(3, 4, {.relu = true}).str() == "RNN(3, 4, nonlinearity=relu)");
  CHECK(nn::LSTMCell(3, 4).str() == "LSTMCell(3, 4)");
  CHECK(nn::RNNCell(3, 4, {.relu = true}).str() == "RNNCell(3, 4, nonlinearity=relu)");
  CHECK(nn::LayerNorm({4}).str() == "LayerNorm([4], eps=1e-05)");
  CHECK(nn::Dropout(0.1).str() == "Dropout(p=0.1)");
}

TEST_CASE("Module: RNN parameter names and shapes match PyTorch's", "[nn][module][rnn]") {
  nn::LSTM m(3, 4, {.num_layers = 2, .bidirectional = true});
  const std::vector<std::pair<std::string, gg::Shape>> expected{
      {"weight_ih_l0", {16, 3}},         {"weight_hh_l0", {16, 4}},         {"bias_ih_l0", {16}},
      {"bias_hh_l0", {16}},              {"weight_ih_l0_reverse", {16, 3}}, {"weight_hh_l0_reverse", {16, 4}},
      {"bias_ih_l0_reverse", {16}},      {"bias_hh_l0_reverse", {16}},      {"weight_ih_l1", {16, 8}},
      {"weight_hh_l1", {16, 4}},         {"bias_ih_l1", {16}},              {"bias_hh_l1", {16}},
      {"weight_ih_l1_reverse", {16, 8}}, {"weight_hh_l1_reverse", {16, 4}}, {"bias_ih_l1_reverse", {16}},
      {"bias_hh_l1_reverse", {16}}};
  const nn::StateDict params = m.named_parameters();
  REQUIRE(params.size() == expected.size());
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(params[i].first == expected[i].first);
    CHECK(params[i].second.shape() == expected[i].second);
  }
  CHECK(names(nn::GRU(3, 4, {.bias = false}).named_parameters()) ==
        std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"});
  CHECK(nn::GRU(3, 4).weight_ih[0].shape() == gg::Shape{12, 3});
  CHECK(names(nn::RNNCell(3, 4).named_parameters()) ==
        std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"});
  CHECK(nn::LSTMCell(3, 4).weight_hh.shape() == gg::Shape{16, 4});
}

TEST_CASE("Module: RNN dropout is active in training only", "[nn][module][rnn]") {
  gg::manual_seed(5);
  nn::GRU m(3, 4, {.num_layers = 2, .dropout = 0.5});
  const Tensor x = gg::randn({4, 2, 3});
  m.eval();
  const Tensor a = m.forward(x).output, b = m.forward(x).output;
  CHECK(max_abs_diff(a, b) == 0.0);
  m.train();
  gg::manual_seed(6);
  const Tensor c = m.forward(x).output;
  CHECK(max_abs_diff(a, c) > 1e-3);
}

TEST_CASE("Module: a module without a one-tensor forward says so", "[nn][module]") {
  nn::LSTM m(3, 4);
  nn::Module& base = m;
  CHECK_THAT(error_message([&] { base.forward(gg::zeros({2, 1, 3})); }), Contains("LSTM: this module does not take"));
}
