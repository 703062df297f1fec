#include "pictures/attention_text.h"

#include <fmt/format.h>

#include <algorithm>

#include "data/utf8.h"

namespace gg::pictures {
namespace {

// What a token looks like in the picture: a space token (character-level models) becomes ␣.
std::string shown(const std::string& token) { return token == " " ? "␣" : token; }

// Pads to `width` columns, counting characters rather than bytes ("está" is 4 wide).
std::string pad_left(const std::string& s, size_t width) {
  const size_t n = data::utf8_length(s);
  return std::string(width > n ? width - n : 0, ' ') + s;
}
std::string pad_right(const std::string& s, size_t width) {
  const size_t n = data::utf8_length(s);
  return s + std::string(width > n ? width - n : 0, ' ');
}

}  // namespace

std::string attention_text(const Tensor& weights, const std::vector<std::string>& source,
                           const std::vector<std::string>& target) {
  GG_CHECK(weights.dim() == 2 && weights.size(0) == static_cast<int64_t>(target.size()) &&
               weights.size(1) == static_cast<int64_t>(source.size()),
           "attention_text: weights of shape {} do not match {} target and {} source tokens", weights.shape(),
           target.size(), source.size());
  static const char* shades[] = {" ", "░", "▒", "▓", "█"};
  const std::vector<double> w = weights.to_vector<double>();
  size_t row_label = 0;
  for (const auto& t : target) row_label = std::max(row_label, data::utf8_length(shown(t)));
  std::vector<size_t> width;
  for (const auto& s : source) width.push_back(std::max<size_t>(4, data::utf8_length(shown(s))));

  std::string out = std::string(row_label + 2, ' ');
  for (size_t j = 0; j < source.size(); ++j) {
    out += ' ';
    out += pad_left(shown(source[j]), width[j]);
  }
  out += "\n";
  const size_t S = source.size();
  for (size_t i = 0; i < target.size(); ++i) {
    out += pad_right(shown(target[i]), row_label) + "  [";
    for (size_t j = 0; j < S; ++j) out += fmt::format(" {:>{}}", static_cast<int>(w[i * S + j] * 100 + 0.5), width[j]);
    out += " ] ";
    for (size_t j = 0; j < S; ++j) out += shades[std::clamp(static_cast<int>(w[i * S + j] * 5), 0, 4)];
    out += "\n";
  }
  return out;
}

}  // namespace gg::pictures
