#include "models/heatmap.h"

#include <fmt/format.h>

#include <algorithm>

namespace gg::models {

std::string attention_text(const Tensor& weights, const std::vector<std::string>& source,
                           const std::vector<std::string>& target) {
  GG_CHECK(weights.dim() == 2 && weights.size(0) == static_cast<int64_t>(target.size()) &&
               weights.size(1) == static_cast<int64_t>(source.size()),
           "attention_text: weights of shape {} do not match {} target and {} source tokens", weights.shape(),
           target.size(), source.size());
  static const char* shades[] = {" ", "░", "▒", "▓", "█"};
  const std::vector<double> w = weights.to_vector<double>();
  size_t row_label = 0;
  for (const auto& t : target) row_label = std::max(row_label, t.size());
  std::vector<size_t> width;
  for (const auto& s : source) width.push_back(std::max<size_t>(4, s.size()));

  std::string out = std::string(row_label + 2, ' ');
  for (size_t j = 0; j < source.size(); ++j) out += fmt::format(" {:>{}}", source[j], width[j]);
  out += "\n";
  const size_t S = source.size();
  for (size_t i = 0; i < target.size(); ++i) {
    out += fmt::format("{:<{}} [", target[i], row_label + 1);
    for (size_t j = 0; j < S; ++j) out += fmt::format(" {:>{}}", static_cast<int>(w[i * S + j] * 100 + 0.5), width[j]);
    out += " ] ";
    for (size_t j = 0; j < S; ++j) out += shades[std::clamp(static_cast<int>(w[i * S + j] * 5), 0, 4)];
    out += "\n";
  }
  return out;
}

}  // namespace gg::models
