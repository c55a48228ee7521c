// ProjectionRuntime: the projections of one `strata serve` (or of one CLI command). Each
// projection folds into the in-memory sink (the model Strata serves) and, when its spec names
// one, a Redis sink, each through its own Follower, so a Redis outage pauses only the Redis side.
// A supervisor thread starts followers whose sink was unreachable, drives replays (build the next
// generation while the current one serves, then publish it in one step) and drops superseded
// generations after a grace period. The follower of the published generation is told it serves
// (Follower::Serve): it puts back a `current` that a sink lost. Thread-safety: every method from
// any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "projection/follower.h"
#include "projection/sink.h"
#include "projection/spec.h"
#include "projection/verify.h"
#include "storage/local_store.h"

namespace strata::projection {

struct RuntimeOptions {
  // Keep the in-memory model (what the server serves). Off for one-shot tools (local replay).
  bool memory_sink = true;
  // The in-memory model commits small batches often: readers see events within milliseconds.
  FlushPolicy memory_flush{std::chrono::milliseconds(10), 65536};
  // A replaced generation stays readable this long after the switch (readers that looked up
  // the current generation just before it), then is deleted.
  std::chrono::milliseconds drop_grace{10'000};
  std::chrono::milliseconds redis_timeout{5000};
};

struct SinkInfo {
  std::string role;  // "live": serves readers; "rebuild": the next generation of a replay
  FollowerStatus follower;
};

struct ReplayInfo {
  std::string state;  // "", "building", "switching", "done", "failed"
  std::string sink;
  uint64_t from_generation = 0, to_generation = 0;
  int64_t started_us = 0, finished_us = 0;
  std::string error;
};

struct ProjectionInfo {
  ProjectionSpec spec;
  bool running = false;
  std::string error;  // why a sink has no follower yet (unreachable), if so
  std::vector<SinkInfo> sinks;
  std::vector<ReplayInfo> replays;  // the last replay of each sink
};

class ProjectionRuntime {
 public:
  // Validates the specs (unique names, sink URLs) and starts the enabled projections.
  static Result<std::unique_ptr<ProjectionRuntime>> Start(LocalStore* store,
                                                          std::vector<ProjectionSpec> specs,
                                                          RuntimeOptions options = {});
  ~ProjectionRuntime();  // stops every follower

  std::vector<std::string> Names() const;
  Result<ProjectionInfo> Info(const std::string& name);
  // Starts the followers of every sink; a follower that failed (a conflict) starts again, and
  // its claim takes the generation over.
  Status StartProjection(const std::string& name);
  Status StopProjection(const std::string& name);
  // Empties the model of every sink and folds again from the start; readers see it rebuild.
  Status Reset(const std::string& name);
  // Rebuilds `sink` ("memory", "redis", or "" for all) into a new generation while the current
  // one keeps serving, then switches readers to it. Returns at once; Info() shows progress.
  Status Replay(const std::string& name, const std::string& sink);
  // Reads the in-memory model (the current generation).
  Result<ReadResult> Get(const std::string& name, const ReadRequest& request);
  // Compares a sink ("redis" by default when there is one, else "memory") with a recount.
  Result<VerifyReport> Verify(const std::string& name, const std::string& sink,
                              const VerifyOptions& options);
  // Prometheus text lines (strata_projection_*).
  std::string Metrics();

 private:
  struct Entry;
  struct Slot;
  ProjectionRuntime(LocalStore* store, RuntimeOptions options);
  Entry* Find(const std::string& name);  // caller holds mu_
  Status EnsureLive(Entry& e, Slot& s);  // caller holds mu_
  void Supervise();
  void Tick();
  void DropDue(std::chrono::steady_clock::time_point now);

  LocalStore* const store_;
  const RuntimeOptions options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread supervisor_;
};

}  // namespace strata::projection
