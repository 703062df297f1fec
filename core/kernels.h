#pragma once
// Kernels: plain functions that compute on tensors, with no knowledge of gradients.
// The general ones (elementwise, reductions, matmul, softmax, indexing, views) check their
// shapes and dtypes before allocating and throw gg::Error naming themselves; the loops of the
// fused ops (layer norm, cross-entropy rows here; core/lstm.h, core/attention.h) take inputs
// their autograd op has checked, as their comments say.
// autograd/ wraps them into differentiable ops (gg::add, gg::matmul, ...); backward
// formulas call them too.
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace gg::kernel {

// ---- elementwise (core/elementwise.cpp) --------------------------------------------------
enum class Unary { Neg, Exp, Log, Sqrt, Abs, Sign, Tanh, Sigmoid, Relu, Square, Reciprocal, Erf };
Tensor unary(Unary op, const Tensor& x);

enum class Binary { Add, Sub, Mul, Div, Pow, Maximum, Minimum };
Tensor binary(Binary op, const Tensor& a, const Tensor& b);  // broadcasting, equal dtypes

enum class Compare { Eq, Ne, Lt, Le, Gt, Ge };
Tensor compare(Compare op, const Tensor& a, const Tensor& b);  // -> bool

enum class Logical { And, Or, Xor };
Tensor logical(Logical op, const Tensor& a, const Tensor& b);  // bool x bool -> bool
Tensor logical_not(const Tensor& x);

// The gradient of an activation from its output y, in one pass over y and dy (same shape):
// Tanh dy (1 - y^2), Sigmoid dy y (1 - y), Relu dy where y > 0 else 0.
Tensor activation_backward(Unary op, const Tensor& y, const Tensor& dy);
Tensor pow_scalar(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, double low, double high);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond ? a : b, broadcasting
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);  // mask broadcast to x
Tensor cast(const Tensor& x, DType dtype);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous, else a contiguous copy
Tensor clone(const Tensor& x);       // always a contiguous copy
void copy(const Tensor& dst, const Tensor& src);  // src broadcast to dst's shape, cast to its dtype
void fill(const Tensor& dst, double value);
void axpy(const Tensor& y, double alpha, const Tensor& x);  // y += alpha * x (x broadcast to y)
void scale(const Tensor& y, double alpha);                  // y *= alpha

// ---- reductions (core/reduce.cpp): dims may be negative; empty dims = all dims ---------------
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
// Variance with Bessel's correction when correction = 1, as torch.var does by default.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim);
// Largest value along `dim` and its index (the first one on ties).
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim);
// Sums `x` down to `shape`, undoing a broadcast from `shape` to x.shape().
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- matmul (core/matmul.cpp) ---------------------------------------------------------------
// a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast. Float32 goes to oneDNN
// (or OpenBLAS), float64 to OpenBLAS, with transposed views passed as transposes; int64 uses the
// naive loop. Inside gg::autocast, float32 products read bfloat16 inputs (core/autocast.h).
Tensor matmul(const Tensor& a, const Tensor& b);
// c = a [M, K] @ b [K, N] + beta * c, written into c [M, N] (rows contiguous): the in-place
// GEMM that fused kernels use to add a product to what is already there.
void matmul_into(const Tensor& c, const Tensor& a, const Tensor& b, double beta);
// c = a [M, K] @ b [K, N] + bias [N] on every row (a linear layer's forward). Inside gg::autocast
// the bias is added by the product's kernel; otherwise c starts as the bias and matmul_into adds.
void matmul_bias_into(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& bias);
// The same contract with three plain loops: the reference BLAS is tested against.
Tensor matmul_naive(const Tensor& a, const Tensor& b);
// The library float32 products run on: "oneDNN" or "OpenBLAS" (CMake option GG_GEMM).
const char* gemm_library();

// ---- softmax (core/softmax.cpp): numerically stable (the row max is subtracted first) ------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Their gradients from the output y: softmax dx = y (dy - sum(dy y)), log_softmax dx = dy - exp(y) sum(dy).
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim);
// Softmax over the last dim with the keys where `mask` (bool, broadcast to x) is true left
// out: they get exactly 0, and a row whose keys are all masked is all zeros.
Tensor masked_softmax(const Tensor& x, const Tensor& mask);

// ---- layer norm (core/layer_norm.cpp): each row of x [N, n] normalized over its n values ------
// y = (x - mean) rstd w + b with rstd = 1 / sqrt(biased variance + eps); weight w and bias b
// [n] contiguous, or undefined. x contiguous.
struct LayerNormOut {
  Tensor y, mean, rstd;  // [N, n], [N], [N]
};
LayerNormOut layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// Its gradients from dy [N, n] (contiguous): dx [N, n], and with `affine` dweight and dbias [n]
// (else undefined), summed over the rows in the same order for any thread count.
struct LayerNormGrads {
  Tensor dx, dweight, dbias;
};
LayerNormGrads layer_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool affine);

// ---- cross-entropy (core/cross_entropy.cpp): logits x [N, C], int64 targets y [N], contiguous -----
// loss_n = (1 - eps) (lse_n - x[n, y_n]) + eps (lse_n - mean_c x[n, c]), lse_n = log sum_c e^x[n, c].
// Rows whose target is ignore_index get loss and lse 0; other targets must be in [0, C).
struct CrossEntropyRows {
  Tensor losses, lse;  // [N] each
  int64_t counted;     // rows not ignored
};
CrossEntropyRows cross_entropy(const Tensor& x, const Tensor& y, int64_t ignore_index, double label_smoothing);
// dx[n, c] = w[n] (softmax(x_n)_c - (1 - eps) [c == y_n] - eps / C), rows with w[n] = 0 all zero.
Tensor cross_entropy_backward(const Tensor& x, const Tensor& y, const Tensor& lse, const std::vector<double>& w,
                              double label_smoothing);

// ---- indexing (core/index.cpp) ---------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: int64 [N]
// x with src's slices added at `index` along dim: out.select(dim, index[i]) += src.select(dim, i).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
void index_add_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);  // in place; x contiguous
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);  // out[..i..] = x[..index[..i..]..]
// x with src added at index along dim: out[..index[..i..]..] += src[..i..].
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& index, int64_t num_classes);  // int64 [...] -> int64 [..., C]
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);

// ---- views (core/tensor.cpp): metadata only, never copy -------------------------------------
Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset);
Tensor view(const Tensor& x, const Shape& shape);  // error when the strides forbid it
bool can_view(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& x, const Shape& shape);
// Resolves one -1 in `shape` against numel, checking the element count matches.
Shape infer_shape(const Shape& shape, int64_t numel, std::string_view op, const Shape& from);

}  // namespace gg::kernel
