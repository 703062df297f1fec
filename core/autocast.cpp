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

const char* bf16_not_fast_reason() {
  if (!GG_GEMM_ONEDNN)
    return "this build's products run on OpenBLAS, which has no bfloat16 products (build with -DGG_GEMM=onednn)";
  if (!cpu_has_bf16())
    return "this CPU has no bfloat16 instructions (AVX512_BF16), and emulating them is slower than float32";
  return nullptr;
}

}  // namespace gg
