// matmul: a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast.
// Float tensors go to cblas_sgemm/dgemm. A transposed view is handed to BLAS as a
// transpose flag with its leading dimension, not copied; only a layout BLAS cannot
// describe (say, a slice with a step along both dims) is copied first.
#include <cblas.h>

#include <vector>

#include "core/kernels.h"
#include "core/panel_gemm.h"
#include "core/profiler.h"
#include "core/small_gemm.h"
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

// y[i * incy] = A[i, :] . x + beta * y[i * incy] for the rows i in [r0, r1) of the row-major
// float32 A (ld lda), x contiguous. Four rows at a time, each summed in one 8-float vector over
// k and then across its lanes in order: a row's result does not depend on how the rows are
// split over the threads. beta = 0 never reads y.
void dot_rows(int64_t r0, int64_t r1, int64_t cols, const float* A, int64_t lda, const float* x, float* y,
              int64_t incy, float beta) {
  using S = Simd<float>;
  using V = S::V;
  const int64_t kv = cols / S::L * S::L;
  const auto finish = [&](int64_t i, V acc) {
    float sum = 0;
    for (int64_t l = 0; l < S::L; ++l) sum += acc[l];
    for (int64_t k = kv; k < cols; ++k) sum += A[i * lda + k] * x[k];
    y[i * incy] = beta == 0 ? sum : sum + beta * y[i * incy];
  };
  int64_t i = r0;
  for (; i + 4 <= r1; i += 4) {
    const float* a = A + i * lda;
    V acc0{}, acc1{}, acc2{}, acc3{};
    for (int64_t k = 0; k < kv; k += S::L) {
      const V xv = S::load(x + k);
      acc0 += S::load(a + k) * xv;
      acc1 += S::load(a + lda + k) * xv;
      acc2 += S::load(a + 2 * lda + k) * xv;
      acc3 += S::load(a + 3 * lda + k) * xv;
    }
    finish(i, acc0), finish(i + 1, acc1), finish(i + 2, acc2), finish(i + 3, acc3);
  }
  for (; i < r1; ++i) {
    V acc{};
    for (int64_t k = 0; k < kv; k += S::L) acc += S::load(A + i * lda + k) * S::load(x + k);
    finish(i, acc);
  }
}

// y = op(A) x + beta * y, where op(A) is the row-major matrix A [rows, cols] (ld lda) or its
// transpose. In float32, A x over contiguous x (a batch-1 decoder step's x W^T: every product
// of bench_decode) runs as dot products of A's rows, split by rows over the threads: the
// matrix is streamed once, at the memory's speed, each thread reading its own block of rows.
// OpenBLAS's sgemv took 3-8% longer on the decoder's shapes (microbench, 2 threads).
template <class T>
void gemv(CBLAS_TRANSPOSE trans, int64_t rows, int64_t cols, const T* A, int64_t lda, const T* x, int64_t incx, T* y,
          int64_t incy, T beta) {
  if constexpr (std::is_same_v<T, float>) {
    if (trans == CblasNoTrans && incx == 1) {
      parallel_for((rows + 3) / 4, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(4 * cols, 1)),
                   [&](int64_t g0, int64_t g1) {
                     dot_rows(4 * g0, std::min(rows, 4 * g1), cols, A, lda, x, y, incy, beta);
                   });
      return;
    }
    cblas_sgemv(CblasRowMajor, trans, rows, cols, 1.0f, A, lda, x, incx, beta, y, incy);
  } else {
    cblas_dgemv(CblasRowMajor, trans, rows, cols, 1.0, A, lda, x, incx, beta, y, incy);
  }
}

// c[M, N] = a[:, 0] b[0, :] + beta * c: a product with K = 1 (the backward of attention over one
// query, [B][S, 1] x [1, H]) is an outer product, and one pass over c is all it needs; gemm
// would pack both vectors and zero c first, 2.9x slower on LSTM-attention small's batches.
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

// Mid-sized float products are split by rows over the threads, one single-threaded sgemm per
// block, instead of leaving the split to OpenBLAS 0.3.21: its two-thread gemm synchronizes its
// threads around shared packed panels and, on the shapes of training (a few hundred rows of
// width 64-1000), ran 1.3-1.9x slower than two independent halves (microbench, 2 cores:
// [512, 64] x [64, 256] 293 -> 152 us, [512, 64] x [64, 1000] 897 -> 588 us; bench_seq2seq
// matmul time -10 to -30% on the small models, none lost on the medium ones). Each block packs
// all of b, so the largest products, where OpenBLAS's shared packing pays, stay with it.
// With few rows against a large b the blocks are columns instead (2-D float32 products of up
// to 64 rows do not get here: they multiply kept panels of b, core/panel_gemm.h): each
// thread then packs its own part of b, not all of it (row halves ran 1.2x slower than
// OpenBLAS there, column halves as fast or faster). Where b is small (under
// 1 MiB), columns still win up to 32 rows (a decoder step of the small models): they beat
// OpenBLAS's own split by 1.2-1.8x ([24, 192] x [192, 512]: 100 -> 52-55 us) and row halves
// by 1.05-1.2x ([32, 192] x [192, 512] and [32, 512] x [512, 192], GFLOP/s: rows 78-81 and
// 93-96, columns 90-93 and 99-101). Row halves also beat OpenBLAS up to a few billion multiply-adds (microbench, GFLOP/s, OpenBLAS's 2 threads -> row halves: the
// LSTM encoder's [1536, 1024] x [1024, 256] 115 -> 139 and its weight gradient
// [1536, 1024]^T x [1536, 256] 120 -> 137, a decoder weight gradient [1152, 2048]^T x
// [1152, 768] 131 -> 136); past that, on the 8000-word output layer's products, OpenBLAS's
// shared packing wins again (151 against 144 forward, 132 against 115 for the weight gradient).
constexpr int64_t kSplitRows = 32;              // at least 16 rows per thread
constexpr int64_t kSplitMaxMacs = int64_t{1} << 31;
constexpr int64_t kSplitColumnsBelowRows = 128;  // fewer rows than this, N >= 2M, and a large b
constexpr int64_t kSplitColumnsMinB = 1 << 18;   // or at most kSplitRows rows: split columns
constexpr int64_t kColumnBlock = 16;            // column blocks start on 64-byte boundaries of c's rows

// c = a @ b + beta * c. A product with one row (or one column) is a matrix-vector product:
// OpenBLAS's gemm would still pack the whole matrix for it, which makes batch-1 decoding,
// where every product has one row, about 3.5x slower than gemv (the same weights streamed
// once, not twice).
template <class T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
          const T* b, int64_t ldb, T* c, int64_t ldc, T beta = T(0)) {
  const auto flip = [](CBLAS_TRANSPOSE t) { return t == CblasNoTrans ? CblasTrans : CblasNoTrans; };
  if (M == 1) {  // c[0, :] = op(b)^T a[0, :]; b is stored [K, N] (NoTrans) or [N, K] (Trans)
    gemv<T>(flip(tb), tb == CblasNoTrans ? K : N, tb == CblasNoTrans ? N : K, b, ldb, a,
            ta == CblasNoTrans ? 1 : lda, c, 1, beta);
  } else if (N == 1) {  // c[:, 0] = op(a) b[:, 0]; a is stored [M, K] (NoTrans) or [K, M] (Trans)
    gemv<T>(ta, ta == CblasNoTrans ? M : K, ta == CblasNoTrans ? K : M, a, lda, b, tb == CblasNoTrans ? ldb : 1, c,
            ldc, beta);
  } else if (K == 1) {  // a is stored [M, 1] (NoTrans) or [1, M]; b [1, N] (NoTrans) or [N, 1]
    outer<T>(M, N, a, ta == CblasNoTrans ? lda : 1, b, tb == CblasNoTrans ? 1 : ldb, c, ldc, beta);
  } else if constexpr (std::is_same_v<T, float>) {
    const bool split = M * N * K >= kParallelMinMacs && M * N * K <= kSplitMaxMacs && !omp_in_parallel() &&
                       omp_get_max_threads() > 1;
    const bool by_columns =
        M < kSplitColumnsBelowRows && N >= 2 * M && (N * K >= kSplitColumnsMinB || M <= kSplitRows);
    if (split && (by_columns || M >= kSplitRows)) {
      if (by_columns) {  // b is [K, N] (NoTrans) or [N, K] (Trans)
        parallel_for((N + kColumnBlock - 1) / kColumnBlock, 1, [&](int64_t b0, int64_t b1) {
          const int64_t j0 = b0 * kColumnBlock, j1 = std::min(N, b1 * kColumnBlock);
          cblas_sgemm(CblasRowMajor, ta, tb, M, j1 - j0, K, 1.0f, a, lda, b + (tb == CblasNoTrans ? j0 : j0 * ldb), ldb,
                      beta, c + j0, ldc);
        });
      } else {
        parallel_for(M, kSplitRows / 2, [&](int64_t i0, int64_t i1) {  // BLAS runs single-threaded in here
          cblas_sgemm(CblasRowMajor, ta, tb, i1 - i0, N, K, 1.0f, a + (ta == CblasNoTrans ? i0 * lda : i0), lda, b,
                      ldb, beta, c + i0 * ldc, ldc);
        });
      }
    } else {
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
    }
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc);
  }
}

// c = a b + beta c through panels (core/panel_gemm.h) where they pay: a float32 product of a
// few rows against a large b. Returns false, having done nothing, where they do not.
bool panel_product(const Tensor& c, const Tensor& a, const Tensor& b, double beta) {
  if (c.dtype() != DType::Float32 || a.dim() != 2 || b.dim() != 2 || (beta != 0 && beta != 1) ||
      !panels_pay(a.size(0), b.size(1), a.size(1)))
    return false;
  gemm_panels(a.size(0), b.size(1), a.size(1), a.data<float>(), a.stride(0), a.stride(1), panels_of(b),
              c.data<float>(), c.stride(0), beta == 1);
  return true;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  MatmulPlan p = plan(a_in, b_in, "matmul");
  GG_PROFILE("matmul", 2.0 * static_cast<double>(p.batch.numel() * p.M * p.N * p.K));
  if (!a_in.is_floating_point()) return matmul_naive(a_in, b_in);
  Tensor out = Tensor::empty(out_shape(p), a_in.dtype());
  if (out.numel() == 0) return out;
  if (p.K == 0) {
    fill(out, 0);
    return out;
  }
  if (panel_product(out, a_in, b_in, 0)) return out;
  Tensor a = a_in, b = b_in;
  BlasView va = blas_view(a), vb = blas_view(b);
  if (!va.ok || !vb.ok) {  // a layout BLAS cannot describe: copy it, and recompute the offsets
    if (!va.ok) a = contiguous(a), va = blas_view(a);
    if (!vb.ok) b = contiguous(b), vb = blas_view(b);
    p = plan(a, b, "matmul");
  }
  const int64_t count = p.batch.numel();
  visit_floating(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    auto one = [&](int64_t i) {
      gemm<T>(va.trans, vb.trans, p.M, p.N, p.K, pa + p.a_off[i], va.ld, pb + p.b_off[i], vb.ld,
              pc + i * p.M * p.N, p.N);
    };
    // Many small products that add up to real work: spread them over the threads, each BLAS
    // call single-threaded inside the region. Otherwise loop, and let BLAS decide.
    const int64_t macs = p.M * p.N * p.K;
    if (count > 1 && macs < kParallelMinMacs && count * macs >= kParallelMinMacs) {
      parallel_for(count, 2, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) one(i);
      });
    } else {
      for (int64_t i = 0; i < count; ++i) one(i);
    }
  });
  return out;
}

void matmul_into(const Tensor& c, const Tensor& a_in, const Tensor& b_in, double beta) {
  GG_CHECK(a_in.dim() == 2 && b_in.dim() == 2 && c.dim() == 2 && a_in.size(1) == b_in.size(0) &&
               c.size(0) == a_in.size(0) && c.size(1) == b_in.size(1),
           "matmul_into: expected c [M, N] = a [M, K] @ b [K, N], got c {} a {} b {}", c.shape(), a_in.shape(),
           b_in.shape());
  GG_CHECK(a_in.dtype() == c.dtype() && b_in.dtype() == c.dtype() && c.is_floating_point(),
           "matmul_into: expected one float dtype, got c {} a {} b {}", dtype_name(c.dtype()), dtype_name(a_in.dtype()),
           dtype_name(b_in.dtype()));
  GG_CHECK(c.stride(1) == 1 && c.stride(0) >= std::max<int64_t>(c.size(1), 1),
           "matmul_into: the output must have contiguous rows, got strides ({}, {})", c.stride(0), c.stride(1));
  const int64_t M = c.size(0), N = c.size(1), K = a_in.size(1);
  GG_PROFILE("matmul", 2.0 * static_cast<double>(M * N * K));
  if (M == 0 || N == 0) return;
  c.storage()->bump_version();  // an in-place write, like copy_ (panels of c kept before are stale)
  if (K == 0) {
    if (beta == 0) fill(c, 0);
    else scale(c, beta);
    return;
  }
  if (panel_product(c, a_in, b_in, beta)) return;
  Tensor a = blas_view(a_in).ok ? a_in : contiguous(a_in), b = blas_view(b_in).ok ? b_in : contiguous(b_in);
  const BlasView va = blas_view(a), vb = blas_view(b);
  visit_floating(c.dtype(), "matmul_into", [&]<class T>() {
    gemm<T>(va.trans, vb.trans, M, N, K, a.data<T>(), va.ld, b.data<T>(), vb.ld, c.data<T>(), c.stride(0),
            static_cast<T>(beta));
  });
}

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
