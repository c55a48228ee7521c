// The projections' benchmark (bench/README.md, bench/projection.sh): on the real paths (a
// projection::Follower folding LocalStore::ScanAll into a sink, and projection::Verify), against
// an in-process store, with a leaderboard projection (the sum of a JSON field per user-<k>):
//   kMemory  replay rate into the in-memory model, against a bare ScanAll of the same store
//   kRedis   replay rate into Redis, with the spec's flush settings (per-flush aggregation)
//   kVerify  verify time for a model of `verify_keys` keys in Redis, full and sampled
// Each over `rounds` rounds, reported as medians. Lag under load needs a server and an ingest
// client: bench/projection.sh measures it. `strata bench projection`
// (src/cli/cmd_bench_projection.cc) declares the flags and prints the figures.
//
// The run works in <data>/bench-projection-<ns>; its Redis keys are under bench:<pid>:<round>
// and bench:<pid>:verify, dropped at the end of each round.
//
// Thread-safety: RunProjectionBench runs on the caller's thread and calls back on it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "app/store_config.h"
#include "tools/bench/bench.h"

namespace strata::bench {

struct ProjectionBenchConfig {
  uint64_t events = 2'000'000;       // to replay
  uint64_t keys = 100'000;           // streams user-<k> they spread over
  uint64_t verify_keys = 1'000'000;  // keys of the model verify compares (0: no kVerify)
  uint32_t rounds = 3;
  std::string redis;  // redis://host:port; empty: memory only (no kRedis, no kVerify)
  uint32_t flush_events = 10000;
  uint32_t flush_ms = 500;
  bool keep = false;  // keep the run's directory
};

enum class ProjectionPhase { kMemory, kRedis, kVerify };

// The medians, filled in phase by phase.
struct ProjectionBenchReport {
  double scan_events_s = 0, replay_memory_events_s = 0;  // kMemory
  double replay_redis_events_s = 0;                      // kRedis
  double verify_full_s = 0, verify_sample_10000_s = 0;   // kVerify
  bool redis = false, verified = false;                  // whether kRedis, kVerify ran
};

// One round of a phase.
struct ProjectionRound {
  uint32_t round = 0;                             // from 1
  double scan_events_s = 0, memory_events_s = 0;  // kMemory
  double redis_events_s = 0;                      // kRedis
  uint64_t verify_keys = 0;                       // kVerify: keys in the store's model
  double verify_full_s = 0, verify_sample_s = 0;  // kVerify (a sample of 10,000)
};

struct ProjectionBenchCallbacks {
  std::function<void()> started;  // the settings are valid; nothing has run yet
  std::function<void(uint64_t events, uint64_t keys, double seconds)> filled;
  std::function<void(ProjectionPhase, const ProjectionRound&)> round;
  std::function<void(ProjectionPhase, const ProjectionBenchReport&)> phase_done;
};

// Runs the phases above; on success the run's directory is removed unless config.keep.
Result<ProjectionBenchReport> RunProjectionBench(const app::StoreConfig& store_config,
                                                 const ProjectionBenchConfig& config,
                                                 const ProjectionBenchCallbacks& callbacks,
                                                 const StoreOpener& open = {});

}  // namespace strata::bench
