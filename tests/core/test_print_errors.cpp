// Printing (operator<<, fmt, PyTorch-like layout, summarization) and error messages that
// name the op and every shape involved.
#include <catch2/catch.hpp>

#include <limits>
#include <sstream>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Tensor;
using Catch::Contains;

namespace {

std::string streamed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("Shape prints as a bracketed list", "[core][print]") {
  CHECK(fmt::format("{}", Shape{2, 3}) == "[2, 3]");
  CHECK(fmt::format("{}", Shape{}) == "[]");
  CHECK(fmt::format("{}", Shape{7}) == "[7]");
  CHECK(fmt::format("{:>8}", Shape{2, 3}) == "  [2, 3]");
  CHECK(Shape{4, -1}.str() == "[4, -1]");
  std::ostringstream os;
  os << Shape{1, 2, 3};
  CHECK(os.str() == "[1, 2, 3]");
}

TEST_CASE("tensors print like PyTorch", "[core][print]") {
  auto m = gg::tensor({0.1, -2, 3.5, 4}).reshape({2, 2});
  const std::string want = "tensor([[ 0.1000, -2.0000],\n"
                           "        [ 3.5000,  4.0000]], shape=[2, 2])";
  CHECK(m.str() == want);
  CHECK(streamed(m) == want);
  CHECK(fmt::format("{}", m) == want);
  CHECK(gg::tensor({1, 2.5}).str() == "tensor([1.0000, 2.5000])");
  CHECK(gg::tensor({1, -1}).str() == "tensor([ 1.0000, -1.0000])");
  CHECK(gg::scalar_tensor(3.5).str() == "tensor(3.5000)");
  CHECK(gg::arange(3).str() == "tensor([0, 1, 2], dtype=int64)");
  CHECK(gg::tensor({1, 0}).to(DType::Bool).str() == "tensor([ true, false], dtype=bool)");
  CHECK(gg::tensor({0.5}, {.dtype = DType::Float64}).str() == "tensor([0.5000], dtype=float64)");
  CHECK(gg::tensor({1e-5, 123456}).str() == "tensor([1.0000e-05, 1.2346e+05])");
  CHECK(gg::arange(4).reshape({2, 1, 2}).str() ==
        "tensor([[[0, 1]],\n"
        "\n"
        "        [[2, 3]]], dtype=int64, shape=[2, 1, 2])");
  // A view prints its logical contents, not its storage order.
  CHECK(gg::arange(4).reshape({2, 2}).t().str() ==
        "tensor([[0, 2],\n"
        "        [1, 3]], dtype=int64, shape=[2, 2])");
  CHECK(gg::zeros({0}).str() == "tensor([])");
  CHECK(gg::zeros({2, 0}).str() == "tensor([], shape=[2, 0])");
  CHECK(Tensor().str() == "tensor(undefined)");
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(gg::tensor({-inf, 1}).str() == "tensor([  -inf, 1.0000])");
}

TEST_CASE("int64 tensors print every digit, up to the extremes", "[core][print]") {
  // Printing once went through double: 2^53 + 1 lost its last digit and 2^63 - 1 became 2^63,
  // which has no int64 (found by tests/fuzz/fuzz_safetensors).
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  CHECK(gg::from_vector<int64_t>({big, small, (int64_t{1} << 53) + 1}).str() ==
        "tensor([ 9223372036854775807, -9223372036854775808,     9007199254740993], dtype=int64)");
}

TEST_CASE("large tensors are summarized with ...", "[core][print]") {
  auto v = gg::arange(2000);
  CHECK(v.str() == "tensor([   0,    1,    2, ..., 1997, 1998, 1999], dtype=int64, shape=[2000])");
  auto m = gg::arange(300 * 200).reshape({300, 200});
  const std::string s = fmt::format("{}", m);
  CHECK(s.size() < 1000);  // not 60000 numbers
  CHECK(count(s, "...") == 7);  // one per shown row, and one for the hidden rows
  CHECK(count(s, "\n") == 6);   // rows 0, 1, 2, "...", 297, 298, 299
  CHECK(s.find("[    0,     1,     2, ...,   197,   198,   199]") != std::string::npos);
  CHECK(s.find("[59800, 59801, 59802, ..., 59997, 59998, 59999]]") != std::string::npos);
  CHECK(s.find("shape=[300, 200]") != std::string::npos);
  // 1000 elements is still printed in full.
  auto full = gg::arange(1000).str();
  CHECK(full.find("...") == std::string::npos);
  CHECK(full.find(" 999]") != std::string::npos);
}

TEST_CASE("errors are gg::Error (an std::invalid_argument), never an abort", "[core][errors]") {
  REQUIRE_THROWS_AS(gg::add(gg::ones({2, 3}), gg::ones({4, 3})), gg::Error);
  REQUIRE_THROWS_AS(gg::add(gg::ones({2, 3}), gg::ones({4, 3})), std::invalid_argument);
  REQUIRE_THROWS_AS(gg::add(Tensor(), gg::ones({2})), gg::Error);
  REQUIRE_THROWS_AS(gg::exp(Tensor()), gg::Error);
  REQUIRE_THROWS_AS(gg::sum(Tensor()), gg::Error);
  REQUIRE_THROWS_AS(Tensor().to_vector<float>(), gg::Error);
  REQUIRE_THROWS_AS(gg::zeros({2, -1}), gg::Error);
}

TEST_CASE("shape errors name the op and both shapes", "[core][errors]") {
  REQUIRE_THROWS_WITH(gg::matmul(gg::ones({2, 3}), gg::ones({4, 5})),
                      Contains("matmul") && Contains("[2, 3]") && Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(gg::add(gg::ones({2, 3}), gg::ones({4, 3})),
                      Contains("add") && Contains("[2, 3]") && Contains("[4, 3]") && Contains("hint:"));
  REQUIRE_THROWS_WITH(gg::sub(gg::ones({2, 1, 3}), gg::ones({4, 2})),
                      Contains("sub") && Contains("[2, 1, 3]") && Contains("[4, 2]"));
  REQUIRE_THROWS_WITH(gg::mul(gg::ones({5}), gg::ones({3, 4})), Contains("mul") && Contains("[5]") && Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(gg::div(gg::ones({2, 2}), gg::ones({3})), Contains("div") && Contains("[2, 2]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(gg::maximum(gg::ones({2}), gg::ones({3})), Contains("maximum"));
  REQUIRE_THROWS_WITH(gg::eq(gg::ones({2}), gg::ones({3})), Contains("eq") && Contains("[2]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(gg::ones({2, 3}).reshape({4, 2}),
                      Contains("reshape") && Contains("[4, 2]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(gg::ones({2, 3}).reshape({4, -1}), Contains("reshape") && Contains("[4, -1]"));
  REQUIRE_THROWS_WITH(gg::ones({2, 3}).view({7}), Contains("view") && Contains("[7]") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(gg::ones({2, 3}).expand({3, 3}), Contains("expand") && Contains("[2, 3]") && Contains("[3, 3]"));
}

TEST_CASE("dtype errors name both dtypes, and a float mask is told to be bool", "[core][errors]") {
  auto f = gg::ones({2, 3});
  auto d = gg::ones({2, 3}, {.dtype = DType::Float64});
  REQUIRE_THROWS_WITH(gg::add(f, d), Contains("add") && Contains("float32") && Contains("float64") && Contains("hint:"));
  REQUIRE_THROWS_WITH(gg::matmul(f, d.t()), Contains("matmul") && Contains("float32") && Contains("float64"));
  REQUIRE_THROWS_WITH(gg::where(gg::gt(f, 0.0), f, d), Contains("where") && Contains("float32") && Contains("float64"));
  REQUIRE_THROWS_WITH(gg::masked_fill(f, gg::ones({2, 3}), 0),
                      Contains("masked_fill") && Contains("bool") && Contains("float32") && Contains("hint:"));
  REQUIRE_THROWS_WITH(gg::masked_fill(f, gg::ones({3}, {.dtype = DType::Int64}), 0),
                      Contains("masked_fill") && Contains("bool") && Contains("int64"));
  REQUIRE_THROWS_WITH(gg::log(gg::arange(3)), Contains("log") && Contains("int64"));
  REQUIRE_THROWS_WITH(gg::mean(gg::arange(3)), Contains("mean") && Contains("int64"));
  REQUIRE_THROWS_WITH(gg::add(gg::ones({2}, {.dtype = DType::Bool}), gg::ones({2}, {.dtype = DType::Bool})),
                      Contains("add") && Contains("bool"));
}

TEST_CASE("index and dim errors name the index and the size", "[core][errors]") {
  auto x = gg::ones({4, 3});
  auto ids = gg::from_vector(std::vector<int64_t>{1, 7});
  REQUIRE_THROWS_WITH(gg::index_select(x, 0, ids),
                      Contains("index_select") && Contains("index 7") && Contains("size 4") && Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(x.select(0, 4), Contains("select") && Contains("index 4") && Contains("size 4"));
  REQUIRE_THROWS_WITH(x.narrow(1, 2, 2), Contains("narrow") && Contains("size 3"));
  REQUIRE_THROWS_WITH(gg::wrap_dim(2, 2, "myop"), Contains("myop") && Contains("dim 2") && Contains("2 dims") &&
                                                      Contains("-2..1"));
  REQUIRE_THROWS_WITH(gg::sum(x, {5}), Contains("sum") && Contains("dim 5"));
  REQUIRE_THROWS_WITH(gg::softmax(x, -3), Contains("softmax") && Contains("dim -3"));
  REQUIRE_THROWS_WITH(x.transpose(0, 2), Contains("transpose") && Contains("dim 2"));
  REQUIRE_THROWS_WITH(gg::cat({x, x}, 2), Contains("cat") && Contains("dim 2"));
  REQUIRE_THROWS_WITH(x.size(2), Contains("size") && Contains("dim 2"));
}

TEST_CASE("in-place writes on a tensor that requires grad are refused while grad mode is on", "[core][errors]") {
  auto w = gg::ones({2}, {.requires_grad = true});
  REQUIRE_THROWS_WITH(w.fill_(0), Contains("fill_") && Contains("requires grad") && Contains("NoGradGuard"));
  REQUIRE_THROWS_WITH(w.mul_(2), Contains("mul_"));
  {
    gg::NoGradGuard no_grad;
    w.mul_(3);
  }
  CHECK(w.to_vector<float>() == std::vector<float>{3, 3});
}
