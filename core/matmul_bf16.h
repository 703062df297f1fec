#pragma once
// Float32 products with bfloat16 inputs, for gg::autocast (core/autocast.h): c = op(a) op(b) +
// beta * c with both operands rounded to bfloat16 and the sums in float32. Built with oneDNN
// (GG_GEMM=onednn), the operands are converted to bfloat16 and multiplied by oneDNN's matmul
// primitive (vdpbf16ps where the CPU has AVX512_BF16); built with OpenBLAS, they are rounded
// to bfloat16 values kept in float32 and multiplied by sgemm: the same numbers, no faster.
//
// The right operand of a 2-D product (a weight: x W^T at every decoder step, dY W in the
// backward), met a second time, keeps its converted copy while its storage is alive and
// unchanged, the rule autograd's saved tensors follow (the storage's version, bumped by every
// in-place write): a weight is converted once per optimizer step, not once per use. Left
// operands and the slices of batched products are activations, often rewritten in place
// through raw pointers (a recurrent layer's h), and are converted at every call.
#include <cstdint>

#include "core/tensor.h"

namespace gg::kernel {

// One operand: the stored matrix [rows, cols] with row stride ld, at data inside owner's
// storage, whether the product reads it transposed, and whether its converted copy may be kept.
struct Bf16Operand {
  const Tensor* owner = nullptr;
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  bool trans = false;
  bool keep = false;
};

// c [M, N] (row stride ldc) = op(a) op(b) + beta * c; beta = 0 never reads c. bias: null, or
// [N] added to every row of the product, by the product's own kernel (then beta must be 0).
void gemm_bf16(const Bf16Operand& a, const Bf16Operand& b, int64_t M, int64_t N, int64_t K, float* c, int64_t ldc,
               float beta, const float* bias = nullptr);

struct Bf16CacheStats {
  int64_t kept = 0;         // operands with a converted copy kept
  int64_t bytes = 0;        // held by those copies
  int64_t hits = 0;         // operands served by a kept copy, since the last clear
  int64_t conversions = 0;  // operands converted, since the last clear
};
Bf16CacheStats bf16_cache_stats();
// Forgets every operand and frees every kept copy.
void clear_bf16_cache();

// Whether bfloat16 products run on oneDNN's bfloat16 kernels (operands kept as bfloat16 bits),
// or, where it has none (OpenBLAS builds, CPUs without AVX-512), as sgemm on bfloat16-rounded
// floats.
bool bf16_products_native();

}  // namespace gg::kernel
