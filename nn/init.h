#pragma once
// Initializers, seeded by gg::manual_seed. Each fills a tensor in place (without recording
// a graph) and returns it. Fan-in and fan-out follow PyTorch's
// torch.nn.init._calculate_fan_in_and_fan_out: for a weight [out, in, k...],
// fan_in = in * prod(k), fan_out = out * prod(k).
#include "core/tensor.h"

namespace gg::nn::init {

Tensor& uniform_(Tensor& t, double low, double high);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0);
Tensor& constant_(Tensor& t, double value);
// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio, 2010)
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0);
// N(0, std) with std = gain * sqrt(2 / (fan_in + fan_out))
Tensor& xavier_normal_(Tensor& t, double gain = 1.0);
// U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2))   (He et al., 2015, leaky-relu slope a)
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0);
// N(0, std) with std = gain / sqrt(fan_in)
Tensor& kaiming_normal_(Tensor& t, double a = 0.0);
// A (semi-)orthogonal matrix from the QR decomposition of a normal one, times gain
// (Saxe et al., 2013); tensors with more than 2 dims are flattened to [size(0), rest].
Tensor& orthogonal_(Tensor& t, double gain = 1.0);

struct Fans {
  int64_t fan_in = 0, fan_out = 0;
};
Fans fans(const Tensor& t);

}  // namespace gg::nn::init
