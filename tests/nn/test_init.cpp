// Initializers and the default initializations of the layers: ranges, statistics,
// orthogonality, and reproducibility under gg::manual_seed.
#include <cmath>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
namespace nn = gg::nn;
namespace init = gg::nn::init;

namespace {

struct Stats {
  double mean = 0, std = 0, min = INFINITY, max = -INFINITY;
};

Stats stats(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Stats s;
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

// All values within [-bound, bound], and, for 100 or more values, the extremes close to it
// (so a too-narrow range fails too; 100 draws all miss the outer 5% with probability 0.6%).
void require_within_bound(const Tensor& t, double bound, const std::string& what) {
  const Stats s = stats(t);
  INFO(what << ": min " << s.min << " max " << s.max << " bound " << bound);
  REQUIRE(s.min >= -bound);
  REQUIRE(s.max <= bound);
  if (t.numel() < 100) return;
  REQUIRE(s.max > 0.9 * bound);
  REQUIRE(s.min < -0.9 * bound);
}

Tensor identity(int64_t n) {
  std::vector<double> v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i * n + i)] = 1.0;
  return gg::from_vector(v, {n, n});
}

// Q Q^T for a [rows, cols] matrix.
Tensor gram(const Tensor& q) { return gg::matmul(q, q.t()); }

}  // namespace

TEST_CASE("init: uniform_ and normal_ statistics on a big tensor", "[nn][init]") {
  gg::manual_seed(1);
  Tensor u = Tensor::empty({200, 500}, gg::DType::Float64);
  init::uniform_(u, -1.0, 3.0);
  const Stats su = stats(u);
  CHECK(su.min >= -1.0);
  CHECK(su.max < 3.0);
  CHECK(su.mean == Approx(1.0).margin(0.02));
  CHECK(su.std == Approx(4.0 / std::sqrt(12.0)).epsilon(0.01));

  Tensor n = Tensor::empty({200, 500});
  init::normal_(n, 2.0, 0.5);
  const Stats sn = stats(n);
  CHECK(sn.mean == Approx(2.0).margin(0.005));
  CHECK(sn.std == Approx(0.5).epsilon(0.01));

  Tensor c = Tensor::empty({3, 4});
  init::constant_(c, 0.25);
  CHECK(stats(c).min == 0.25);
  CHECK(stats(c).max == 0.25);
}

TEST_CASE("init: fans follow PyTorch's definition", "[nn][init]") {
  CHECK(init::fans(gg::zeros({5, 3})).fan_in == 3);
  CHECK(init::fans(gg::zeros({5, 3})).fan_out == 5);
  CHECK(init::fans(gg::zeros({5, 3, 2, 2})).fan_in == 12);  // [out, in, k, k]
  CHECK(init::fans(gg::zeros({5, 3, 2, 2})).fan_out == 20);
  CHECK_THROWS_AS(init::fans(gg::zeros({5})), gg::Error);
}

TEST_CASE("init: xavier and kaiming bounds and standard deviations", "[nn][init]") {
  gg::manual_seed(2);
  Tensor w = Tensor::empty({300, 200}, gg::DType::Float64);
  init::xavier_uniform_(w, 2.0);
  require_within_bound(w, 2.0 * std::sqrt(6.0 / 500.0), "xavier_uniform_");

  init::kaiming_uniform_(w);  // a = 0: b = sqrt(2) sqrt(3 / fan_in)
  require_within_bound(w, std::sqrt(6.0 / 200.0), "kaiming_uniform_(a=0)");
  init::kaiming_uniform_(w, std::sqrt(5.0));  // Linear's default: 1 / sqrt(fan_in)
  require_within_bound(w, 1.0 / std::sqrt(200.0), "kaiming_uniform_(a=sqrt 5)");

  init::xavier_normal_(w);
  CHECK(stats(w).std == Approx(std::sqrt(2.0 / 500.0)).epsilon(0.02));
  init::kaiming_normal_(w);
  CHECK(stats(w).std == Approx(std::sqrt(2.0 / 200.0)).epsilon(0.02));
}

TEST_CASE("init: orthogonal_ gives orthonormal rows (wide) or columns (tall)", "[nn][init]") {
  gg::manual_seed(3);
  Tensor wide = Tensor::empty({3, 7}, gg::DType::Float64);
  init::orthogonal_(wide);
  require_close(gram(wide), identity(3), 1e-12, "Q Q^T, wide");

  Tensor tall = Tensor::empty({7, 3}, gg::DType::Float64);
  init::orthogonal_(tall);
  require_close(gram(tall.t()), identity(3), 1e-12, "Q^T Q, tall");

  Tensor square = Tensor::empty({4, 4}, gg::DType::Float64);
  init::orthogonal_(square, 2.0);
  require_close(gram(square), identity(4) * 4.0, 1e-12, "Q Q^T with gain 2");
  require_close(gram(square.t()), identity(4) * 4.0, 1e-12, "Q^T Q with gain 2");

  // More than 2 dims: flattened to [size(0), rest], so the rows are orthonormal.
  Tensor conv = Tensor::empty({2, 3, 2}, gg::DType::Float64);
  init::orthogonal_(conv);
  require_close(gram(conv.reshape({2, 6})), identity(2), 1e-12, "flattened");
}

TEST_CASE("init: Linear weight and bias within +-1/sqrt(in)", "[nn][init]") {
  gg::manual_seed(4);
  nn::Linear m(64, 256);
  require_within_bound(m.weight, 1.0 / 8.0, "Linear weight");
  require_within_bound(m.bias, 1.0 / 8.0, "Linear bias");
}

TEST_CASE("init: RNN, GRU, LSTM and cell weights within +-1/sqrt(H)", "[nn][init][rnn]") {
  gg::manual_seed(5);
  nn::LSTM lstm(8, 16, {.num_layers = 2, .bidirectional = true});
  for (const auto& [n, p] : lstm.named_parameters()) require_within_bound(p, 0.25, n);
  nn::GRU gru(3, 64);
  for (const auto& [n, p] : gru.named_parameters()) require_within_bound(p, 0.125, n);
  nn::RNNCell cell(100, 25);
  for (const auto& [n, p] : cell.named_parameters()) require_within_bound(p, 0.2, n);
}

TEST_CASE("init: Embedding is N(0, 1) with the padding row zero", "[nn][init]") {
  gg::manual_seed(6);
  nn::Embedding m(1000, 64, {.padding_idx = 3});
  CHECK(all_zero(m.weight.select(0, 3)));
  const Stats s = stats(m.weight.narrow(0, 4, 996));
  CHECK(s.mean == Approx(0.0).margin(0.01));
  CHECK(s.std == Approx(1.0).epsilon(0.01));
  CHECK_FALSE(all_zero(m.weight.select(0, 2)));
}

TEST_CASE("init: LayerNorm starts at weight 1, bias 0", "[nn][init]") {
  nn::LayerNorm m({2, 3});
  CHECK(m.weight.shape() == gg::Shape{2, 3});
  CHECK(stats(m.weight).min == 1.0);
  CHECK(stats(m.weight).max == 1.0);
  CHECK(all_zero(m.bias));
  // At init it only normalizes: every row has mean 0 and variance ~1.
  const Tensor y = m.forward(gg::randn({4, 2, 3}) * 3.0 + 1.0);
  const Stats s = stats(y.select(0, 0));
  CHECK(s.mean == Approx(0.0).margin(1e-6));
  CHECK(s.std == Approx(1.0).epsilon(1e-4));
}

TEST_CASE("init: the same seed gives the same initialization", "[nn][init]") {
  auto build = [](uint64_t seed) {
    gg::manual_seed(seed);
    auto m = std::make_shared<nn::Sequential>();
    m->push_back(std::make_shared<nn::Embedding>(10, 4));
    m->push_back(std::make_shared<nn::Linear>(4, 4));
    m->push_back(std::make_shared<nn::GRU>(4, 3, nn::RNNOptions{.bidirectional = true}));
    return m;
  };
  auto a = build(42), b = build(42), c = build(43);
  const nn::StateDict sa = a->state_dict(), sb = b->state_dict(), sc = c->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(max_abs_diff(sa[i].second, sb[i].second) == 0.0);
    CHECK(max_abs_diff(sa[i].second, sc[i].second) > 0.0);
  }
}
