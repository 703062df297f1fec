// Grad mode, detach, requires_grad_, in-place writes, and the version check that turns an
// in-place write to a saved tensor into an error instead of a wrong gradient.
#include "testing.h"

using namespace gg::testing;

using Catch::Matchers::Contains;
using gg::Tensor;

// ---- NoGradGuard ----------------------------------------------------------------------------

TEST_CASE("NoGradGuard records nothing and restores the previous mode", "[autograd][grad_mode]") {
  const Tensor x = leaf({2, 3});
  REQUIRE(gg::GradMode::is_enabled());
  {
    gg::NoGradGuard no_grad;
    CHECK_FALSE(gg::GradMode::is_enabled());
    const Tensor y = gg::tanh(x * 2.0) + x;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK(y.is_leaf());
    {
      gg::NoGradGuard nested;
      CHECK_FALSE(gg::GradMode::is_enabled());
    }
    CHECK_FALSE(gg::GradMode::is_enabled());  // the nested guard restored "off", not "on"
  }
  CHECK(gg::GradMode::is_enabled());
  const Tensor z = x * 2.0;
  CHECK(z.requires_grad());
  REQUIRE(z.grad_fn() != nullptr);
  CHECK(z.grad_fn()->name() == "MulBackward");
}

TEST_CASE("NoGradGuard restores the mode when an exception leaves its scope", "[autograd][grad_mode]") {
  try {
    gg::NoGradGuard no_grad;
    (void)gg::matmul(gg::ones({2, 3}), gg::ones({2, 3}));  // cannot be multiplied
  } catch (const gg::Error&) {
  }
  CHECK(gg::GradMode::is_enabled());
}

// ---- detach ---------------------------------------------------------------------------------

TEST_CASE("detach cuts the graph but shares storage", "[autograd][grad_mode]") {
  const Tensor x = gg::from_vector(std::vector<double>{1, 2, 3}, {}, kLeaf64);
  const Tensor h = x * 2.0;
  const Tensor d = h.detach();
  CHECK(d.shares_storage_with(h));
  CHECK_FALSE(d.requires_grad());
  CHECK(d.grad_fn() == nullptr);
  CHECK(d.is_leaf());
  // Only the path through h carries a gradient: d/dx sum(h * d) with d constant = 2 d.
  gg::sum(h * d).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 8, 12});
  // Writing through the detached handle is seen by the original.
  {
    gg::NoGradGuard no_grad;
    Tensor(d).fill_(7.0);
  }
  CHECK(h.to_vector<double>() == std::vector<double>{7, 7, 7});
}

// ---- requires_grad_ -------------------------------------------------------------------------

TEST_CASE("requires_grad_ works on leaves and throws on a non-leaf or an int64 tensor", "[autograd][grad_mode]") {
  Tensor x = gg::zeros({2}, {.dtype = gg::DType::Float64});
  CHECK_FALSE(x.requires_grad());
  x.requires_grad_();
  CHECK(x.requires_grad());
  x.requires_grad_(false);
  CHECK_FALSE(x.requires_grad());

  Tensor y = leaf({2}) * 2.0;
  REQUIRE_THROWS_AS(y.requires_grad_(false), gg::Error);
  REQUIRE_THROWS_WITH(y.requires_grad_(false), Contains("leaf") && Contains("MulBackward"));

  Tensor ids = gg::arange(4);
  REQUIRE_THROWS_AS(ids.requires_grad_(), gg::Error);
  REQUIRE_THROWS_WITH(ids.requires_grad_(), Contains("int64"));
  CHECK_NOTHROW(ids.requires_grad_(false));
}

// ---- in-place writes ------------------------------------------------------------------------

TEST_CASE("in-place ops on a leaf that requires grad throw unless under NoGradGuard", "[autograd][grad_mode]") {
  Tensor w = gg::from_vector(std::vector<double>{1, 2}, {}, kLeaf64);
  const Tensor other = gg::from_vector(std::vector<double>{10, 20}, {}, {.dtype = gg::DType::Float64});
  REQUIRE_THROWS_WITH(w.add_(other), Contains("add_") && Contains("NoGradGuard"));
  REQUIRE_THROWS_WITH(w.mul_(2.0), Contains("mul_") && Contains("requires grad"));
  REQUIRE_THROWS_WITH(w.fill_(0.0), Contains("fill_"));
  REQUIRE_THROWS_WITH(w.copy_(other), Contains("copy_"));
  REQUIRE_THROWS_WITH(w.zero_(), Contains("fill_"));
  CHECK(w.to_vector<double>() == std::vector<double>{1, 2});  // nothing was written

  {
    gg::NoGradGuard no_grad;
    w.add_(other, 0.5);  // [6, 12]
    CHECK(w.to_vector<double>() == std::vector<double>{6, 12});
    w.mul_(2.0);
    CHECK(w.to_vector<double>() == std::vector<double>{12, 24});
    w.copy_(other);
    CHECK(w.to_vector<double>() == std::vector<double>{10, 20});
    w.fill_(3.0);
    CHECK(w.to_vector<double>() == std::vector<double>{3, 3});
  }
  CHECK(w.requires_grad());

  // A tensor that does not require grad can be written freely.
  Tensor c = gg::zeros({2}, {.dtype = gg::DType::Float64});
  CHECK_NOTHROW(c.add_(other));
}

TEST_CASE("an in-place write to a tensor saved by a node makes backward throw, naming the node",
          "[autograd][grad_mode]") {
  SECTION("an input saved by MulBackward") {
    Tensor x = leaf({2, 3}), w = leaf({2, 3});
    const Tensor y = x * w;
    {
      gg::NoGradGuard no_grad;
      w.add_(gg::ones({2, 3}, {.dtype = gg::DType::Float64}));
    }
    REQUIRE_THROWS_AS(gg::sum(y).backward(), gg::Error);
    const Tensor y2 = x * w;
    {
      gg::NoGradGuard no_grad;
      w.mul_(0.5);
    }
    REQUIRE_THROWS_WITH(gg::sum(y2).backward(),
                        Contains("MulBackward") && Contains("modified in place") && Contains("[2, 3]"));
  }
  SECTION("an output saved by ExpBackward, written through a view") {
    const Tensor x = leaf({4});
    const Tensor y = gg::exp(x);
    {
      gg::NoGradGuard no_grad;
      y.narrow(0, 1, 2).fill_(0.0);  // a view shares the storage and its version
    }
    REQUIRE_THROWS_WITH(gg::sum(y * 2.0).backward(), Contains("ExpBackward") && Contains("modified in place"));
  }
  SECTION("a write before the op is recorded is fine") {
    Tensor x = leaf({3}), w = leaf({3});
    {
      gg::NoGradGuard no_grad;
      w.fill_(2.0);
    }
    gg::sum(x * w).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
  }
}
