// ShardIndexer: a shard's indexer thread and run merger, around the work queue from its writer.
//
// The writer hands it each group's encoded records (Hand) after the group is durable and
// visible. The indexer thread derives the stream index, dedupe index, heads and time index from
// them, off the append path (on recovery, from the log after its checkpoint: Recover). It
// collects entries in memory and flushes them as sorted index runs (index_runs.h,
// docs/index-runs.md) every index_flush_events events or index_flush_interval, persisting heads,
// the run manifest and its checkpoint in one synced RocksDB batch; only then does
// indexed_upto() advance. Until an event is in a flushed run, readers and the writer find it in
// the writer's in-memory tails (ShardWriter), which the writer trims up to indexed_upto(). The
// merger thread merges runs in the background.
//
// Back-pressure: before each group the writer calls WaitForSpace, which returns once the queue
// holds less than max_unindexed_bytes and the writer's tails less than max_unindexed_events
// (or writes are refused, or the shard stops).
//
// Talking back: the indexer changes nothing in the shard but whether appends are refused
// (Owner::BlockWrites/UnblockWrites, on a full or failing disk; docs/durability.md). An error
// it cannot recover from sets failed(), which the writer reads.
//
// Owned by its Shard (a member), whose options and warm tier it uses; its Owner is the shard's
// ShardWriter, which outlives it. Threads: Hand and WaitForSpace from the writer thread;
// indexed_upto(), runs(), failed() and Checkpoint from any thread; Recover before Start; Start
// and Stop from Shard::Start and Shard::Stop. Locks: index_mu_ guards the hand-off and is held
// while WaitForSpace takes the writer's queue lock (Owner::Stopping); the runs' manifest lock
// (Flush, the merger, Checkpoint) is never taken under index_mu_ or merge_mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/disk_guard.h"
#include "storage/index_runs.h"
#include "storage/options.h"
#include "storage/stream_head.h"
#include "storage/warm/warm_shard.h"

namespace strata::storage {

// Heterogeneous lookup by string_view.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct NameEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// One group's records, as the writer hands them over: moved, never copied.
struct IndexWork {
  std::string records;  // concatenated encoded records
  uint64_t last_position = 0;
};

class ShardIndexer {
 public:
  // The shard's writer, as its indexer sees it (ShardWriter implements it).
  class Owner {
   public:
    // Indexer thread: an index flush failed on a full or failing disk; appends are refused
    // until UnblockWrites. The flush is retried every second.
    virtual void BlockWrites(const Error& e) = 0;
    // Indexer thread: a flush succeeded after BlockWrites.
    virtual void UnblockWrites() = 0;
    // Writer thread (WaitForSpace): trims the writer's tails up to indexed_upto(), under the
    // writer's state lock.
    virtual void TrimIndexedTails() = 0;
    // Writer thread (WaitForSpace, index_mu_ held): events in the writer's tails.
    virtual size_t UnindexedEvents() const = 0;
    // Writer thread (WaitForSpace, index_mu_ held): appends are refused (a failed write or
    // index flush).
    virtual bool WritesBlocked() const = 0;
    // Writer thread (WaitForSpace, index_mu_ held): the writer is stopping. Takes the writer's
    // queue lock.
    virtual bool Stopping() = 0;

   protected:
    ~Owner() = default;
  };

  // What recovery found in the log and the indexer's persisted state.
  struct Recovered {
    uint64_t last_position = 0;       // of the log
    uint64_t next_stream_number = 1;  // the next new stream's number
    uint64_t segment_seq = 0;         // the highest segment seen
  };

  // `options` and `warm` belong to the shard and outlive this, as does `owner`; `disk` may be
  // null.
  ShardIndexer(ShardId id, const StoreOptions& options, warm::WarmShard* warm,
               std::string index_dir, DiskGuard* disk, Owner* owner);
  ~ShardIndexer();
  ShardIndexer(const ShardIndexer&) = delete;
  ShardIndexer& operator=(const ShardIndexer&) = delete;

  // Loads the runs of the persisted manifest and re-indexes the log after the checkpoint,
  // flushing runs as the live path would; then indexed_upto() is the log's last position.
  // Before Start.
  Result<Recovered> Recover();
  // Starts the indexer and merger threads.
  void Start();
  // Indexes and flushes what was handed (not after failed(), nor when that flush fails: recovery
  // re-indexes the log after the checkpoint), then stops both threads. Call after the writer
  // has stopped. Idempotent.
  void Stop();

  // Writer thread: queues a group's records (all at positions after the previous work's).
  void Hand(IndexWork&& work);
  // Writer thread, before each group: the bound on what is not yet indexed (see above).
  void WaitForSpace();

  // Every position up to this is in a persisted index run (retention may drop it).
  uint64_t indexed_upto() const { return indexed_upto_.load(std::memory_order_acquire); }
  const IndexRuns& runs() const { return runs_; }
  // Indexing failed on a broken invariant or damaged data: the shard refuses writes until a
  // restart (the log is intact; the indexes catch up from the checkpoint on the next open).
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // A consistent copy in `dir` (created): db/ (a RocksDB checkpoint of the warm tier) and
  // index/ (hard links to the index runs that checkpoint names).
  Status Checkpoint(const std::string& dir);

 private:
  void IndexerLoop();
  // Adds the records' index entries to the pending run and the dirty heads/time blocks.
  Status IndexRecords(const std::vector<std::string_view>& buffers);
  // Writes the pending entries as runs and persists heads, manifest and checkpoint.
  Status Flush();
  void MergerLoop();

  const ShardId id_;
  const StoreOptions& options_;
  warm::WarmShard* const warm_;
  DiskGuard* const disk_;
  Owner* const owner_;

  // The hand-off (producer: the writer; consumer: the indexer thread).
  std::mutex index_mu_;
  std::condition_variable index_cv_;        // the indexer waits for a large backlog (or polls)
  std::condition_variable index_space_cv_;  // the writer waits for space
  std::deque<IndexWork> index_queue_;       // GUARDED_BY(index_mu_)
  size_t unindexed_bytes_ = 0;              // GUARDED_BY(index_mu_)
  bool index_stopping_ = false;             // GUARDED_BY(index_mu_)

  std::unordered_map<std::string, StreamHead, NameHash, NameEq> index_heads_;  // indexer only
  uint64_t index_next_stream_number_ = 1;                                      // indexer only
  uint64_t index_segment_seq_ = 0;  // indexer only: highest segment seen
  // Indexer only: what the next flush writes.
  std::vector<StreamIndexEntry> pending_streams_;
  std::vector<DedupeIndexEntry> pending_dedupe_;
  std::vector<std::string_view> dirty_heads_;                               // keys of index_heads_
  std::unordered_map<uint64_t, std::pair<int64_t, int64_t>> dirty_blocks_;  // block -> min/max
  uint64_t pending_last_position_ = 0;
  uint64_t pending_events_ = 0;
  std::chrono::steady_clock::time_point last_flush_;      // indexer only
  std::chrono::steady_clock::time_point flush_retry_at_;  // indexer only

  IndexRuns runs_;
  std::thread merger_;
  std::mutex merge_mu_;
  std::condition_variable merge_cv_;
  bool merge_stopping_ = false;  // GUARDED_BY(merge_mu_)

  std::atomic<uint64_t> indexed_upto_{0};
  std::atomic<bool> failed_{false};
  std::thread thread_;  // the indexer
};

}  // namespace strata::storage
