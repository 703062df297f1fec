#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/random.h"

namespace gg::nn::init {
namespace {

// Writes f() into every element of t (t must be contiguous), without recording a graph.
template <class F>
Tensor& fill_with(Tensor& t, const char* op, F&& f) {
  GG_CHECK(t.defined() && t.is_contiguous(), "{}: expected a defined, contiguous tensor", op);
  NoGradGuard no_grad;
  t.storage()->bump_version();
  visit_floating(t.dtype(), op, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(f());
  });
  return t;
}

}  // namespace

Fans fans(const Tensor& t) {
  GG_CHECK(t.dim() >= 2, "init: fan in and fan out need a tensor with at least 2 dims, got shape {}", t.shape());
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor& uniform_(Tensor& t, double low, double high) {
  return fill_with(t, "uniform_", [&] { return low + (high - low) * global_generator().uniform(); });
}

Tensor& normal_(Tensor& t, double mean, double std) {
  return fill_with(t, "normal_", [&] { return mean + std * global_generator().normal(); });
}

Tensor& constant_(Tensor& t, double value) {
  return fill_with(t, "constant_", [&] { return value; });
}

Tensor& xavier_uniform_(Tensor& t, double gain) {
  Fans f = fans(t);
  double a = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  return uniform_(t, -a, a);
}

Tensor& xavier_normal_(Tensor& t, double gain) {
  Fans f = fans(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)));
}

Tensor& kaiming_uniform_(Tensor& t, double a) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  double bound = gain * std::sqrt(3.0 / static_cast<double>(fans(t).fan_in));
  return uniform_(t, -bound, bound);
}

Tensor& kaiming_normal_(Tensor& t, double a) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  return normal_(t, 0.0, gain / std::sqrt(static_cast<double>(fans(t).fan_in)));
}

Tensor& orthogonal_(Tensor& t, double gain) {
  GG_CHECK(t.dim() >= 2, "orthogonal_: expected a tensor with at least 2 dims, got shape {}", t.shape());
  const int64_t rows = t.size(0), cols = t.numel() / rows;
  // Orthonormalize the rows (or the columns, if there are more rows than columns) of a
  // normal matrix with modified Gram-Schmidt: the Q of its QR decomposition.
  const bool by_rows = rows <= cols;
  const int64_t n = by_rows ? rows : cols, len = by_rows ? cols : rows;
  std::vector<double> q(static_cast<size_t>(n * len));
  for (double& v : q) v = global_generator().normal();
  for (int64_t i = 0; i < n; ++i) {
    double* qi = &q[i * len];
    for (int64_t j = 0; j < i; ++j) {
      const double* qj = &q[j * len];
      double dot = 0;
      for (int64_t k = 0; k < len; ++k) dot += qi[k] * qj[k];
      for (int64_t k = 0; k < len; ++k) qi[k] -= dot * qj[k];
    }
    double norm = 0;
    for (int64_t k = 0; k < len; ++k) norm += qi[k] * qi[k];
    norm = std::sqrt(norm);
    for (int64_t k = 0; k < len; ++k) qi[k] /= norm;
  }
  int64_t at = 0;
  return fill_with(t, "orthogonal_", [&] {
    int64_t r = at / cols, c = at % cols;
    ++at;
    return gain * (by_rows ? q[r * len + c] : q[c * len + r]);
  });
}

}  // namespace gg::nn::init
