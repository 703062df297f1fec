#pragma once
// gg::Error: the one exception type glassgrad throws for bad input.
//
// Messages name the op and the shapes involved, and add a `hint:` where the usual
// cause is known:
//   matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)
// The library never calls exit or abort; a CLI catches Error and prints one line.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace gg {

class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument(what) {}
};

// Throws gg::Error with a fmt-formatted message.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace gg

// GG_CHECK(cond, "op: what went wrong {}", x): throws gg::Error when cond is false.
#define GG_CHECK(cond, ...)      \
  do {                           \
    if (!(cond)) {               \
      ::gg::fail(__VA_ARGS__);   \
    }                            \
  } while (false)
