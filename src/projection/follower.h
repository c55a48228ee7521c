// Follower: one thread that folds $all into one generation of one sink, from the sink's own
// checkpoint, and commits (delta + checkpoint, atomically) every flush interval or flush_events
// events. A sink that fails is retried with backoff from the same uncommitted delta; a commit
// whose outcome is unknown (the connection dropped during EXEC) is resolved by reading the
// checkpoint back. A conflict (another writer) or a changed spec stops the follower with the
// error in its status. Thread-safety: Status() from any thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "projection/fold.h"
#include "projection/sink.h"
#include "storage/store.h"

namespace strata::projection {

struct FlushPolicy {
  std::chrono::milliseconds interval{500};
  uint32_t events = 10000;
};

struct FollowerStatus {
  std::string sink;  // Sink::Describe()
  uint64_t generation = 0;
  std::string state;  // "starting", "catching-up", "live", "retrying", "stopped", "failed"
  Position checkpoint;
  uint64_t events = 0;               // applied
  uint64_t skipped = 0;              // matching events without the key or value field (since start)
  uint64_t lag_positions = 0;        // watermark - 1 - checkpoint
  double lag_seconds = 0;            // age of the oldest event not yet committed (0 when caught up)
  uint64_t commits = 0, errors = 0;  // since start
  std::string last_error;
  LatencyHistogram::Snapshot commit_lag;  // per event, live: commit time - recorded_ts
  // The same, exact, over the last 2^20 live events (0 when none).
  int64_t lag_p50_us = 0, lag_p99_us = 0, lag_max_us = 0;
  uint64_t lag_samples = 0;
};

class Follower {
 public:
  Follower(Store* store, const ProjectionSpec& spec, Sink* sink, uint64_t generation,
           FlushPolicy flush);
  ~Follower();  // stops
  void Start();
  // Stops the thread; an uncommitted delta is dropped (the checkpoint did not move for it).
  void Stop();
  FollowerStatus Status() const;
  Position checkpoint() const { return Position(checkpoint_.load()); }
  bool failed() const { return failed_.load(); }
  uint64_t generation() const { return generation_; }

 private:
  void Run();
  bool Sleep(std::chrono::milliseconds d);  // false when stopping
  void SetState(const char* state);
  void Fail(const Error& e);

  Store* const store_;
  const ProjectionSpec spec_;
  Sink* const sink_;
  const uint64_t generation_;
  const FlushPolicy flush_;

  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;               // guarded by mu_
  std::string state_ = "starting";  // guarded by mu_
  std::string last_error_;          // guarded by mu_
  int64_t oldest_pending_ts_ = 0;   // guarded by mu_: recorded_ts of the oldest uncommitted
  std::atomic<uint64_t> checkpoint_{0}, events_{0}, skipped_{0}, commits_{0}, errors_{0};
  std::atomic<bool> failed_{false};
  LatencyHistogram commit_lag_;
  static constexpr size_t kLagWindow = 1 << 20;
  std::vector<int64_t> lag_window_;  // guarded by mu_: a ring of the last kLagWindow lags (µs)
  size_t lag_next_ = 0;              // guarded by mu_
};

}  // namespace strata::projection
