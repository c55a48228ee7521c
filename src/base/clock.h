// The clock seam. Everything that stamps or compares wall-clock time (recorded_ts, $maxAge,
// the idempotency window) asks a Clock, so tests can move time. Thread-safety: implementations
// must be safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace strata {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch.
  virtual int64_t NowMicros() const = 0;
  // The process-wide real clock.
  static Clock* Real();
};

// A manually advanced clock for tests; store threads read it while the test advances it.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_micros) : now_(now_micros) {}
  int64_t NowMicros() const override { return now_.load(std::memory_order_relaxed); }
  void Advance(std::chrono::microseconds d) {
    now_.fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> now_;
};

// Monotonic nanoseconds, for latency measurement only.
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace strata
