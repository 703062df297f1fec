// A 10,000-step recurrent unroll: the engine must sort and run it, and the graph must be
// destroyed, without recursion (micrograd issues #21 and #91). The work runs on a thread
// with a 1 MiB stack, so a recursive walk over the ~30,000 nodes would overflow where the
// main thread's 8 MiB might not.
#include <pthread.h>

#include <cmath>
#include <exception>
#include <functional>

#include "testing.h"

using namespace gg::testing;

using gg::Tensor;
using In = std::vector<Tensor>;

namespace {

constexpr size_t kSmallStack = size_t{1} << 20;

// Runs f on a fresh thread with a kSmallStack stack and rethrows what it threw.
void run_with_small_stack(const std::function<void()>& f) {
  struct Job {
    const std::function<void()>* f;
    std::exception_ptr error;
  } job{&f, nullptr};
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, kSmallStack) == 0);
  pthread_t thread;
  const int created = pthread_create(
      &thread, &attr,
      [](void* p) -> void* {
        auto* j = static_cast<Job*>(p);
        try {
          (*j->f)();
        } catch (...) {
          j->error = std::current_exception();
        }
        return nullptr;
      },
      &job);
  pthread_attr_destroy(&attr);
  REQUIRE(created == 0);
  REQUIRE(pthread_join(thread, nullptr) == 0);
  if (job.error) std::rethrow_exception(job.error);
}

// h_t = tanh(h_{t-1} * w + x_t) for t = 0..T-1, elementwise; xs [T, H], h0 and w [H].
Tensor unroll(const Tensor& xs, const Tensor& h0, const Tensor& w) {
  Tensor h = h0;
  for (int64_t t = 0; t < xs.size(0); ++t) h = gg::tanh(h * w + xs.select(0, t));
  return h;
}

// The same recurrence and its backward for loss = sum(h_T), in plain doubles: the reference.
struct Reference {
  std::vector<double> dw, dh0;
};
Reference reference_gradients(const Tensor& xs, const Tensor& h0, const Tensor& w) {
  const int64_t T = xs.size(0), H = xs.size(1);
  const std::vector<double> x = xs.to_vector<double>(), wv = w.to_vector<double>();
  Reference ref{std::vector<double>(H, 0.0), std::vector<double>(H, 0.0)};
  for (int64_t j = 0; j < H; ++j) {
    std::vector<double> h(T + 1);
    h[0] = h0.to_vector<double>()[j];
    for (int64_t t = 0; t < T; ++t) h[t + 1] = std::tanh(h[t] * wv[j] + x[t * H + j]);
    double g = 1.0;  // d loss / d h_{t+1}
    for (int64_t t = T - 1; t >= 0; --t) {
      const double pre = g * (1 - h[t + 1] * h[t + 1]);
      ref.dw[j] += pre * h[t];
      g = pre * wv[j];
    }
    ref.dh0[j] = g;
  }
  return ref;
}

}  // namespace

TEST_CASE("gradcheck: 20-step elementwise tanh recurrence h = tanh(h * w + x_t)", "[gradcheck][autograd]") {
  gg::manual_seed(801);
  const Tensor xs = gg::randn({20, 3}, {.dtype = gg::DType::Float64}) * 0.5;
  const gg::GradcheckResult result = gg::gradcheck([xs](const In& in) { return unroll(xs, in[0], in[1]); },
                                                   {leaf({3}), leaf({3}, 0.5, 0.9)},
                                                   {.name = "recurrence"});
  INFO(result.message);
  REQUIRE(result.ok);
  REQUIRE(result.elements_checked == 6);
}

TEST_CASE("the short recurrence's gradients match the plain-double reference", "[autograd][engine]") {
  gg::manual_seed(802);
  const Tensor xs = gg::randn({20, 3}, {.dtype = gg::DType::Float64}) * 0.5;
  const Tensor h0 = leaf({3}), w = leaf({3}, 0.5, 0.9);
  gg::sum(unroll(xs, h0, w)).backward();
  const Reference ref = reference_gradients(xs, h0, w);
  require_close(w.grad(), gg::from_vector(ref.dw), 1e-12, "dw", 1e-15);
  require_close(h0.grad(), gg::from_vector(ref.dh0), 1e-12, "dh0", 1e-15);
}

TEST_CASE("a 10,000-step recurrent unroll backpropagates on a small stack", "[autograd][engine]") {
  gg::manual_seed(803);
  const Tensor xs = gg::randn({10000, 2}, {.dtype = gg::DType::Float64}) * 0.5;
  const Tensor h0 = leaf({2}), w = leaf({2}, 0.5, 0.9);
  size_t dot_edges = 0;
  run_with_small_stack([&] {
    const Tensor loss = gg::sum(unroll(xs, h0, w));
    // graph_dot walks the graph too; graph_string would print 10,000 levels of indentation.
    const std::string dot = gg::graph_dot(loss);
    for (size_t at = dot.find("->"); at != std::string::npos; at = dot.find("->", at + 2)) ++dot_edges;
    loss.backward();
  });  // the graph is destroyed on the small stack as the lambda's locals go
  // Per step: TanhBackward <- AddBackward <- MulBackward (2 edges: h and w); then SumBackward.
  CHECK(dot_edges == 10000 * 4 + 1);
  const Reference ref = reference_gradients(xs, h0, w);
  require_close(w.grad(), gg::from_vector(ref.dw), 1e-9, "dw", 1e-15);
  require_close(h0.grad(), gg::from_vector(ref.dh0), 1e-9, "dh0", 1e-15);
}

TEST_CASE("destroying a 10,000-step graph without running backward does not overflow", "[autograd][engine]") {
  gg::manual_seed(804);
  const Tensor xs = gg::randn({10000, 2}, {.dtype = gg::DType::Float64}) * 0.5;
  const Tensor h0 = leaf({2}), w = leaf({2}, 0.5, 0.9);
  bool built = false;
  run_with_small_stack([&] {
    Tensor h = unroll(xs, h0, w);
    built = h.grad_fn() != nullptr && h.grad_fn()->name() == "TanhBackward";
  });  // h, the only owner of the chain, goes here
  CHECK(built);
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("destroying a 10,000-step graph that uses h twice per step (h * h) does not overflow",
          "[autograd][engine]") {
  gg::manual_seed(805);
  // Each MulBackward holds two edges to the previous step's TanhBackward.
  const Tensor xs = gg::randn({10000, 2}, {.dtype = gg::DType::Float64}) * 0.5;
  const Tensor w = leaf({2}, 0.5, 0.9);
  bool built = false;
  run_with_small_stack([&] {
    Tensor h = gg::zeros({2}, {.dtype = gg::DType::Float64});
    for (int64_t t = 0; t < xs.size(0); ++t) h = gg::tanh(h * h + w + xs.select(0, t));
    built = h.grad_fn() != nullptr;
  });
  CHECK(built);
}
