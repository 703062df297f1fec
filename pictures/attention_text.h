#pragma once
// Attention weights as text, for terminals and logs: one row per target token, one column
// per source token, each cell the weight in hundredths with a shade, e.g.
//
//              el  gato negro  come
//   the      [ 91    3     2     4 ] █
//   black    [  2    5    88     5 ]
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gg::pictures {

// weights [T, S] (any float dtype); the token lists label the rows (T) and columns (S).
std::string attention_text(const Tensor& weights, const std::vector<std::string>& source,
                           const std::vector<std::string>& target);

}  // namespace gg::pictures
