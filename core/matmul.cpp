// matmul: a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast.
// Float32 products go to oneDNN's sgemm (or OpenBLAS's, built with -DGG_GEMM=openblas), float64
// to OpenBLAS's dgemm. A transposed view is handed to the library as a transpose flag with its
// leading dimension, not copied; only a layout it cannot describe (say, a slice with a step
// along both dims) is copied first.
#include <cblas.h>
#if GG_GEMM_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include <vector>

#include "core/autocast.h"
#include "core/kernels.h"
#include "core/matmul_bf16.h"
#include "core/profiler.h"
#include "core/parallel.h"

namespace gg::kernel {
namespace {

struct MatmulPlan {
  Shape batch;                      // broadcast batch shape
  int64_t M = 0, K = 0, N = 0;
  std::vector<int64_t> a_off, b_off;  // element offset of each batch's matrix
};

MatmulPlan plan(const Tensor& a, const Tensor& b, std::string_view op) {
  GG_CHECK(a.defined() && b.defined(), "{}: an input tensor is undefined", op);
  GG_CHECK(a.dim() >= 2 && b.dim() >= 2, "{}: expected tensors with at least 2 dims, got shapes {} and {}", op,
           a.shape(), b.shape());
  GG_CHECK(a.dtype() == b.dtype(), "{}: dtypes {} and {} differ (shapes {} and {})", op, dtype_name(a.dtype()),
           dtype_name(b.dtype()), a.shape(), b.shape());
  MatmulPlan p;
  p.M = a.size(-2);
  p.K = a.size(-1);
  p.N = b.size(-1);
  GG_CHECK(p.K == b.size(-2), "{}: shapes {} and {} cannot be multiplied ({} != {})", op, a.shape(), b.shape(), p.K,
           b.size(-2));
  Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  // Checked here rather than by broadcast_shapes, so that the message names the full shapes.
  for (size_t i = 1; i <= std::min(a_batch.size(), b_batch.size()); ++i) {
    const int64_t x = a_batch[a_batch.size() - i], y = b_batch[b_batch.size() - i];
    GG_CHECK(x == y || x == 1 || y == 1,
             "{}: shapes {} and {} cannot be multiplied: batch dims {} and {} do not broadcast ({} vs {})", op,
             a.shape(), b.shape(), a_batch, b_batch, x, y);
  }
  p.batch = broadcast_shapes(a_batch, b_batch, op);
  Strides a_bs = broadcast_strides(a_batch, Strides(a.strides().begin(), a.strides().end() - 2), p.batch);
  Strides b_bs = broadcast_strides(b_batch, Strides(b.strides().begin(), b.strides().end() - 2), p.batch);
  int64_t count = p.batch.numel();
  p.a_off.resize(count);
  p.b_off.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, ao = 0, bo = 0;
    for (int64_t d = static_cast<int64_t>(p.batch.size()) - 1; d >= 0; --d) {
      int64_t idx = rest % p.batch[d];
      rest /= p.batch[d];
      ao += idx * a_bs[d];
      bo += idx * b_bs[d];
    }
    p.a_off[i] = ao;
    p.b_off[i] = bo;
  }
  return p;
}

Shape out_shape(const MatmulPlan& p) {
  Shape s = p.batch;
  s.push_back(p.M);
  s.push_back(p.N);
  return s;
}

// How BLAS should read the last two dims of x ([R, C]): as they are, transposed, or not at all.
struct BlasView {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int64_t ld = 0;
};

BlasView blas_view(const Tensor& x) {
  const int64_t R = x.size(-2), C = x.size(-1), rs = x.stride(-2), cs = x.stride(-1);
  if ((C == 1 || cs == 1) && (R == 1 || rs >= C)) return {true, CblasNoTrans, R == 1 ? std::max<int64_t>(C, 1) : rs};
  if ((R == 1 || rs == 1) && (C == 1 || cs >= R)) return {true, CblasTrans, C == 1 ? std::max<int64_t>(R, 1) : cs};
  return {};
}

// Float32 products of at least this many multiply-adds go to oneDNN (when built with it);
// smaller ones to OpenBLAS, whose fixed cost per call is a third of oneDNN's (0.2-0.8 us
// against 0.7-2.5 us up to 32 x 32 x 32; the two are level near 64 x 64 x 64).
constexpr int64_t kOneDnnMinMacs = int64_t{1} << 18;

// c = op(a) op(b) + beta * c, row-major, as one call to the GEMM library: a is stored [M, K]
// (NoTrans) or [K, M] (Trans), b [K, N] or [N, K]. beta = 0 never reads c (it may hold NaN).
// oneDNN turns a product of one row or one column into a matrix-vector product itself;
// OpenBLAS's gemm would pack the whole matrix for it, so that case is handed to its gemv here.
// `macs` is the whole product's (this call may be one block of it): every block of a product
// goes to the same library, so that a result does not depend on the number of threads.
template <class T>
void library_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T* c, int64_t ldc, T beta, int64_t macs) {
#if GG_GEMM_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (macs >= kOneDnnMinMacs) {
      const dnnl_status_t status = dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', M, N, K,
                                              1.0f, a, lda, b, ldb, beta, c, ldc);
      GG_CHECK(status == dnnl_success, "matmul: oneDNN's sgemm failed (status {}) on a [{}, {}] x [{}, {}] product",
               static_cast<int>(status), M, K, K, N);
      return;
    }
  }
#else
  (void)macs;
#endif
  const auto flip = [](CBLAS_TRANSPOSE t) { return t == CblasNoTrans ? CblasTrans : CblasNoTrans; };
  const auto gemv = [](CBLAS_TRANSPOSE t, int64_t rows, int64_t cols, const T* A, int64_t ld, const T* x, int64_t incx,
                       T* y, int64_t incy, T beta_y) {
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemv(CblasRowMajor, t, rows, cols, 1.0f, A, ld, x, incx, beta_y, y, incy);
    else
      cblas_dgemv(CblasRowMajor, t, rows, cols, 1.0, A, ld, x, incx, beta_y, y, incy);
  };
  if (M == 1) {  // c[0, :] = op(b)^T a[0, :]
    gemv(flip(tb), tb == CblasNoTrans ? K : N, tb == CblasNoTrans ? N : K, b, ldb, a, ta == CblasNoTrans ? 1 : lda, c, 1,
         beta);
  } else if (N == 1) {  // c[:, 0] = op(a) b[:, 0]
    gemv(ta, ta == CblasNoTrans ? M : K, ta == CblasNoTrans ? K : M, a, lda, b, tb == CblasNoTrans ? ldb : 1, c, ldc,
         beta);
  } else if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc);
  }
}

// c[M, N] = a[:, 0] b[0, :] + beta * c: a product with K = 1 (the backward of attention over one
// query, [B][S, 1] x [1, H]) is an outer product, and one pass over c is all it needs; a GEMM
// library packs both vectors first (5-25% slower on [64][24, 1] x [1, 256 or 1024]).
// a(i, 0) = a[i * inc_a], b(0, j) = b[j * inc_b]; beta = 0 never reads c (it may hold NaN).
template <class T>
void outer(int64_t M, int64_t N, const T* a, int64_t inc_a, const T* b, int64_t inc_b, T* c, int64_t ldc, T beta) {
  std::vector<T> packed;
  if (inc_b != 1) {  // a strided row of b, gathered once so that the loop below runs in SIMD
    packed.resize(static_cast<size_t>(N));
    for (int64_t j = 0; j < N; ++j) packed[j] = b[j * inc_b];
    b = packed.data();
  }
  for (int64_t i = 0; i < M; ++i) {
    const T ai = a[i * inc_a];
    T* ci = c + i * ldc;
    if (beta == T(0)) {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) ci[j] = ai * b[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) ci[j] = ai * b[j] + beta * ci[j];
    }
  }
}

constexpr int64_t kColumnBlock = 16;  // column blocks start on 64-byte boundaries of c's rows

// c = op(a) op(b) + beta * c. With several threads, a float32 product worth splitting runs as
// one single-threaded library call per thread, each on its own block of c's columns (and of
// b): the threads then share nothing. Both libraries split such products worse on their own,
// most of all those of a few rows against a large b (a recurrent step's x W^T: 1.6-2x). A
// weight gradient (a read transposed, dY^T X) is left to the library, which splits those as
// well or better (bench/bench_gemm; docs/PERFORMANCE.md).
template <class T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
          const T* b, int64_t ldb, T* c, int64_t ldc, T beta = T(0)) {
  if (K == 1) {  // a is stored [M, 1] (NoTrans) or [1, M]; b [1, N] (NoTrans) or [N, 1]
    outer<T>(M, N, a, ta == CblasNoTrans ? lda : 1, b, tb == CblasNoTrans ? 1 : ldb, c, ldc, beta);
    return;
  }
  const bool split = std::is_same_v<T, float> && ta == CblasNoTrans && M * N * K >= kParallelMinMacs &&
                     N >= 2 * kColumnBlock && omp_get_max_threads() > 1 && !omp_in_parallel();
  if (!split) {
    library_gemm<T>(ta, tb, M, N, K, a, lda, b, ldb, c, ldc, beta, M * N * K);
    return;
  }
  parallel_for((N + kColumnBlock - 1) / kColumnBlock, 1, [&](int64_t b0, int64_t b1) {
    const int64_t j0 = b0 * kColumnBlock, j1 = std::min(N, b1 * kColumnBlock);
    library_gemm<T>(ta, tb, M, j1 - j0, K, a, lda, b + (tb == CblasNoTrans ? j0 : j0 * ldb), ldb, c + j0, ldc, beta,
                    M * N * K);
  });
}

// Whether a product of these inputs runs with bfloat16 inputs (inside gg::autocast).
bool in_bf16(const Tensor& a) { return a.dtype() == DType::Float32 && matmul_precision() == Precision::BFloat16; }

// The operand of gemm_bf16 for the matrix at data of x, read as blas_view says. `keep`: its
// converted copy may be kept (the b of a 2-D product: a weight, in x W^T and in dY W).
Bf16Operand bf16_operand(const Tensor& x, const float* data, const BlasView& v, int64_t rows, int64_t cols,
                         bool keep) {
  return {&x, data, v.trans == CblasNoTrans ? rows : cols, v.trans == CblasNoTrans ? cols : rows, v.ld,
          v.trans == CblasTrans, keep};
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  MatmulPlan p = plan(a_in, b_in, "matmul");
  GG_PROFILE(in_bf16(a_in) ? "matmul bf16" : "matmul", 2.0 * static_cast<double>(p.batch.numel() * p.M * p.N * p.K));
  if (!a_in.is_floating_point()) return matmul_naive(a_in, b_in);
  Tensor out = Tensor::empty(out_shape(p), a_in.dtype());
  if (out.numel() == 0) return out;
  if (p.K == 0) {
    fill(out, 0);
    return out;
  }
  Tensor a = a_in, b = b_in;
  BlasView va = blas_view(a), vb = blas_view(b);
  if (!va.ok || !vb.ok) {  // a layout BLAS cannot describe: copy it, and recompute the offsets
    if (!va.ok) a = contiguous(a), va = blas_view(a);
    if (!vb.ok) b = contiguous(b), vb = blas_view(b);
    p = plan(a, b, "matmul");
  }
  // Many small products that add up to real work: spread them over the threads, each library
  // call single-threaded inside the region. Otherwise loop, and let each product use them all.
  const int64_t count = p.batch.numel(), macs = p.M * p.N * p.K;
  const bool spread = count > 1 && macs < kParallelMinMacs && count * macs >= kParallelMinMacs;
  auto for_each_product = [&](auto&& one) {
    parallel_for(count, spread ? 2 : count + 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) one(i);
    });
  };
  if (in_bf16(a)) {
    for_each_product([&](int64_t i) {
      gemm_bf16(bf16_operand(a, a.data<float>() + p.a_off[i], va, p.M, p.K, false),
                bf16_operand(b, b.data<float>() + p.b_off[i], vb, p.K, p.N, count == 1), p.M, p.N, p.K,
                out.data<float>() + i * p.M * p.N, p.N, 0.0f);
    });
    return out;
  }
  visit_floating(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    for_each_product([&](int64_t i) {
      gemm<T>(va.trans, vb.trans, p.M, p.N, p.K, pa + p.a_off[i], va.ld, pb + p.b_off[i], vb.ld,
              pc + i * p.M * p.N, p.N);
    });
  });
  return out;
}

namespace {
// c = a @ b + beta c, or with a bias [N] (then beta = 0) c = a @ b + bias on every row: in
// bf16 the product's kernel adds the bias, otherwise c starts as the bias and the product is
// added to it.
void product_into(const Tensor& c, const Tensor& a_in, const Tensor& b_in, double beta, const Tensor& bias,
                  const char* op) {
  GG_CHECK(a_in.dim() == 2 && b_in.dim() == 2 && c.dim() == 2 && a_in.size(1) == b_in.size(0) &&
               c.size(0) == a_in.size(0) && c.size(1) == b_in.size(1),
           "{}: expected c [M, N] = a [M, K] @ b [K, N], got c {} a {} b {}", op, c.shape(), a_in.shape(),
           b_in.shape());
  GG_CHECK(a_in.dtype() == c.dtype() && b_in.dtype() == c.dtype() && c.is_floating_point(),
           "{}: expected one float dtype, got c {} a {} b {}", op, dtype_name(c.dtype()), dtype_name(a_in.dtype()),
           dtype_name(b_in.dtype()));
  GG_CHECK(c.stride(1) == 1 && c.stride(0) >= std::max<int64_t>(c.size(1), 1),
           "{}: the output must have contiguous rows, got strides ({}, {})", op, c.stride(0), c.stride(1));
  const int64_t M = c.size(0), N = c.size(1), K = a_in.size(1);
  GG_PROFILE(in_bf16(c) ? "matmul bf16" : "matmul", 2.0 * static_cast<double>(M * N * K));
  if (M == 0 || N == 0) return;
  const bool bias_in_kernel = bias.defined() && in_bf16(c) && bias.is_contiguous() && K > 0;
  if (bias.defined() && !bias_in_kernel) {  // every row starts as the bias
    copy(c, bias);
    beta = 1;
  }
  c.storage()->bump_version();  // an in-place write, like copy_: saved views of c see the change
  if (K == 0) {
    if (beta == 0) fill(c, 0);
    else scale(c, beta);
    return;
  }
  Tensor a = blas_view(a_in).ok ? a_in : contiguous(a_in), b = blas_view(b_in).ok ? b_in : contiguous(b_in);
  const BlasView va = blas_view(a), vb = blas_view(b);
  if (in_bf16(c)) {
    gemm_bf16(bf16_operand(a, a.data<float>(), va, M, K, false), bf16_operand(b, b.data<float>(), vb, K, N, true), M,
              N, K, c.data<float>(), c.stride(0), static_cast<float>(beta),
              bias_in_kernel ? bias.data<float>() : nullptr);
    return;
  }
  visit_floating(c.dtype(), op, [&]<class T>() {
    gemm<T>(va.trans, vb.trans, M, N, K, a.data<T>(), va.ld, b.data<T>(), vb.ld, c.data<T>(), c.stride(0),
            static_cast<T>(beta));
  });
}
}  // namespace

void matmul_into(const Tensor& c, const Tensor& a, const Tensor& b, double beta) {
  product_into(c, a, b, beta, Tensor(), "matmul_into");
}

void matmul_bias_into(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& bias) {
  GG_CHECK(bias.dim() == 1 && c.dim() == 2 && bias.size(0) == c.size(1) && bias.dtype() == c.dtype(),
           "matmul_bias_into: expected a bias [{}] ({}), got {} ({})", c.dim() == 2 ? c.size(1) : -1,
           dtype_name(c.dtype()), bias.shape(), dtype_name(bias.dtype()));
  product_into(c, a, b, 0.0, bias, "matmul_bias_into");
}

const char* gemm_library() { return GG_GEMM_ONEDNN ? "oneDNN" : "OpenBLAS"; }

Tensor matmul_naive(const Tensor& a, const Tensor& b) {
  MatmulPlan p = plan(a, b, "matmul_naive");
  Tensor out = Tensor::empty(out_shape(p), a.dtype());
  const int64_t ars = a.stride(-2), acs = a.stride(-1), brs = b.stride(-2), bcs = b.stride(-1);
  visit_dtype(a.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* pc = out.data<T>();
      for (int64_t i = 0; i < p.batch.numel(); ++i)
        for (int64_t m = 0; m < p.M; ++m)
          for (int64_t n = 0; n < p.N; ++n) {
            Acc acc = 0;
            for (int64_t k = 0; k < p.K; ++k)
              acc += static_cast<Acc>(pa[p.a_off[i] + m * ars + k * acs]) * static_cast<Acc>(pb[p.b_off[i] + k * brs + n * bcs]);
            pc[(i * p.M + m) * p.N + n] = static_cast<T>(acc);
          }
    } else {
      fail("matmul_naive: not defined for bool tensors");
    }
  });
  return out;
}

}  // namespace gg::kernel
