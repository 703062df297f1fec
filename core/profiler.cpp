#include "core/profiler.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace gg {
namespace {
Profiler* active_profiler = nullptr;
thread_local int depth = 0;
thread_local const char* section = "forward";
}  // namespace

Profiler::Profiler() {
  GG_CHECK(active_profiler == nullptr, "Profiler: another profiler is already recording");
  active_profiler = this;
}

Profiler::~Profiler() { active_profiler = nullptr; }

Profiler* Profiler::active() { return active_profiler; }

void Profiler::record(std::string_view op, double seconds, double flops) {
  Entry& e = entries_[{std::string(op), section}];
  ++e.calls;
  e.seconds += seconds;
  e.flops += flops;
}

double Profiler::total_seconds() const {
  double total = 0;
  for (const auto& [_, e] : entries_) total += e.seconds;
  return total;
}

std::string Profiler::table(size_t rows) const {
  std::vector<std::pair<Key, Entry>> sorted(entries_.begin(), entries_.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  if (rows > 0 && sorted.size() > rows) sorted.resize(rows);
  const double total = total_seconds();
  std::string out = fmt::format("{:<20} {:<10} {:>8} {:>11} {:>7} {:>9}\n", "op", "section", "calls", "total ms",
                                "share", "GFLOP/s");
  for (const auto& [key, e] : sorted) {
    std::string gflops = e.flops > 0 ? fmt::format("{:.1f}", e.flops / e.seconds / 1e9) : "";
    out += fmt::format("{:<20} {:<10} {:>8} {:>11.2f} {:>6.1f}% {:>9}\n", key.first, key.second, e.calls,
                       e.seconds * 1e3, total > 0 ? 100 * e.seconds / total : 0.0, gflops);
  }
  out += fmt::format("{:<20} {:<10} {:>8} {:>11.2f}\n", "total (kernels)", "", "", total * 1e3);
  return out;
}

ProfileScope::ProfileScope(std::string_view op, double flops) : op_(op), flops_(flops) {
  // Inside a parallel region (an op that runs whole pieces of itself on each thread) the op
  // around the region is timed; the threads record nothing, so they never share the table.
  timing_ = active_profiler != nullptr && depth == 0 && !omp_in_parallel();
  ++depth;
  if (timing_) start_ = std::chrono::steady_clock::now();
}

ProfileScope::~ProfileScope() {
  --depth;
  if (timing_ && active_profiler != nullptr)
    active_profiler->record(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                            flops_);
}

ProfileSection::ProfileSection(const char* s) : previous_(section) { section = s; }
ProfileSection::~ProfileSection() { section = previous_; }
const char* ProfileSection::current() { return section; }

}  // namespace gg
