// Shard: one ShardWriter (the writer thread, its queue and the stream heads: shard_writer.h),
// one RocksDB instance (WarmShard) and one ShardIndexer (the indexer and merger threads:
// shard_indexer.h), owning the partitions that map to it. It is the facade the store uses:
// appends go to the writer's queue (Submit), reads run on the caller's thread (ReadStream,
// GetHead, FetchRecords, NewLogCursor), and it implements the ShardLog seam (storage/log/
// shard_log.h) for the cold tier by delegating to the writer (positions, sealing), the indexer
// (indexed_upto, Checkpoint) and the warm tier, plus the warm floor that local retention raises.
//
// The writer hands each durable group to the indexer; the indexer talks back only through
// ShardIndexer::Owner, which the writer implements (the shard passes writer_.indexer_owner()
// to the indexer). Until an event is in a flushed index run, readers find it in the writer's
// in-memory tails: they copy a head and its tail under the writer's state lock (shared,
// ShardWriter::HeadForRead), then read the tiers without locks.
//
// Threads: the writer's and the indexer's own (Start, Stop); every public method from any
// thread, except Recover and AttachCold (before Start). Done for durability: see Store.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/cold/cold_tier.h"
#include "storage/disk_guard.h"
#include "storage/hot/ring.h"
#include "storage/index_runs.h"
#include "storage/log/shard_log.h"
#include "storage/operations.h"
#include "storage/shard_indexer.h"
#include "storage/shard_writer.h"
#include "storage/store.h"
#include "storage/stream_head.h"
#include "storage/warm/warm_shard.h"

namespace strata::storage {

// The revisions [*lo, *hi] that `req` reads from a stream whose visible revisions are
// [first_visible, last]; sets out->last_revision, end_of_stream and next. False when the read
// returns no event (out->end_of_stream is set). Shared by stream and index-stream reads.
bool PlanRevisions(const ReadStreamRequest& req, uint64_t first_visible, uint64_t last,
                   ReadStreamResult* out, uint64_t* lo, uint64_t* hi);

class Shard final : public ShardLog {
 public:
  // `disk` (owned by the store, may be null) refuses appends on a full disk.
  Shard(ShardId id, const StoreOptions& options, std::unique_ptr<warm::WarmShard> warm,
        std::string index_dir, DiskGuard* disk = nullptr);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Replays the log after the indexer checkpoint into the indexes. Before Start().
  Status Recover();
  // Last position in this shard's log (after Recover: the recovered one).
  Position last_position() const override { return writer_.last_position(); }
  // Starts the writer, indexer and merger threads, publishing into `ring`.
  void Start(hot::Ring* ring);
  // Completes every queued op, then stops the threads. Idempotent.
  void Stop();

  // Queues an op; waits for space until the request's deadline (then kServerBusy).
  void Submit(ShardOp op) { writer_.Submit(std::move(op)); }

  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request, const hot::Ring* ring);
  // The committed head of a stream, or nullopt if the store has never seen it.
  Result<std::optional<StreamHead>> GetHead(std::string_view stream);
  warm::WarmShard& warm() { return *warm_; }
  const IndexRuns& runs() const { return indexer_.runs(); }
  ShardId id() const { return id_; }
  ShardStats Stats();

  // ---- Cold tier (cold/archiver.h, docs/cold-tier.md)
  // The highest segment sequence that is sealed: no record of it or of an earlier one will be
  // written any more. A segment seals when the next one starts (10 s or 512 MiB), when the
  // writer has been idle past segment_max_age, on RequestSeal, and at every restart.
  uint64_t sealed_segment_seq() const override { return writer_.sealed_segment_seq(); }
  void RequestSeal() { writer_.RequestSeal(); }
  // Every position up to this is in a persisted index run (retention may drop it).
  uint64_t indexed_upto() const override { return indexer_.indexed_upto(); }
  // Reads of positions below the warm floor go to `cold`. Before Start.
  void AttachCold(cold::ColdShard* cold) {
    cold_ = cold;
    writer_.AttachCold(cold);  // its idempotency checks read below the warm floor too
  }
  cold::ColdShard* cold() const { return cold_; }
  // Appends are acknowledged only once `wal` holds them too (cold/wal_writer.h). Before Start.
  void AttachWal(cold::WalWriter* wal) { writer_.AttachWal(wal); }
  uint64_t warm_floor() const override { return warm_floor_.load(std::memory_order_acquire); }
  Status DropWarmBelow(uint64_t floor) override;
  // The rest of the ShardLog seam (storage/log/shard_log.h), for the archiver.
  uint32_t shard_index() const override { return id_.value(); }
  std::unique_ptr<LogCursor> NewWarmScan() override { return warm_->NewCursor(false); }
  Status SyncWarm() override { return warm_->SyncWal(); }
  uint64_t WarmBytes(Position from, Position to) override {
    return warm_->ApproximateBytes(from, to);
  }
  // Records by position: warm tier, else cold tier. Missing in both is kCorruption.
  Status FetchRecords(const std::vector<Position>& positions, std::vector<std::string>* out);
  // The shard's log in position order across the cold and warm tiers.
  std::unique_ptr<storage::LogCursor> NewLogCursor();
  // A consistent copy of the shard in `dir` (created): db/ (a RocksDB checkpoint) and index/
  // (hard links to the index runs that checkpoint names).
  Status Checkpoint(const std::string& dir) override { return indexer_.Checkpoint(dir); }
  // A broken invariant or damaged data seen by the indexer: the shard refuses writes until a
  // restart (reads go on).
  bool failed() const { return indexer_.failed(); }
  // Why appends are refused now, if they are: a write or index flush that failed on a full or
  // failing disk (the shard retries and resumes on its own: docs/durability.md), or failed().
  std::optional<Error> WriteError() const { return writer_.WriteError(); }

 private:
  using TailEntry = ShardWriter::TailEntry;

  // Readers (ReadStream's steps).
  // The committed head and a copy of its unindexed tail (the writer's, under its state lock
  // shared), else the persisted head (nullopt: the store has never seen the stream).
  Status HeadForRead(const std::string& stream, std::optional<StreamHead>* head,
                     std::vector<TailEntry>* tail);
  // The positions of revisions [lo, hi], in revision order.
  Status StreamPositions(const std::string& stream, const StreamHead& head,
                         const std::vector<TailEntry>& tail, uint64_t lo, uint64_t hi,
                         std::vector<Position>* positions);
  // records[i] (sized by the caller) = the record at positions[i]: the ring, else the tiers.
  Status RecordsAt(const std::vector<Position>& positions, const hot::Ring* ring,
                   std::vector<std::string>* records);

  const ShardId id_;
  const StoreOptions options_;
  std::unique_ptr<warm::WarmShard> warm_;

  // Member order is construction order, and the reverse is destruction order. The writer and
  // the indexer use options_ and warm_: after them, destroyed before them. The writer comes
  // before the indexer because the indexer's constructor takes the writer (as its Owner, which
  // it calls from its threads: the Owner outlives the indexer); the writer's constructor only
  // keeps the indexer's address. Stop (from ~Shard at the latest) joins the writer thread, then
  // the indexer's, before either member is destroyed: the writer's thread uses the indexer.
  //
  // The writer thread, its queue, the stream heads and tails, write refusal, segments.
  ShardWriter writer_;
  // The indexer and merger threads, the hand-off to them, the index runs.
  ShardIndexer indexer_;

  std::atomic<uint64_t> warm_floor_{0};
  cold::ColdShard* cold_ = nullptr;
  bool started_ = false;
};

}  // namespace strata::storage
