// Follower: one thread that folds $all into one generation of one sink, from the sink's own
// checkpoint, and commits (delta + checkpoint, atomically) every flush interval or flush_events
// events. It first claims the generation (Sink::Claim: its random writer identity and a new
// epoch), so commits of any earlier owner are refused from then on. A sink that fails is retried
// with backoff from the same uncommitted delta; a commit whose outcome is unknown (the connection
// dropped during EXEC) is resolved by reading the state back. A refused commit is judged from the
// state read back (Judge, docs/projections.md "Exactly once"): a sink that went back in time (a
// Redis that lost writes, or came back empty) is refolded from its checkpoint, automatically;
// another owner (a second server) or a changed spec stops the follower with the error in its
// status. An idle follower checks the sink about every second, so a loss is healed without new
// events. A serving follower (Serve: its generation is the one this runtime published) also puts
// a lost or older `current` back, once it has caught up, and stops if `current` moved past it.
// Thread-safety: Status() and Serve() from any thread; Start/Stop from the owner.
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
#include "base/retry.h"
#include "projection/fold.h"
#include "projection/sink.h"
#include "storage/local_store.h"

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
  std::string writer;                     // this follower's identity in the sink
  uint64_t epoch = 0;                     // its current claim
  uint64_t rollbacks = 0;                 // times the sink was found gone back in time and refolded
  LatencyHistogram::Snapshot commit_lag;  // per event, live: commit time - recorded_ts
  // The same, exact, over the last 2^20 live events (0 when none).
  int64_t lag_p50_us = 0, lag_p99_us = 0, lag_max_us = 0;
  uint64_t lag_samples = 0;
};

// What the state a sink holds after a refused commit (or a probe) says, for the writer that owns
// the generation as `mine` (writer, epoch, and the checkpoint it last committed). `attempted`:
// the state of a commit whose outcome is unknown, if any.
enum class Verdict {
  kUnchanged,   // still this writer's last commit: try again
  kApplied,     // the attempted commit was applied
  kRolledBack,  // the sink went back in time (lost commits, or lost the state): fold again from it
  kTakenOver,   // another writer owns it, or advanced it: stop
};
Verdict Judge(const SinkState& found, const SinkState& mine, const SinkState* attempted);

class Follower {
 public:
  Follower(LocalStore* store, const ProjectionSpec& spec, Sink* sink, uint64_t generation,
           FlushPolicy flush);
  ~Follower();  // stops
  void Start();
  // Stops the thread; an uncommitted delta is dropped (the checkpoint did not move for it).
  void Stop();
  FollowerStatus Status() const;
  Position checkpoint() const { return Position(checkpoint_.load()); }
  bool failed() const { return failed_.load(); }
  uint64_t generation() const { return generation_; }
  // This follower's generation is the one readers are served (the runtime published it).
  void Serve(bool serving) { serving_ = serving; }

 private:
  struct Pass;
  enum class Step { kContinue, kStop, kRefold };  // kStop: stopping or failed
  void Run();
  bool Begin(Pass& p);                              // claims the generation; false: stop
  Step Follow(Pass& p);                             // folds and commits until a stop or a refold
  bool Scan(Pass& p, Position wm, uint64_t limit);  // false: stop
  Step CommitBatch(Pass& p);
  // About every second once caught up: an idle follower reads the state back (no commit would
  // notice a loss), and a serving one checks `current`.
  Step Probe(Pass& p);
  Result<Step> CheckCurrent(const Pass& p);
  // What to do about `found` (after a refused commit or a probe); logs and fails as needed.
  Step Resolve(const Pass& p, const SinkState& found, Verdict v);
  void Committed(Pass& p, const SinkState& after);
  bool Retry(const Error& e);               // counts, logs, backs off; false when stopping
  bool Sleep(std::chrono::milliseconds d);  // false when stopping
  bool Stopping();
  void SetState(const char* state);
  void Fail(const Error& e);

  LocalStore* const store_;
  const ProjectionSpec spec_;
  Sink* const sink_;
  const uint64_t generation_;
  const FlushPolicy flush_;
  const std::string fingerprint_;
  const std::string writer_;  // random per Follower: host/pid/random
  std::atomic<bool> serving_{false};
  std::atomic<uint64_t> epoch_{0};  // of its last claim; written by the thread only
  Backoff backoff_;                 // owned by the thread

  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;               // guarded by mu_
  std::string state_ = "starting";  // guarded by mu_
  std::string last_error_;          // guarded by mu_
  int64_t oldest_pending_ts_ = 0;   // guarded by mu_: recorded_ts of the oldest uncommitted
  std::atomic<uint64_t> checkpoint_{0}, events_{0}, skipped_{0}, commits_{0}, errors_{0};
  std::atomic<uint64_t> rollbacks_{0};
  std::atomic<bool> failed_{false};
  LatencyHistogram commit_lag_;
  static constexpr size_t kLagWindow = 1 << 20;
  std::vector<int64_t> lag_window_;  // guarded by mu_: a ring of the last kLagWindow lags (µs)
  size_t lag_next_ = 0;              // guarded by mu_
};

}  // namespace strata::projection
