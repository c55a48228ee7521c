// LatencyHistogram: a fixed-bucket, lock-free histogram of durations for metrics (Prometheus
// style: cumulative buckets, a sum and a count). Record() is a few relaxed atomic adds, cheap
// enough for every append. Thread-safety: Record and Snapshot from any thread; a snapshot taken
// while others record is a consistent-enough view for metrics (counts may lead the sum).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace strata {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds; a last, implicit bucket is +Inf.
  static constexpr std::array<uint64_t, 15> kBoundsUs = {50,     100,    250,    500,     1000,
                                                         2500,   5000,   10000,  20000,   50000,
                                                         100000, 250000, 500000, 1000000, 2500000};
  static constexpr size_t kBuckets = kBoundsUs.size() + 1;

  struct Snapshot {
    std::array<uint64_t, kBuckets> counts{};  // per bucket, not cumulative
    uint64_t count = 0;
    uint64_t sum_us = 0;

    // The upper bound (µs) of the bucket holding quantile q (0..1); UINT64_MAX when that is the
    // +Inf bucket, 0 when empty. Coarse by design: the bucket, not an interpolation.
    uint64_t QuantileBoundUs(double q) const {
      if (count == 0) return 0;
      const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count - 1)) + 1;
      uint64_t seen = 0;
      for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts[i];
        if (seen >= rank) return i < kBoundsUs.size() ? kBoundsUs[i] : UINT64_MAX;
      }
      return UINT64_MAX;
    }
  };

  void Record(std::chrono::nanoseconds d) {
    const uint64_t us = static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()) / 1000;
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(us, std::memory_order_relaxed);
  }

  Snapshot Read() const {
    Snapshot s;
    for (size_t i = 0; i < kBuckets; ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

}  // namespace strata
