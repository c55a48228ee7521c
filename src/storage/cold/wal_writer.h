// WalWriter: the store's object-store WAL (wal_format.h, docs/wal.md). Shard writers hand it
// each group commit after writing it locally and wait; one thread gathers the groups of every
// shard for a commit interval, writes them as one WAL object (If-None-Match), and releases the
// waiters once the object exists. So an append acknowledged by the store is in the object store,
// and the PUT rate is at most one per interval whatever the load (groups grow instead).
//
// A PUT that fails is retried with back-off for as long as the store runs: the shards wait (no
// append is acknowledged, no record passes the durable watermark) and resume when the object
// store answers again. Once the store is closing, a PUT still failing after the close grace fails
// its waiters, and every later Write, with kUnavailable (the outcome of those appends is unknown).
//
// Garbage collection (its own thread): an object whose every group is archived (at or below its
// shard's last archived position, `archived_upto`) is deleted, at start and every gc_every.
//
// Thread-safety: Write from any thread (each shard's writer); the rest from the store.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/histogram.h"
#include "objstore/object_store.h"
#include "storage/cold/wal_format.h"

namespace strata::cold {

struct WalWriterOptions {
  // How long the writer gathers groups before a PUT (from the start of the previous one): the
  // PUT rate is at most 1/interval; an append waits about interval/2 plus one PUT.
  std::chrono::milliseconds interval{10};
  std::chrono::milliseconds retry_min{50}, retry_max{2000};
  std::chrono::milliseconds gc_every{5000};
  // Once the store is closing, how long a failing PUT is retried before its waiters fail.
  std::chrono::milliseconds close_grace{10'000};
};

struct WalStats {
  uint64_t epoch = 0;
  uint64_t objects = 0, bytes = 0, groups = 0, events = 0;  // written by this run
  uint64_t put_failures = 0;                                // failed attempts (each retried)
  uint64_t deleted = 0;                                     // objects removed by garbage collection
  uint64_t live_objects = 0;  // objects not yet collected (this run's and earlier ones')
  LatencyHistogram::Snapshot put_latency;
};

class WalWriter {
 public:
  // What earlier runs left in `store` (read from the objects' tables): the objects and, per
  // shard, the last position any of them holds. The new run's epoch is above theirs.
  static Result<std::unique_ptr<WalWriter>> Open(objstore::ObjectStore* store,
                                                 const WalWriterOptions& options, Clock* clock);
  ~WalWriter();  // Stop()
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // The last position of `shard` in any WAL object (0: none).
  uint64_t LastLogged(uint32_t shard) const;

  // `next_position` (the first position not handed out yet, for the objects' headers) and
  // `archived_upto` (a shard's last archived position, for garbage collection) are called from
  // the writer's thread.
  void Start(std::function<uint64_t()> next_position,
             std::function<uint64_t(uint32_t shard)> archived_upto);
  // Blocks until the group is in a WAL object, or fails (see above). `records` (the group's
  // encoded records: `events` of them at increasing positions from first to last) must stay
  // valid until it returns.
  Status Write(uint32_t shard, uint64_t first, uint64_t last, uint32_t events,
               std::string_view records);
  // The store is closing: a PUT still failing after close_grace gives up (Writes still queue).
  void BeginClose();
  // BeginClose, writes what is pending, then stops the thread; Writes after it fail.
  void Stop();

  WalStats Stats() const;

 private:
  struct Pending {
    WalGroup group;
    uint64_t ticket;
  };
  struct Written {  // an object not yet garbage collected
    std::string key;
    std::vector<std::pair<uint32_t, uint64_t>> shard_last;  // (shard, last position)
  };

  WalWriter(objstore::ObjectStore* store, const WalWriterOptions& options, Clock* clock)
      : store_(store), options_(options), clock_(clock) {}
  Status LoadExisting();
  void Loop();
  // One object: PUT with retries. False when it failed for good (closing).
  bool PutBatch(const std::vector<Pending>& batch);
  Status PutOnce(const std::string& key, const std::string& bytes);
  void GcLoop();  // its own thread: deletes never hold back a PUT
  void CollectGarbage();

  objstore::ObjectStore* const store_;
  const WalWriterOptions options_;
  Clock* const clock_;
  std::function<uint64_t()> next_position_;
  std::function<uint64_t(uint32_t)> archived_upto_;
  std::map<uint32_t, uint64_t> last_logged_;  // set by Open and the writer thread, under mu_

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the thread waits for groups
  std::condition_variable done_cv_;  // writers wait for their object
  std::condition_variable gc_cv_;    // the garbage collector waits for its next pass
  std::vector<Pending> pending_;     // GUARDED_BY(mu_)
  uint64_t next_ticket_ = 1;         // GUARDED_BY(mu_)
  uint64_t done_ticket_ = 0;         // GUARDED_BY(mu_): every ticket up to this is written
  std::optional<Error> failed_;      // GUARDED_BY(mu_): set for good
  bool closing_ = false;             // GUARDED_BY(mu_)
  bool stopping_ = false;            // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point close_started_;  // GUARDED_BY(mu_)

  // Writer thread only.
  uint64_t epoch_ = 0, seq_ = 0;
  std::chrono::steady_clock::time_point last_put_;
  // Objects not yet collected, oldest first (earlier runs', then this run's): the writer thread
  // adds, the garbage collector removes.
  std::mutex gc_mu_;
  std::deque<Written> written_;  // GUARDED_BY(gc_mu_)

  std::atomic<uint64_t> objects_{0}, bytes_{0}, groups_{0}, events_{0}, put_failures_{0},
      deleted_{0}, live_{0};
  LatencyHistogram put_latency_;
  std::thread thread_, gc_thread_;
};

}  // namespace strata::cold
