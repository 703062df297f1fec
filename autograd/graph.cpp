#include "autograd/graph.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"

namespace gg {
namespace {

std::string edge_label(const Edge& e) {
  if (e.fn) return fmt::format("{} {}", e.fn->name(), e.fn->shape);
  return fmt::format("{} {}", e.leaf ? "leaf" : "const", e.shape);
}

}  // namespace

std::string graph_string(const Tensor& root) {
  if (!root.grad_fn()) return fmt::format("{} {}\n", root.requires_grad() ? "leaf" : "const", root.shape());
  // Iterative pre-order walk: graphs can be 10,000 nodes deep.
  struct Item {
    const Edge* edge;    // the input this line shows
    std::string prefix;  // tree lines to the left of it
    bool last;           // the last input of its node
  };
  std::string out = fmt::format("{} {}\n", root.grad_fn()->name(), root.shape());
  std::unordered_set<const Node*> shown{root.grad_fn().get()};
  std::vector<Item> stack;
  auto push_inputs = [&](const Node* node, const std::string& prefix) {
    for (size_t i = node->inputs.size(); i-- > 0;) stack.push_back({&node->inputs[i], prefix, i + 1 == node->inputs.size()});
  };
  push_inputs(root.grad_fn().get(), "");
  while (!stack.empty()) {
    Item item = stack.back();
    stack.pop_back();
    out += item.prefix + (item.last ? "└─ " : "├─ ") + edge_label(*item.edge);
    const Node* fn = item.edge->fn.get();
    if (fn && !shown.insert(fn).second) {
      out += " (shown above)\n";
      continue;
    }
    out += "\n";
    if (fn) push_inputs(fn, item.prefix + (item.last ? "   " : "│  "));
  }
  return out;
}

std::string graph_dot(const Tensor& root) {
  std::string out = "digraph glassgrad {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n";
  if (!root.grad_fn()) return out + "}\n";
  std::unordered_map<const void*, int> ids;
  auto id = [&](const void* p) {
    auto [it, inserted] = ids.try_emplace(p, static_cast<int>(ids.size()));
    return std::pair{it->second, inserted};
  };
  std::vector<const Node*> stack{root.grad_fn().get()};
  auto [root_id, _] = id(root.grad_fn().get());
  out += fmt::format("  n{} [shape=box, label=\"{}\\n{}\"];\n", root_id, root.grad_fn()->name(), root.shape());
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    const int node_id = ids[node];
    for (const Edge& e : node->inputs) {
      if (!e.needed()) continue;
      const void* key = e.fn ? static_cast<const void*>(e.fn.get()) : static_cast<const void*>(e.leaf.get());
      auto [child, first] = id(key);
      if (first) {
        if (e.fn) {
          out += fmt::format("  n{} [shape=box, label=\"{}\\n{}\"];\n", child, e.fn->name(), e.fn->shape);
          stack.push_back(e.fn.get());
        } else {
          out += fmt::format("  n{} [shape=ellipse, style=filled, fillcolor=lightblue, label=\"leaf\\n{}\"];\n",
                             child, e.shape);
        }
      }
      out += fmt::format("  n{} -> n{};\n", child, node_id);
    }
  }
  return out + "}\n";
}

}  // namespace gg
