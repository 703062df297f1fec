#pragma once
// Mixed precision, as torch.autocast("cpu", dtype=torch.bfloat16) does it. Inside a
// gg::autocast scope, float32 matrix products (matmul, linear, the recurrent gate products,
// the weight gradients) read their inputs rounded to bfloat16 and sum in float32; everything
// else (parameters, gradients, optimizer state, softmax, layer norm, losses, reductions) stays
// float32. An autograd node remembers the precision its forward ran in and its backward runs
// in the same one, as PyTorch's does.
//
//   {
//     gg::autocast bf16;                    // or gg::autocast(gg::Precision::Float32) to opt out
//     auto loss = model.loss(batch);
//     loss.backward();
//   }
//
// bfloat16 keeps float32's exponent and 8 of its 24 significand bits (relative rounding
// error 2^-9): training reaches float32's loss, while a product reads half the bytes and, on a
// CPU with AVX512_BF16, runs twice as many multiply-adds per instruction. Without those
// instructions oneDNN emulates them, slower than float32: check bf16_is_fast() first, as
// `translate train --precision bf16` does.
#include <cstdint>
#include <string_view>

namespace gg {

enum class Precision { Float32, BFloat16 };

const char* precision_name(Precision p);  // "fp32", "bf16"
// "fp32" or "bf16" -> the precision; anything else is an error naming `what` (say, an option).
Precision parse_precision(std::string_view name, std::string_view what);

// The precision of float32 matrix products on this thread (each thread has its own setting).
Precision matmul_precision();

// Sets the precision of float32 matrix products on this thread for its lifetime, then puts
// the previous one back.
class autocast {
 public:
  explicit autocast(Precision precision = Precision::BFloat16);
  ~autocast();
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  Precision previous_;
};

// Whether this CPU has bfloat16 dot-product instructions (AVX512_BF16).
bool cpu_has_bf16();
// Why bfloat16 products are not faster than float32 here, or nullptr where they are (glassgrad
// built with oneDNN, GG_GEMM=onednn, on a CPU with AVX512_BF16). Elsewhere autocast still
// rounds the inputs to bfloat16, and is no faster (built with OpenBLAS) or slower (oneDNN
// emulating the instructions).
const char* bf16_not_fast_reason();
inline bool bf16_is_fast() { return bf16_not_fast_reason() == nullptr; }

// float32 -> bfloat16 bits, rounded to nearest even (a NaN stays a NaN), and back (exact).
inline uint16_t to_bf16(float x) {
  uint32_t u = __builtin_bit_cast(uint32_t, x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float from_bf16(uint16_t x) { return __builtin_bit_cast(float, static_cast<uint32_t>(x) << 16); }

}  // namespace gg
