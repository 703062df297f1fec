#pragma once
// An op profiler a student can read. While a gg::Profiler is alive, every kernel call is
// timed, per op name and per section ("forward" by default; the autograd engine marks
// "backward", optimizers "optimizer"), with FLOPs where they are known:
//
//   gg::Profiler profiler;
//   train_one_step();
//   fmt::print("{}", profiler.table());
//
//   op                 section     calls   total ms   share   GFLOP/s
//   matmul             backward      480     412.31   38.2%     61.4
//   matmul             forward       240     201.77   18.7%     62.8
//   ...
//
// Only the outermost kernel of a nested call is timed (var() counts as var, not as the
// sum and sub inside it). With no profiler alive the cost is one branch per kernel.
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace gg {

class Profiler {
 public:
  struct Entry {
    int64_t calls = 0;
    double seconds = 0;
    double flops = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (op, section)

  Profiler();   // starts recording; one profiler at a time
  ~Profiler();  // stops
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  const std::map<Key, Entry>& entries() const { return entries_; }
  double total_seconds() const;
  // Sorted by total time, largest first; `rows` limits the length (0 = all).
  std::string table(size_t rows = 0) const;

  static Profiler* active();
  void record(std::string_view op, double seconds, double flops);

 private:
  std::map<Key, Entry> entries_;
};

// Times its own lifetime as one call of `op` (if a profiler is alive and no enclosing
// scope is already timing).
class ProfileScope {
 public:
  explicit ProfileScope(std::string_view op, double flops = 0);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  std::string_view op_;
  double flops_;
  bool timing_ = false;
  std::chrono::steady_clock::time_point start_;
};

// Labels the kernels called during its lifetime with `section` ("backward", "optimizer").
class ProfileSection {
 public:
  explicit ProfileSection(const char* section);
  ~ProfileSection();
  ProfileSection(const ProfileSection&) = delete;
  ProfileSection& operator=(const ProfileSection&) = delete;
  static const char* current();

 private:
  const char* previous_;
};

}  // namespace gg

#define GG_PROFILE_CONCAT2(a, b) a##b
#define GG_PROFILE_CONCAT(a, b) GG_PROFILE_CONCAT2(a, b)
// GG_PROFILE("matmul", 2.0 * M * N * K): times the rest of the enclosing block.
#define GG_PROFILE(...) ::gg::ProfileScope GG_PROFILE_CONCAT(gg_profile_scope_, __LINE__)(__VA_ARGS__)
