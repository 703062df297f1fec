#pragma once
// Looking at the graph behind a tensor.
//
//   fmt::print("{}", gg::graph_string(loss));
//   SumBackward []
//   └─ MulBackward [2, 3]
//      ├─ leaf [2, 3]
//      └─ TanhBackward [2, 3]
//         └─ leaf [2, 3]
//
// graph_dot() gives the same graph in Graphviz DOT: `dot -Tpng graph.dot -o graph.png`.
#include <string>

#include "core/tensor.h"

namespace gg {

std::string graph_string(const Tensor& root);
std::string graph_dot(const Tensor& root);

}  // namespace gg
