#pragma once
// GCC's __builtin_shuffle for clang, for the fuzz build only (see CMakeLists.txt): clang has
// no shuffle with a run-time mask, which autograd/attention_pair.h uses. As in GCC, lane i of
// the result is lane mask[i] of x (mod N), or of the concatenation a:b (mod 2N). Scalar loops,
// slow, but no fuzz target runs attention: this only lets the library compile.
namespace gg_fuzz {

template <class V, class M>
V shuffle(V x, M mask) {
  constexpr int n = sizeof(V) / sizeof(x[0]);
  V out{};
  for (int i = 0; i < n; ++i) out[i] = x[mask[i] & (n - 1)];
  return out;
}

template <class V, class M>
V shuffle(V a, V b, M mask) {
  constexpr int n = sizeof(V) / sizeof(a[0]);
  V out{};
  for (int i = 0; i < n; ++i) {
    const int k = mask[i] & (2 * n - 1);
    out[i] = k < n ? a[k] : b[k - n];
  }
  return out;
}

}  // namespace gg_fuzz

#define __builtin_shuffle(...) ::gg_fuzz::shuffle(__VA_ARGS__)
