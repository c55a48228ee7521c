// The end-to-end benchmarks of the store (bench/README.md): ingest (many producers, exact
// expected revisions and fresh event ids on every append, closed or open loop), read ($all
// scans and stream reads from the warm tier) and tail (append acknowledgement to a live $all
// subscriber). Each returns its figures; `strata bench ingest|read|tail` (src/cli/cmd_bench.cc)
// declares the flags and prints them. The cold tier's and the projections' benchmarks are in
// cold_bench.h and projection_bench.h.
//
//   auto store = bench::BenchStore::Open(store_config, "ingest", config.keep);
//   bench::IngestReport r = bench::RunIngest(*store, config, on_progress);
//   store->Close();   // and removes the run's directory unless config.keep
//
// Thread-safety: a benchmark runs its own threads and returns when they have stopped; progress
// callbacks run on one of those threads, one call at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "app/store_config.h"
#include "base/error.h"
#include "storage/local_store.h"

namespace strata::bench {

// How a benchmark opens the fresh local stores it makes: LocalStore::Open when empty. A caller
// that treats a store that does not open apart from a benchmark that fails wraps it.
using StoreOpener = std::function<Result<std::unique_ptr<LocalStore>>(const StoreOptions&)>;
// LocalStore::Open, setting *failed when a store does not open (the CLI exits 1 for that, as
// every command does, and with the error's own code when a benchmark fails).
StoreOpener OpenNotingFailure(bool* failed);

// Resident set size of this process and its peak, in bytes (/proc/self/status).
struct Rss {
  uint64_t current = 0, peak = 0;
};
Rss ReadRss();

// <data_dir>/bench-<what>-<ns since the epoch>: the directory of one run (RunDirName), and the
// same created (MakeRunDir).
std::string RunDirName(const std::string& data_dir, const char* what);
std::string MakeRunDir(const std::string& data_dir, const char* what);

// The store a benchmark runs on: the server of config.server (its own data, left as it is), or
// a fresh store in a new directory under config.data_dir, with no cold tier unless config.cold
// names one (then its archivers run during the benchmark: their cost on the append path).
class BenchStore {
 public:
  static Result<BenchStore> Open(const app::StoreConfig& config, const char* what, bool keep);
  BenchStore(BenchStore&&) = default;
  BenchStore& operator=(BenchStore&&) = default;
  ~BenchStore() = default;  // the store closes; the directory stays

  Store& store() { return handle_.store(); }
  StoreOperations& operations() { return handle_.operations(); }
  bool remote() const { return remote_; }
  // Closes the store, then removes the run's directory unless `keep`.
  void Close();

 private:
  BenchStore() = default;
  app::StoreHandle handle_;
  std::string dir_;  // empty for a server
  bool keep_ = false, remote_ = false;
};

// What the ingest, read and tail benchmarks do (the flags of `strata bench ingest|read|tail`).
struct BenchConfig {
  uint32_t producers = 4;
  uint32_t inflight = 512;  // appends in flight per producer
  uint32_t streams = 10000;
  uint32_t event_size = 200;
  uint32_t events_per_append = 1;
  double duration = 10;   // measured seconds
  double warmup = 2;      // unmeasured seconds first
  double rate = 0;        // events/s target, 0 = as fast as possible
  double burst_rate = 0;  // after burst_after seconds, switch to this rate (0: no burst)
  double burst_after = 0;
  uint64_t events = 2'000'000;  // read bench: events to load
  bool keep = false;            // keep the run's data directory
  // Stream names are "<prefix>-N"; against a server each run gets its own prefix, so a rerun
  // does not start on streams an earlier run left at other revisions.
  std::string prefix = "bench";
};

// Once a second during an ingest run.
struct IngestProgress {
  double seconds = 0;  // since the start, warm-up included
  double events_per_sec = 0;
  uint64_t queued = 0;  // appends in the shards' queues
  uint64_t rss_bytes = 0;
  bool warmup = false;
};

struct IngestReport {
  double events_per_sec = 0;
  uint64_t events = 0, errors = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;           // ms, call -> ack
  double sched_p50 = 0, sched_p99 = 0, sched_p999 = 0;  // ms, intended -> ack (open loop)
  uint64_t appends_per_group = 0;                       // per group commit
  Rss rss;                                              // right after the run
  uint64_t write_stall_ms = 0;
  // With the object-store WAL: WAL objects (PUTs) per second over the whole run and their mean
  // size; 0 without one.
  double wal_puts_per_sec = 0;
  uint64_t wal_bytes_per_put = 0;
};

// config.producers producers, each owning the streams i ≡ id (mod producers) and keeping
// config.inflight appends outstanding, for config.warmup + config.duration seconds; only the
// appends issued after the warm-up are measured.
IngestReport RunIngest(BenchStore& store, const BenchConfig& config,
                       const std::function<void(const IngestProgress&)>& progress);

// One round of the read benchmark's $all scans.
struct ReadRound {
  int round = 0;  // from 1
  double scanall_events_per_sec = 0, readall_events_per_sec = 0;
  uint64_t events = 0;
};

struct ReadCallbacks {
  std::function<void()> loading;                                // the store is open
  std::function<void(uint64_t events, double per_sec)> loaded;  // every 500,000 events
  std::function<void(const ReadRound&)> round;                  // after each of 3 rounds
};

struct ReadReport {  // $all scan rates: medians of 3 rounds
  double readall_events_per_sec = 0, scanall_events_per_sec = 0;
  double stream_reads_per_sec = 0, stream_read_events_per_sec = 0;
};

// Loads config.events events into a fresh store under store_config.data_dir (async durability),
// reopens it (an empty ring: every read comes from the warm tier), then times $all scans
// (ScanAll without copying, ReadAll in pages of 4096) and 3 s of whole-stream reads. Local
// only: kInvalidArgument with store_config.server.
Result<ReadReport> RunRead(const app::StoreConfig& store_config, const BenchConfig& config,
                           const ReadCallbacks& callbacks, const StoreOpener& open = {});

struct TailReport {  // ack -> subscriber delivery, ms
  double p50 = 0, p99 = 0, p999 = 0;
  uint64_t events = 0;      // delivered and acknowledged
  uint64_t before_ack = 0;  // delivered before the appender saw its ack
  uint64_t missing = 0;     // never delivered (or never acknowledged)
};

// Appends config.rate (20,000 when 0) one-event appends a second for config.duration seconds
// with a live $all subscriber, and times each event from its acknowledgement to its delivery.
// `subscribed` is called once the subscriber is live, with the events and rate to come.
Result<TailReport> RunTail(BenchStore& store, const BenchConfig& config,
                           const std::function<void(uint64_t events, double rate)>& subscribed);

}  // namespace strata::bench
