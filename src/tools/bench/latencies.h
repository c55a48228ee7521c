// Latency samples and their percentiles, for benchmarks. Not thread-safe: one per thread, merged.
// Also the benchmarks' clock and the seconds since a time point.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace strata::bench {

using Clock = std::chrono::steady_clock;
inline double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

class Latencies {
 public:
  void Add(int64_t ns) { samples_.push_back(ns); }
  void Merge(const Latencies& o) {
    samples_.insert(samples_.end(), o.samples_.begin(), o.samples_.end());
  }
  size_t size() const { return samples_.size(); }
  void Clear() { samples_.clear(); }
  // q in [0, 1]; sorts on first use after an Add.
  double PercentileMs(double q) {
    if (samples_.empty()) return 0;
    std::sort(samples_.begin(), samples_.end());
    size_t i = std::min(samples_.size() - 1, static_cast<size_t>(q * samples_.size()));
    return samples_[i] / 1e6;
  }

 private:
  std::vector<int64_t> samples_;
};

}  // namespace strata::bench
