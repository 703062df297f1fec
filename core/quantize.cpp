#include "core/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kernels.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace gg::kernel {

Int8Rows quantize_rows(const Tensor& w_in) {
  GG_CHECK(w_in.defined() && w_in.dim() == 2 && w_in.dtype() == DType::Float32,
           "quantize_rows: expected a float32 matrix [R, C], got {}",
           w_in.defined() ? fmt::format("{} {}", dtype_name(w_in.dtype()), w_in.shape()) : "an undefined tensor");
  Int8Rows out;
  out.rows = w_in.size(0);
  out.cols = w_in.size(1);
  // int8_matvec sums up to C products of |q| <= 127 and |xq| >= 1 in int32.
  GG_CHECK(out.cols * 127 < std::numeric_limits<int32_t>::max(),
           "quantize_rows: {} columns are too many for int32 sums of int8 products (at most {})", out.cols,
           std::numeric_limits<int32_t>::max() / 127);
  GG_PROFILE("quantize_rows");
  const Tensor w = contiguous(w_in);
  const float* pw = w.data<float>();
  const int64_t R = out.rows, C = out.cols;
  out.q.resize(static_cast<size_t>(R * C));
  out.scale.resize(R);
  out.error_norm.resize(R);
  out.q_abs_sum.resize(R);
  for (int64_t r = 0; r < R; ++r) {
    const float* row = pw + r * C;
    double amax = 0, sum = 0;  // (a NaN slips through max, never through a sum)
    for (int64_t c = 0; c < C; ++c) {
      amax = std::max(amax, std::fabs(static_cast<double>(row[c])));
      sum += row[c];
    }
    GG_CHECK(std::isfinite(sum), "quantize_rows: row {} holds a non-finite value", r);
    const double s = amax / 127.0;
    double err2 = 0;
    int64_t abs_sum = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double v = row[c];
      const int q = s == 0 ? 0 : static_cast<int>(std::lround(v / s));  // |q| <= 127
      out.q[r * C + c] = static_cast<int8_t>(q);
      const double e = v - s * q;
      err2 += e * e;
      abs_sum += std::abs(q);
    }
    out.scale[r] = s;
    out.error_norm[r] = std::sqrt(err2);
    out.q_abs_sum[r] = abs_sum;
  }
  return out;
}

void int8_matvec(const Int8Rows& w, const float* x, double* y, double* bound) {
  const int64_t R = w.rows, C = w.cols;
  GG_PROFILE("int8_matvec", 2.0 * static_cast<double>(R * C));
  double xmax = 0, x_l1 = 0, x_l2 = 0;
  for (int64_t c = 0; c < C; ++c) {
    const double v = std::fabs(static_cast<double>(x[c]));
    xmax = std::max(xmax, v);
    x_l1 += v;
    x_l2 += v * v;
  }
  GG_CHECK(std::isfinite(x_l1), "int8_matvec: the input vector holds a non-finite value");
  x_l2 = std::sqrt(x_l2);
  // The largest |xq| whose C products with |q| <= 127 still fit in int32.
  const int64_t xlim = std::min<int64_t>(32767, std::numeric_limits<int32_t>::max() / (127 * std::max<int64_t>(C, 1)));
  const double sx = xmax == 0 ? 1.0 : xmax / static_cast<double>(xlim);
  const double x_error = xmax == 0 ? 0.0 : 0.5 * sx;  // |x - sx xq| per element
  std::vector<int16_t> xq(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) xq[c] = static_cast<int16_t>(std::lround(static_cast<double>(x[c]) / sx));
  const int16_t* px = xq.data();
  const int8_t* pq = w.q.data();
  // Rounding slack for the double arithmetic of the bound itself (relative 1e-12 is ample).
  constexpr double kSlack = 1 + 1e-12;
  parallel_for(R, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int8_t* qr = pq + r * C;
      int32_t acc = 0;
      for (int64_t c = 0; c < C; ++c) acc += static_cast<int32_t>(qr[c]) * static_cast<int32_t>(px[c]);
      const double s = w.scale[r];
      y[r] = s * sx * static_cast<double>(acc);
      bound[r] = (std::min(w.error_norm[r] * x_l2, 0.5 * s * x_l1) +
                  s * static_cast<double>(w.q_abs_sum[r]) * x_error) * kSlack;
    }
  });
}

double dot_exact(const float* w, const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * static_cast<double>(x[i]);
  return s;
}

}  // namespace gg::kernel
