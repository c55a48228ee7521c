// Deadlines and exponential backoff: the one retry mechanism of Strata. Every loop that retries
// (the archivers, the S3 client, the projection followers) takes its pauses from a Backoff.
//
//   Backoff backoff({.min = 100ms, .max = 5s, .jitter = true});
//   while (!TryOnce()) { if (!SleepOrStop(backoff.Next())) return; }
//   backoff.Reset();   // after a success
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace strata {

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline NoDeadline() { return Deadline::max(); }
inline Deadline DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}
inline bool Expired(Deadline d) { return std::chrono::steady_clock::now() >= d; }

struct BackoffPolicy {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{5000};
  // Pauses are drawn from [pause/2, pause] so that many retriers do not wake together.
  bool jitter = false;
};

// Pauses that double from policy.min up to policy.max. Not thread-safe: one per retry loop.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}) : policy_(policy), next_(policy.min) {}

  // The pause before the next attempt; the one after it is twice as long (up to max).
  std::chrono::milliseconds Next() {
    std::chrono::milliseconds pause = next_;
    if (policy_.jitter && pause.count() > 1) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;  // PCG step
      const int64_t half = pause.count() / 2;
      pause = std::chrono::milliseconds(
          half + static_cast<int64_t>((state_ >> 33) % static_cast<uint64_t>(half + 1)));
    }
    next_ = std::min(next_ * 2, policy_.max);
    ++attempts_;
    return pause;
  }
  // The pause Next() would start from (before jitter), for log lines.
  std::chrono::milliseconds upcoming() const { return next_; }
  // Attempts that failed since the last Reset().
  uint32_t failures() const { return attempts_; }
  // After a success: the next failure waits policy.min again.
  void Reset() {
    next_ = policy_.min;
    attempts_ = 0;
  }

 private:
  BackoffPolicy policy_;
  std::chrono::milliseconds next_;
  uint32_t attempts_ = 0;
  // Jitter seed: the address and the clock, so that loops on other threads, in other processes,
  // or one after another on the same stack draw different pauses.
  uint64_t state_ =
      (reinterpret_cast<uintptr_t>(this) ^
       static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) |
      1;
};

}  // namespace strata
