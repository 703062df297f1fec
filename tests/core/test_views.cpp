// Views share storage and never copy; reshape/flatten/contiguous copy only when the layout
// forces it; clone always copies; writes through a view are seen by the base.
#include <catch2/catch.hpp>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::Strides;
using gg::testing::at;
using gg::testing::check_values;
using gg::testing::iota;

TEST_CASE("reshape of a contiguous tensor is a view", "[core][views]") {
  auto x = iota({2, 3, 4});
  auto y = x.reshape({4, -1});
  CHECK(y.shape() == Shape{4, 6});
  CHECK(y.strides() == Strides{6, 1});
  CHECK(y.shares_storage_with(x));
  CHECK(y.offset() == 0);
  CHECK(at(y, {2, 5}) == 17);
  auto v = x.view({24});
  CHECK(v.shares_storage_with(x));
  auto s = x.reshape({2, 1, 3, 1, 4});
  CHECK(s.shares_storage_with(x));
  CHECK(at(s, {1, 0, 2, 0, 3}) == 23);
  // A write through the view is seen by the base.
  y.select(0, 3).fill_(-1);  // flat 18..23
  CHECK(at(x, {1, 1, 2}) == -1);
  CHECK(at(x, {1, 1, 1}) == 17);
}

TEST_CASE("reshape of a non-contiguous tensor views when strides allow, copies otherwise", "[core][views]") {
  auto base = iota({4, 6});
  auto cols = base.narrow(1, 1, 4);  // [4, 4], strides [6, 1], offset 1: not contiguous
  REQUIRE_FALSE(cols.is_contiguous());
  auto split = cols.reshape({4, 2, 2});  // splitting the inner dim keeps a view
  CHECK(split.shares_storage_with(base));
  CHECK(split.strides() == Strides{6, 2, 1});
  CHECK(split.offset() == 1);
  CHECK(at(split, {2, 1, 0}) == 2 * 6 + 1 + 2);
  auto merged = cols.reshape({16});  // rows are not adjacent in memory: a copy
  CHECK_FALSE(merged.shares_storage_with(base));
  CHECK(merged.is_contiguous());
  std::vector<double> want;
  for (int r = 0; r < 4; ++r)
    for (int c = 1; c < 5; ++c) want.push_back(r * 6 + c);
  check_values(merged, {16}, want, "reshape copy of narrowed");

  auto t = iota({2, 3, 4}).transpose(0, 1);  // [3, 2, 4], strides [4, 12, 1]
  auto u = t.reshape({3, 2, 1, 4});          // inserting a size-1 dim is always a view
  CHECK(u.shares_storage_with(t));
  CHECK(at(u, {2, 1, 0, 3}) == at(t, {2, 1, 3}));
  auto f = t.reshape({6, 4});  // dims 0 and 1 are not mergeable: a copy
  CHECK_FALSE(f.shares_storage_with(t));
  CHECK(at(f, {1, 0}) == at(t, {0, 1, 0}));
  CHECK(at(f, {5, 2}) == at(t, {2, 1, 2}));
  // A write into the copy does not reach the source.
  f.fill_(100);
  CHECK(at(t, {0, 0, 0}) == 0);

  // Permuting back to the identity is contiguous again; a permuted layout can still split dims.
  auto q = iota({2, 3, 4}).permute({0, 2, 1}).permute({0, 2, 1});
  CHECK(q.is_contiguous());
  CHECK(q.reshape({24}).shares_storage_with(q));
  CHECK_FALSE(gg::kernel::can_view(t, {24}));
  CHECK(gg::kernel::can_view(t, {3, 2, 2, 2}));
  CHECK(gg::kernel::can_view(t, {3, 1, 2, 4, 1}));
  CHECK_FALSE(gg::kernel::can_view(t, {3, 4, 2}));
}

TEST_CASE("view refuses a layout that needs a copy", "[core][views]") {
  auto x = iota({2, 3});
  REQUIRE_THROWS_AS(x.t().view({6}), gg::Error);
  REQUIRE_THROWS_WITH(x.t().view({6}), Catch::Contains("view") && Catch::Contains("[3, 2]") &&
                                           Catch::Contains("[6]") && Catch::Contains("hint"));
  REQUIRE_THROWS_WITH(x.view({4, -1}), Catch::Contains("view") && Catch::Contains("[4, -1]"));
  REQUIRE_THROWS_WITH(x.view({-1, -1}), Catch::Contains("only one dimension can be -1"));
  // An expanded tensor cannot be flattened without a copy either.
  auto e = gg::tensor({1, 2, 3}).expand({4, 3});
  REQUIRE_THROWS_AS(e.view({12}), gg::Error);
  auto r = e.reshape({12});
  CHECK_FALSE(r.shares_storage_with(e));
  check_values(r, {12}, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, "reshape of expanded");
}

TEST_CASE("transpose, permute and t swap strides without copying", "[core][views]") {
  auto x = iota({2, 3, 4});
  auto t = x.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Strides{1, 4, 12});
  CHECK(t.shares_storage_with(x));
  CHECK_FALSE(t.is_contiguous());
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) REQUIRE(at(t, {k, j, i}) == at(x, {i, j, k}));
  auto p = x.permute({2, 0, -2});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Strides{1, 12, 4});
  CHECK(at(p, {3, 1, 2}) == at(x, {1, 2, 3}));
  CHECK(x.transpose(-1, -2).shape() == Shape{2, 4, 3});
  auto m = iota({2, 5});
  CHECK(m.t().shape() == Shape{5, 2});
  CHECK(m.t().t().is_contiguous());
  REQUIRE_THROWS_WITH(x.t(), Catch::Contains("t:") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(x.permute({0, 0, 1}), Catch::Contains("permute") && Catch::Contains("repeats"));
  REQUIRE_THROWS_AS(x.permute({0, 1}), gg::Error);
  // Writing through a transpose.
  m.t().select(0, 4).fill_(-7);  // column 4
  CHECK(at(m, {0, 4}) == -7);
  CHECK(at(m, {1, 4}) == -7);
  CHECK(at(m, {1, 3}) == 8);
}

TEST_CASE("narrow and select move the offset, negative indices count from the end", "[core][views]") {
  auto x = iota({3, 4, 5});
  auto n = x.narrow(1, 1, 2);
  CHECK(n.shape() == Shape{3, 2, 5});
  CHECK(n.strides() == x.strides());
  CHECK(n.offset() == 5);
  CHECK(n.shares_storage_with(x));
  CHECK(at(n, {2, 1, 4}) == at(x, {2, 2, 4}));
  auto neg = x.narrow(-1, -3, 3);  // the last three entries of the last dim
  CHECK(neg.shape() == Shape{3, 4, 3});
  CHECK(at(neg, {0, 0, 0}) == 2);
  auto s = x.select(0, -1);
  CHECK(s.shape() == Shape{4, 5});
  CHECK(s.offset() == 40);
  CHECK(at(s, {3, 4}) == 59);
  auto s1 = x.select(2, 3);
  CHECK(s1.shape() == Shape{3, 4});
  CHECK(s1.strides() == Strides{20, 5});
  CHECK(at(s1, {1, 2}) == 1 * 20 + 2 * 5 + 3);
  // Views of views accumulate offsets.
  auto vv = x.narrow(0, 1, 2).narrow(2, 2, 3).select(1, -2);  // [2, 3]
  CHECK(vv.shape() == Shape{2, 3});
  check_values(vv, {2, 3}, {32, 33, 34, 52, 53, 54}, "narrow.narrow.select");
  auto empty = x.narrow(1, 4, 0);
  CHECK(empty.numel() == 0);
  REQUIRE_THROWS_WITH(x.narrow(1, 3, 2), Catch::Contains("narrow") && Catch::Contains("[3, 4, 5]"));
  REQUIRE_THROWS_WITH(x.select(1, 4), Catch::Contains("select") && Catch::Contains("index 4"));
  REQUIRE_THROWS_AS(x.select(1, -5), gg::Error);
}

TEST_CASE("narrow of a 0-d tensor is an error", "[core][views]") {
  REQUIRE_THROWS_WITH(gg::scalar_tensor(2).narrow(0, 0, 1), Catch::Contains("narrow") && Catch::Contains("0-d"));
}

TEST_CASE("squeeze and unsqueeze add and drop size-1 dims", "[core][views]") {
  auto x = iota({2, 3});
  auto u0 = x.unsqueeze(0);
  CHECK(u0.shape() == Shape{1, 2, 3});
  CHECK(u0.shares_storage_with(x));
  CHECK(u0.is_contiguous());
  auto u1 = x.unsqueeze(-1);
  CHECK(u1.shape() == Shape{2, 3, 1});
  CHECK(u1.is_contiguous());
  auto um = x.unsqueeze(1);
  CHECK(um.shape() == Shape{2, 1, 3});
  // The new dim's stride is the one PyTorch gives it: size * stride of the dim it displaces.
  CHECK(u0.strides() == Strides{6, 3, 1});
  CHECK(um.strides() == Strides{3, 3, 1});
  CHECK(u1.strides() == Strides{3, 1, 1});
  CHECK(at(um, {1, 0, 2}) == 5);
  CHECK(um.squeeze(1).shape() == Shape{2, 3});
  CHECK(u1.squeeze(-1).strides() == Strides{3, 1});
  // unsqueeze of a transposed view keeps it readable.
  auto tu = x.t().unsqueeze(1);
  CHECK(tu.shape() == Shape{3, 1, 2});
  CHECK(at(tu, {2, 0, 1}) == at(x, {1, 2}));
  auto s = gg::scalar_tensor(3);
  CHECK(s.unsqueeze(0).shape() == Shape{1});
  CHECK(s.squeeze(0).dim() == 0);
  REQUIRE_THROWS_WITH(x.squeeze(0), Catch::Contains("squeeze") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_AS(x.unsqueeze(3), gg::Error);
}

TEST_CASE("expand gives stride 0 on broadcast dims", "[core][views]") {
  auto col = gg::from_vector(std::vector<double>{1, 2, 3}, {3, 1});
  auto e = col.expand({2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  CHECK(e.shares_storage_with(col));
  CHECK_FALSE(e.is_contiguous());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) REQUIRE(at(e, {b, i, j}) == i + 1);
  auto keep = col.expand({-1, 5});
  CHECK(keep.shape() == Shape{3, 5});
  auto c = e.contiguous();
  CHECK_FALSE(c.shares_storage_with(col));
  CHECK(c.is_contiguous());
  CHECK(at(c, {1, 2, 3}) == 3);
  REQUIRE_THROWS_WITH(col.expand({3, 2}) /* ok */.expand({4, 2}),
                      Catch::Contains("expand") && Catch::Contains("[3, 2]") && Catch::Contains("[4, 2]"));
  REQUIRE_THROWS_AS(col.expand({1}), gg::Error);
  // -1 keeps an existing size; a new leading dim has no size to keep.
  REQUIRE_THROWS_WITH(col.expand({-1, 3, 1}), Catch::Contains("expand") && Catch::Contains("-1"));
}

TEST_CASE("flatten, contiguous and clone copy exactly when they must", "[core][views]") {
  auto x = iota({2, 3, 4});
  auto f = x.flatten();
  CHECK(f.shape() == Shape{24});
  CHECK(f.shares_storage_with(x));
  auto tf = x.transpose(1, 2).flatten();
  CHECK_FALSE(tf.shares_storage_with(x));
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j) want.push_back(i * 12 + j * 4 + k);
  check_values(tf, {24}, want, "flatten of transposed");
  CHECK(gg::scalar_tensor(5).flatten().shape() == Shape{1});

  auto same = x.contiguous();
  CHECK(same.shares_storage_with(x));
  CHECK(same.offset() == x.offset());
  auto narrowed_rows = x.narrow(0, 1, 1);  // still contiguous, with an offset
  CHECK(narrowed_rows.is_contiguous());
  CHECK(narrowed_rows.contiguous().shares_storage_with(x));
  auto t = x.transpose(0, 2);
  auto tc = t.contiguous();
  CHECK_FALSE(tc.shares_storage_with(x));
  CHECK(tc.is_contiguous());
  CHECK(tc.strides() == Strides{6, 2, 1});
  check_values(tc, {4, 3, 2}, gg::testing::values(t), "contiguous of transposed");

  auto cl = x.clone();
  CHECK_FALSE(cl.shares_storage_with(x));
  check_values(cl, {2, 3, 4}, gg::testing::values(x), "clone");
  cl.fill_(0);
  CHECK(at(x, {1, 2, 3}) == 23);
  // A size-1 dim's stride never matters for contiguity.
  CHECK(gg::kernel::as_strided(x, {3, 1}, {1, 99}, 0).is_contiguous());
  CHECK(gg::kernel::as_strided(x, {1, 3}, {99, 1}, 0).is_contiguous());
  CHECK_FALSE(gg::kernel::as_strided(x, {3, 1}, {2, 1}, 0).is_contiguous());
}

TEST_CASE("writes through chains of views reach the base", "[core][views]") {
  auto base = gg::zeros({4, 6}, {.dtype = DType::Int64});
  auto v = base.view({2, 2, 6}).select(1, 1).narrow(1, 2, 3).t();  // rows 1 and 3, cols 2..4, transposed
  CHECK(v.shape() == Shape{3, 2});
  v.copy_(gg::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {3, 2}));
  std::vector<double> want(24, 0);
  want[1 * 6 + 2] = 1;
  want[3 * 6 + 2] = 2;
  want[1 * 6 + 3] = 3;
  want[3 * 6 + 3] = 4;
  want[1 * 6 + 4] = 5;
  want[3 * 6 + 4] = 6;
  check_values(base, {4, 6}, want, "copy_ through view chain");
  base.expand({2, 4, 6}).select(0, 1).select(0, 0).fill_(9);  // row 0 via an expanded view
  CHECK(at(base, {0, 5}) == 9);
  CHECK(at(base, {1, 5}) == 0);
}
