#include "core/autocast.h"

#include "core/error.h"

namespace gg {
namespace {
thread_local Precision current = Precision::Float32;
}  // namespace

const char* precision_name(Precision p) { return p == Precision::BFloat16 ? "bf16" : "fp32"; }

Precision parse_precision(std::string_view name, std::string_view what) {
  GG_CHECK(name == "fp32" || name == "bf16", "{} is '{}'; expected fp32 or bf16", what, name);
  return name == "bf16" ? Precision::BFloat16 : Precision::Float32;
}

Precision matmul_precision() { return current; }

autocast::autocast(Precision precision) : previous_(current) { current = precision; }
autocast::~autocast() { current = previous_; }

bool cpu_has_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}

bool bf16_is_fast() {
#if GG_GEMM_ONEDNN
  return cpu_has_bf16();
#else
  return false;
#endif
}

}  // namespace gg
