// Creation functions, dtypes, item/to_vector, seeded random tensors, casts and in-place writes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "core_testing.h"
#include "glassgrad.h"

using gg::DType;
using gg::Shape;
using gg::testing::check_values;
using gg::testing::values;

TEST_CASE("zeros, ones and full fill every element in each dtype", "[core][creation]") {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::Bool}) {
    INFO(gg::dtype_name(dt));
    auto z = gg::zeros({2, 3}, {.dtype = dt});
    auto o = gg::ones({3, 1, 2}, {.dtype = dt});
    CHECK(z.dtype() == dt);
    CHECK(o.dtype() == dt);
    CHECK(z.is_contiguous());
    CHECK(z.strides() == gg::Strides{3, 1});
    CHECK(o.strides() == gg::Strides{2, 2, 1});
    check_values(z, {2, 3}, std::vector<double>(6, 0.0), "zeros");
    check_values(o, {3, 1, 2}, std::vector<double>(6, 1.0), "ones");
  }
  check_values(gg::full({2, 2}, -2.5), {2, 2}, {-2.5, -2.5, -2.5, -2.5}, "full float32");
  check_values(gg::full({3}, 7.9, {.dtype = DType::Int64}), {3}, {7, 7, 7}, "full int64 truncates");
  check_values(gg::full({2}, 0.5, {.dtype = DType::Bool}), {2}, {1, 1}, "full bool: nonzero is true");
  auto s = gg::scalar_tensor(4.25, {.dtype = DType::Float64});
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.25);
  auto empty = gg::zeros({0, 3});
  CHECK(empty.numel() == 0);
  CHECK(empty.to_vector<float>().empty());
}

TEST_CASE("sizes past 64 bits and allocations the machine cannot make are clear errors", "[core][creation]") {
  // Once a wrapped count: 2^62 x 4 elements wrapped to 0, and a 2^62-element float32 tensor to
  // 0 bytes, which later writes ran past (a segmentation fault, a corrupted heap).
  CHECK_THROWS_WITH(gg::Shape({int64_t{1} << 62, 4}).numel(),
                    Catch::Contains("[4611686018427387904, 4]") && Catch::Contains("64-bit count"));
  CHECK_THROWS_WITH(gg::Tensor::empty({int64_t{1} << 62}),
                    Catch::Contains("float32") && Catch::Contains("[4611686018427387904]") &&
                        Catch::Contains("64-bit count"));
  CHECK(gg::Shape({int64_t{1} << 31, int64_t{1} << 31}).numel() == int64_t{1} << 62);  // the largest still counts
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer reports a failed allocation and exits instead of throwing
  // 2^46 float32s: 256 TiB, more than a 47-bit address space maps whatever the overcommit
  // policy: the error says what and how much.
  CHECK_THROWS_WITH(gg::Tensor::empty({int64_t{1} << 23, int64_t{1} << 23}),
                    Catch::Contains("out of memory") && Catch::Contains("[8388608, 8388608]") &&
                        Catch::Contains("262144.0 GiB"));
#endif
}

TEST_CASE("dtype sizes, names and element storage", "[core][creation]") {
  CHECK(gg::dtype_size(DType::Float32) == 4);
  CHECK(gg::dtype_size(DType::Float64) == 8);
  CHECK(gg::dtype_size(DType::Int64) == 8);
  CHECK(gg::dtype_size(DType::Bool) == 1);
  CHECK(gg::dtype_name(DType::Bool) == "bool");
  CHECK(gg::is_floating(DType::Float64));
  CHECK_FALSE(gg::is_floating(DType::Int64));
  auto t = gg::zeros({4, 5}, {.dtype = DType::Float64});
  CHECK(t.storage()->nbytes() == 4 * 5 * 8);
  CHECK(gg::zeros({4, 5}, {.dtype = DType::Bool}).storage()->nbytes() == 20);
  // data<T>() must match the dtype.
  REQUIRE_THROWS_AS(t.data<float>(), gg::Error);
  REQUIRE_THROWS_WITH(t.data<float>(), Catch::Contains("float64") && Catch::Contains("float32"));
}

TEST_CASE("arange counts like Python's range", "[core][creation]") {
  auto a = gg::arange(5);
  CHECK(a.dtype() == DType::Int64);
  CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(gg::arange(2, 11, 3).to_vector<int64_t>() == std::vector<int64_t>{2, 5, 8});
  CHECK(gg::arange(5, 0, -2).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  CHECK(gg::arange(3, 3).numel() == 0);
  CHECK(gg::arange(5, 1).numel() == 0);
  check_values(gg::arange(0, 1, 0.25, {.dtype = DType::Float64}), {4}, {0, 0.25, 0.5, 0.75}, "float arange");
  REQUIRE_THROWS_AS(gg::arange(0, 1, 0), gg::Error);
}

TEST_CASE("from_vector and tensor copy values into a row-major layout", "[core][creation]") {
  auto t = gg::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.dtype() == DType::Float32);
  CHECK(gg::testing::at(t, {0, 2}) == 3);
  CHECK(gg::testing::at(t, {1, 0}) == 4);
  auto i = gg::from_vector(std::vector<int64_t>{7, -8});
  CHECK(i.dtype() == DType::Int64);
  CHECK(i.shape() == Shape{2});
  auto d = gg::from_vector(std::vector<double>{0.1, 0.2}, {2, 1});
  CHECK(d.dtype() == DType::Float64);
  CHECK(gg::testing::at(d, {1, 0}) == 0.2);
  // Explicit options convert on the way in.
  auto conv = gg::from_vector(std::vector<double>{1.9, -1.9, 0}, {}, {.dtype = DType::Int64});
  CHECK(conv.to_vector<int64_t>() == std::vector<int64_t>{1, -1, 0});
  auto b = gg::from_vector(std::vector<int>{0, 3, 0}, {}, {.dtype = DType::Bool});
  CHECK(b.to_vector<bool>() == std::vector<bool>{false, true, false});
  auto l = gg::tensor({1.5, -2, 3});
  CHECK(l.dtype() == DType::Float32);
  CHECK(l.shape() == Shape{3});
  CHECK(l.to_vector<double>() == std::vector<double>{1.5, -2, 3});
  CHECK(gg::tensor({1, 2}, {.dtype = DType::Float64}).dtype() == DType::Float64);
  REQUIRE_THROWS_WITH(gg::from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                      Catch::Contains("from_vector") && Catch::Contains("[2, 2]"));
}

TEST_CASE("item and to_vector convert to the requested type", "[core][creation]") {
  auto t = gg::from_vector(std::vector<double>{2.75, -1.5, 0}, {3}, {.dtype = DType::Float64});
  CHECK(t.to_vector<float>() == std::vector<float>{2.75f, -1.5f, 0.0f});
  CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{2, -1, 0});
  CHECK(t.to_vector<int>() == std::vector<int>{2, -1, 0});
  CHECK(t.to_vector<bool>() == std::vector<bool>{true, true, false});
  auto one = gg::full({1, 1, 1}, 3.5);
  CHECK(one.item() == 3.5);
  CHECK(one.item<float>() == 3.5f);
  CHECK(one.item<int64_t>() == 3);
  CHECK(gg::full({}, 1, {.dtype = DType::Bool}).item<bool>());
  // to_vector of a non-contiguous view gives its logical (row-major) order.
  auto m = gg::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK(m.t().to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
  REQUIRE_THROWS_WITH(t.item(), Catch::Contains("item") && Catch::Contains("[3]"));
  REQUIRE_THROWS_AS(gg::Tensor().item(), gg::Error);
}

TEST_CASE("manual_seed makes randn, uniform and randint reproducible", "[core][creation][random]") {
  gg::manual_seed(123);
  auto a = gg::randn({50});
  auto u = gg::uniform({40}, -2, 3, {.dtype = DType::Float64});
  auto r = gg::randint(-3, 4, {60});
  gg::manual_seed(123);
  auto a2 = gg::randn({50});
  auto u2 = gg::uniform({40}, -2, 3, {.dtype = DType::Float64});
  auto r2 = gg::randint(-3, 4, {60});
  CHECK(a.to_vector<float>() == a2.to_vector<float>());
  CHECK(u.to_vector<double>() == u2.to_vector<double>());
  CHECK(r.to_vector<int64_t>() == r2.to_vector<int64_t>());
  // A different seed gives different numbers, and the generator advances between calls.
  gg::manual_seed(124);
  CHECK(gg::randn({50}).to_vector<float>() != a.to_vector<float>());
  CHECK(gg::randn({50}).to_vector<float>() != gg::randn({50}).to_vector<float>());
  // Seeding resets the Box-Muller spare: an odd count followed by a reseed repeats exactly.
  gg::manual_seed(7);
  auto odd = gg::randn({3}, {.dtype = DType::Float64});
  gg::manual_seed(7);
  CHECK(gg::randn({3}, {.dtype = DType::Float64}).to_vector<double>() == odd.to_vector<double>());
  for (double v : u.to_vector<double>()) {
    CHECK(v >= -2);
    CHECK(v < 3);
  }
  std::vector<int> seen(7, 0);
  for (int64_t v : r.to_vector<int64_t>()) {
    REQUIRE(v >= -3);
    REQUIRE(v < 4);
    ++seen[v + 3];
  }
  for (int c : seen) CHECK(c > 0);  // 60 draws from 7 values: each appears (p of a miss ~ 7e-4)
}

TEST_CASE("randn and uniform have the right moments", "[core][creation][random]") {
  gg::manual_seed(0);
  const int n = 20000;
  auto x = gg::randn({n}, {.dtype = DType::Float64}).to_vector<double>();
  double m = 0, v = 0;
  for (double e : x) m += e;
  m /= n;
  for (double e : x) v += (e - m) * (e - m);
  v /= n;
  CHECK(std::fabs(m) < 0.03);  // 4 standard errors
  CHECK(std::fabs(v - 1) < 0.04);
  auto u = gg::uniform({n}, 2, 4, {.dtype = DType::Float64}).to_vector<double>();
  double mu = 0;
  for (double e : u) mu += e;
  CHECK(std::fabs(mu / n - 3) < 0.02);
  REQUIRE_THROWS_WITH(gg::randn({2}, {.dtype = DType::Int64}), Catch::Contains("randn") && Catch::Contains("int64"));
  REQUIRE_THROWS_AS(gg::uniform({2}, 1, 0), gg::Error);
  REQUIRE_THROWS_WITH(gg::randint(3, 3, {2}), Catch::Contains("randint"));
}

TEST_CASE("the like functions copy shape and dtype, not values", "[core][creation]") {
  auto base = gg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2}, {.dtype = DType::Float64});
  auto t = base.t();  // non-contiguous: the result is still a fresh contiguous tensor
  for (const auto& like : {gg::zeros_like(t), gg::ones_like(t), gg::full_like(t, 9), gg::empty_like(t)}) {
    CHECK(like.shape() == Shape{2, 3});
    CHECK(like.dtype() == DType::Float64);
    CHECK(like.is_contiguous());
    CHECK_FALSE(like.shares_storage_with(base));
  }
  check_values(gg::zeros_like(t), {2, 3}, std::vector<double>(6, 0), "zeros_like");
  check_values(gg::ones_like(t), {2, 3}, std::vector<double>(6, 1), "ones_like");
  check_values(gg::full_like(t, 9), {2, 3}, std::vector<double>(6, 9), "full_like");
  gg::manual_seed(5);
  auto r = gg::randn_like(t);
  gg::manual_seed(5);
  CHECK(r.dtype() == DType::Float64);
  CHECK(r.to_vector<double>() == gg::randn({2, 3}, {.dtype = DType::Float64}).to_vector<double>());
  CHECK(gg::zeros_like(gg::arange(4)).dtype() == DType::Int64);
}

TEST_CASE("to() converts between every pair of dtypes", "[core][cast]") {
  const std::vector<double> src = {-2.5, -1, 0, 0.75, 3};
  // Expected values per target dtype: ints truncate toward zero, bool is "nonzero".
  auto expected = [&](DType from, DType to) {
    std::vector<double> out;
    for (double v : src) {
      double x = v;
      if (from == DType::Int64) x = std::trunc(x);
      if (from == DType::Bool) x = x != 0;
      if (to == DType::Int64) x = std::trunc(x);
      if (to == DType::Bool) x = x != 0;
      out.push_back(x);
    }
    return out;
  };
  for (DType from : {DType::Float32, DType::Float64, DType::Int64, DType::Bool}) {
    auto x = gg::from_vector(src, {5}, {.dtype = DType::Float64}).to(from);
    for (DType to : {DType::Float32, DType::Float64, DType::Int64, DType::Bool}) {
      auto y = x.to(to);
      CHECK(y.dtype() == to);
      check_values(y, {5}, expected(from, to),
                   fmt::format("cast {} -> {}", gg::dtype_name(from), gg::dtype_name(to)));
    }
  }
  // A same-dtype to() is a no-op; a real cast of a view copies and reads through the strides.
  auto m = gg::testing::iota({2, 3});
  CHECK(m.to(DType::Float64).shares_storage_with(m));
  auto c = m.t().to(DType::Int64);
  CHECK_FALSE(c.shares_storage_with(m));
  CHECK(c.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
  CHECK(gg::full({1}, 1e-3).to(DType::Float64).item() == Approx(1e-3).epsilon(1e-7));
}

TEST_CASE("fill_ and zero_ write every element of a view, and only those", "[core][inplace]") {
  auto base = gg::zeros({3, 4});
  auto col = base.narrow(1, 1, 2);  // [3, 2], strides [4, 1]
  col.fill_(5);
  check_values(base, {3, 4}, {0, 5, 5, 0, 0, 5, 5, 0, 0, 5, 5, 0}, "fill_ of a narrowed view");
  base.t().select(0, 3).fill_(-1);  // the last column, stride 4
  check_values(base, {3, 4}, {0, 5, 5, -1, 0, 5, 5, -1, 0, 5, 5, -1}, "fill_ of a strided column");
  col.zero_();
  check_values(base, {3, 4}, {0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, -1}, "zero_");
  auto i = gg::zeros({2}, {.dtype = DType::Int64});
  i.fill_(3.7);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{3, 3});
  // Each in-place write bumps the storage version (autograd relies on it).
  auto v0 = base.storage()->version();
  col.fill_(1);
  CHECK(base.storage()->version() == v0 + 1);
}

TEST_CASE("copy_ broadcasts the source and converts its dtype", "[core][inplace]") {
  auto dst = gg::zeros({2, 3}, {.dtype = DType::Float64});
  dst.copy_(gg::from_vector(std::vector<int64_t>{1, -2, 3}));  // [3] -> [2, 3], int64 -> float64
  check_values(dst, {2, 3}, {1, -2, 3, 1, -2, 3}, "copy_ broadcast row");
  dst.copy_(gg::from_vector(std::vector<float>{0.5f, 1.5f}, {2, 1}));
  check_values(dst, {2, 3}, {0.5, 0.5, 0.5, 1.5, 1.5, 1.5}, "copy_ broadcast column");
  // Into a transposed destination from a transposed source.
  auto src = gg::testing::iota({3, 2}, DType::Float32);
  auto d2 = gg::zeros({2, 3});
  d2.t().copy_(src);
  check_values(d2, {2, 3}, {0, 2, 4, 1, 3, 5}, "copy_ into a transposed view");
  // The same dtype row into every row of a contiguous [2, 2, 3] (a memcpy per row), into a
  // transposed view (the strided loop), and a strided row.
  auto d3 = gg::zeros({2, 2, 3});
  d3.copy_(gg::from_vector(std::vector<float>{7, 8, 9}));
  check_values(d3, {2, 2, 3}, {7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9}, "copy_ of a row into a contiguous tensor");
  auto d4 = gg::zeros({2, 3});
  d4.t().copy_(gg::from_vector(std::vector<float>{1, 2}));
  check_values(d4, {2, 3}, {1, 1, 1, 2, 2, 2}, "copy_ of a row into a transposed view");
  d4.copy_(gg::testing::iota({3, 2}, DType::Float32).select(1, 0));  // [0, 2, 4], stride 2
  check_values(d4, {2, 3}, {0, 2, 4, 0, 2, 4}, "copy_ of a strided row");
  auto b = gg::zeros({3}, {.dtype = DType::Bool});
  b.copy_(gg::tensor({0, -0.5, 2}));
  CHECK(b.to_vector<bool>() == std::vector<bool>{false, true, true});
  REQUIRE_THROWS_WITH(dst.copy_(gg::zeros({3, 3})),
                      Catch::Contains("copy_") && Catch::Contains("[3, 3]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("add_ and mul_ update in place", "[core][inplace]") {
  auto y = gg::testing::iota({2, 3});  // 0..5
  auto storage = y.storage();
  y.add_(gg::from_vector(std::vector<double>{1, 10, 100}), 2.0);
  check_values(y, {2, 3}, {2, 21, 202, 5, 24, 205}, "add_ with alpha");
  y.mul_(-0.5);
  check_values(y, {2, 3}, {-1, -10.5, -101, -2.5, -12, -102.5}, "mul_");
  CHECK(y.storage() == storage);
  // add_ through a transposed view writes the right places.
  auto z = gg::zeros({2, 3}, {.dtype = DType::Float64});
  z.t().add_(gg::testing::iota({3, 2}));
  check_values(z, {2, 3}, {0, 2, 4, 1, 3, 5}, "add_ into a transposed view");
  auto n = gg::from_vector(std::vector<int64_t>{1, 2});
  n.add_(gg::from_vector(std::vector<int64_t>{5, 5}), 3);
  n.mul_(2);
  CHECK(n.to_vector<int64_t>() == std::vector<int64_t>{32, 34});
  REQUIRE_THROWS_WITH(y.add_(gg::zeros({2, 3})), Catch::Contains("add_") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(gg::zeros({3}, {.dtype = DType::Float64}).add_(gg::zeros({2, 3}, {.dtype = DType::Float64})),
                      Catch::Contains("add_") && Catch::Contains("[2, 3]") && Catch::Contains("[3]"));
}

TEST_CASE("Shape helpers: numel, strides, broadcasting, wrap_dim", "[core][shape]") {
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{2, 0, 3}.numel() == 0);
  CHECK(Shape{2, 3, 4}.numel() == 24);
  CHECK(gg::contiguous_strides({2, 3, 4}) == gg::Strides{12, 4, 1});
  CHECK(gg::contiguous_strides({}).empty());
  CHECK(gg::broadcast_shapes({2, 1, 3}, {4, 1}, "t") == Shape{2, 4, 3});
  CHECK(gg::broadcast_shapes({}, {5}, "t") == Shape{5});
  CHECK(gg::broadcast_shapes({0, 1}, {1, 7}, "t") == Shape{0, 7});
  CHECK(gg::broadcast_strides({3, 1}, {1, 1}, {2, 3, 4}) == gg::Strides{0, 1, 0});
  CHECK(gg::wrap_dim(-1, 3, "t") == 2);
  CHECK(gg::wrap_dim(-3, 3, "t") == 0);
  CHECK(gg::wrap_dim(0, 0, "t") == 0);
  CHECK(gg::wrap_dim(-1, 0, "t") == 0);
  CHECK_THROWS_AS(gg::wrap_dim(3, 3, "t"), gg::Error);
  CHECK_THROWS_AS(gg::wrap_dim(-4, 3, "t"), gg::Error);
  CHECK_THROWS_AS(gg::wrap_dim(1, 0, "t"), gg::Error);
  auto t = gg::zeros({2, 3, 4});
  CHECK(t.size(-1) == 4);
  CHECK(t.stride(0) == 12);
  CHECK_THROWS_AS(t.size(3), gg::Error);
}

TEST_CASE("size and stride of a 0-d tensor are errors, not out-of-bounds reads", "[core][shape]") {
  auto s = gg::scalar_tensor(1);
  REQUIRE_THROWS_WITH(s.size(0), Catch::Contains("size") && Catch::Contains("0-d"));
  REQUIRE_THROWS_WITH(s.stride(-1), Catch::Contains("stride") && Catch::Contains("0-d"));
}

TEST_CASE("the caching allocator reuses freed large blocks and gives them back on request", "[storage]") {
  const size_t old_limit = gg::cache_limit();
  gg::set_cache_limit(size_t{64} << 20);
  gg::empty_cache();
  const void* first = nullptr;
  {
    gg::Tensor big = gg::Tensor::empty({100000});  // 400,000 bytes: cached when freed
    first = big.data<float>();
  }
  CHECK(gg::memory_stats().cached_bytes >= 400000);
  {
    gg::Tensor again = gg::Tensor::empty({99000});  // same size class (393,216 .. 458,752 bytes)
    CHECK(again.data<float>() == first);
    CHECK(gg::memory_stats().cached_bytes == 0);
  }
  gg::Tensor small = gg::Tensor::empty({100});  // small blocks go straight back to malloc
  small = gg::Tensor();
  CHECK(gg::memory_stats().cached_bytes >= 400000);
  gg::empty_cache();
  CHECK(gg::memory_stats().cached_bytes == 0);
  gg::set_cache_limit(0);  // off: nothing is kept
  { gg::Tensor big = gg::Tensor::empty({100000}); }
  CHECK(gg::memory_stats().cached_bytes == 0);
  gg::set_cache_limit(old_limit);
}

#ifdef __linux__
namespace {
// The VmFlags of the mapping that holds address p in /proc/self/smaps ("hg": MADV_HUGEPAGE
// was advised), or "" when no mapping holds it.
std::string vm_flags_at(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find('-') < line.find(' ')) {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}
}  // namespace
#endif

TEST_CASE("blocks of 2 MiB or more start on a 2 MiB boundary and ask for huge pages", "[storage]") {
  constexpr size_t huge = gg::Storage::kHugePageBytes;
  gg::Tensor big = gg::Tensor::empty({static_cast<int64_t>(huge / 4) + 1000});  // just over 2 MiB
  gg::Tensor medium = gg::Tensor::empty({100000});                             // 400 KB: cache-line aligned only
  CHECK(reinterpret_cast<uintptr_t>(big.data<float>()) % huge == 0);
  CHECK(reinterpret_cast<uintptr_t>(medium.data<float>()) % 64 == 0);
  for (int i = 0; i < 3; ++i) {  // blocks taken back from the cache keep their alignment
    big = gg::Tensor();
    big = gg::Tensor::empty({static_cast<int64_t>(huge / 4) + 1000});
    CHECK(reinterpret_cast<uintptr_t>(big.data<float>()) % huge == 0);
  }
#ifdef __linux__
  // A kernel built with transparent huge pages has this directory; there the advice is taken.
  if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
    const std::string flags = vm_flags_at(big.data<float>());
    INFO(flags);
    CHECK(flags.find(" hg") != std::string::npos);
  }
#endif
}
