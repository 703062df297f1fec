// Graph inspection (autograd/graph.cpp): graph_string's tree and graph_dot's edges.
#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using gg::Tensor;

namespace {
size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}
}  // namespace

TEST_CASE("graph_string prints the tree with node names and shapes, inputs in order", "[autograd][graph]") {
  const Tensor a = leaf({2, 3}), b = leaf({2, 3});
  const Tensor loss = gg::sum(a * gg::tanh(b));
  CHECK(gg::graph_string(loss) ==
        "SumBackward []\n"
        "└─ MulBackward [2, 3]\n"
        "   ├─ leaf [2, 3]\n"
        "   └─ TanhBackward [2, 3]\n"
        "      └─ leaf [2, 3]\n");
}

TEST_CASE("graph_string prints a node used twice once, then \"(shown above)\"", "[autograd][graph]") {
  const Tensor x = leaf({2, 1});
  const Tensor c = gg::ones({3}, {.dtype = gg::DType::Float64});
  const Tensor u = gg::tanh(x);
  const Tensor loss = gg::mean(gg::matmul(u * u, c.reshape({1, 3})) + c);
  const std::string graph = gg::graph_string(loss);
  INFO(graph);
  CHECK(graph ==
        "MeanBackward []\n"
        "└─ AddBackward [2, 3]\n"
        "   ├─ MatmulBackward [2, 3]\n"
        "   │  ├─ MulBackward [2, 1]\n"
        "   │  │  ├─ TanhBackward [2, 1]\n"
        "   │  │  │  └─ leaf [2, 1]\n"
        "   │  │  └─ TanhBackward [2, 1] (shown above)\n"
        "   │  └─ const [1, 3]\n"
        "   └─ const [3]\n");
  CHECK(count(graph, "TanhBackward") == 2);
  CHECK(count(graph, "(shown above)") == 1);
}

TEST_CASE("graph_string of a leaf and of a constant", "[autograd][graph]") {
  CHECK(gg::graph_string(leaf({2, 3})) == "leaf [2, 3]\n");
  CHECK(gg::graph_string(gg::zeros({4})) == "const [4]\n");
}

TEST_CASE("graph_dot is a digraph with one edge per input that needs a gradient", "[autograd][graph]") {
  const Tensor a = leaf({2, 3}), b = leaf({2, 3});
  const Tensor c = gg::ones({2, 3}, {.dtype = gg::DType::Float64});
  SECTION("a chain with a constant input") {
    // Sum <- Mul <- {a, Tanh <- Add <- {b, const c}}: the const edge needs no gradient.
    const Tensor loss = gg::sum(a * gg::tanh(b + c));
    const std::string dot = gg::graph_dot(loss);
    INFO(dot);
    CHECK_THAT(dot, StartsWith("digraph"));
    CHECK(count(dot, "->") == 5);
    CHECK(count(dot, "shape=box") == 4);     // Sum, Mul, Tanh, Add
    CHECK(count(dot, "shape=ellipse") == 2);  // a, b
    CHECK_THAT(dot, Contains("TanhBackward\\n[2, 3]"));
    CHECK_THAT(dot, Contains("SumBackward\\n[]"));
    CHECK(dot.substr(dot.size() - 2) == "}\n");
  }
  SECTION("a diamond: both edges to the shared node, one node for it") {
    const Tensor u = gg::tanh(a);
    const std::string dot = gg::graph_dot(gg::sum(u * u));
    INFO(dot);
    CHECK(count(dot, "->") == 4);  // Sum <- Mul, Mul <- Tanh twice, Tanh <- a
    CHECK(count(dot, "TanhBackward") == 1);
  }
  SECTION("a leaf or a constant has no edges") {
    CHECK(count(gg::graph_dot(a), "->") == 0);
    CHECK_THAT(gg::graph_dot(c), StartsWith("digraph"));
  }
}
