// Shard: one writer thread, one RocksDB instance (WarmShard) and one ShardIndexer (the indexer
// and merger threads, shard_indexer.h), owning the partitions that map to it.
//
// Writer thread (owns: heads' planned state, the stream-number counter, the segment counter,
// the tails' order): drains the bounded queue, checks each append against the in-memory stream
// heads (loaded from the warm tier on a miss) and the idempotency indexes, claims a range of
// positions from the Ring, writes the group's records as one batch with one fsync (group
// commit), then makes the new heads and tail entries visible (under state_mu_), publishes the
// records into the ring, marks them durable, hands the records to the indexer (Hand) and
// completes every append of the group (after releasing state_mu_). Before each group it waits
// for the indexer (WaitForSpace) while too much is unindexed.
//
// Until an event is in a flushed index run (indexer_.indexed_upto()), readers and the writer
// find it in the head's in-memory tail; the writer trims the tails as that advances. The
// indexer talks back only through ShardIndexer::Owner, which Shard implements privately: it
// blocks and unblocks writes on a failing disk, and its wait reads the writer's tails, blocked
// state and stopping flag.
//
// Readers (any thread) take state_mu_ shared. Done for durability: see Store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "storage/cold/cold_tier.h"
#include "storage/disk_guard.h"
#include "storage/hot/ring.h"
#include "storage/index_runs.h"
#include "storage/log/shard_log.h"
#include "storage/operations.h"
#include "storage/shard_indexer.h"
#include "storage/store.h"
#include "storage/stream_head.h"
#include "storage/warm/warm_shard.h"

namespace strata::storage {

struct ShardOp {
  enum class Kind : uint8_t { kAppend, kSoftDelete, kTombstone };
  Kind kind = Kind::kAppend;
  AppendRequest request;
  Store::AppendCallback done;
  size_t bytes = 0;
};

// The revisions [*lo, *hi] that `req` reads from a stream whose visible revisions are
// [first_visible, last]; sets out->last_revision, end_of_stream and next. False when the read
// returns no event (out->end_of_stream is set). Shared by stream and index-stream reads.
bool PlanRevisions(const ReadStreamRequest& req, uint64_t first_visible, uint64_t last,
                   ReadStreamResult* out, uint64_t* lo, uint64_t* hi);

class Shard final : public ShardLog, private ShardIndexer::Owner {
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
  Position last_position() const override {
    return Position(last_position_.load(std::memory_order_acquire));
  }
  // Starts the writer, indexer and merger threads, publishing into `ring`.
  void Start(hot::Ring* ring);
  // Completes every queued op, then stops the threads. Idempotent.
  void Stop();

  // Queues an op; waits for space until the request's deadline (then kServerBusy).
  void Submit(ShardOp op);

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
  uint64_t sealed_segment_seq() const override {
    return sealed_seq_.load(std::memory_order_acquire);
  }
  void RequestSeal();
  // Every position up to this is in a persisted index run (retention may drop it).
  uint64_t indexed_upto() const override { return indexer_.indexed_upto(); }
  // Reads of positions below the warm floor go to `cold`. Before Start.
  void AttachCold(cold::ColdShard* cold) { cold_ = cold; }
  cold::ColdShard* cold() const { return cold_; }
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
  std::optional<Error> WriteError() const;

 private:
  struct TailEntry {
    uint64_t revision;
    uint64_t position;
    Uuid id;
    int64_t recorded_ts;
  };
  struct HeadEntry {
    StreamHead committed;         // written under state_mu_ exclusive by the writer
    StreamHead planned;           // writer thread only
    std::vector<TailEntry> tail;  // unindexed events, GUARDED_BY(state_mu_)
    size_t tail_begin = 0;
    std::vector<std::pair<uint64_t, Uuid>> group_pending;  // writer only: planned this group
    uint64_t changed_at = 0;  // writer only: position of the last record that changed it
    // Writer only: event id -> absolute tail index (tail_base + i), built lazily once a tail is
    // long, so idempotency checks on a hot stream are not a scan of its whole tail.
    std::unordered_map<Uuid, uint64_t> tail_ids;
    uint64_t tail_ids_upto = 0;  // absolute index up to which tail_ids is filled
    uint64_t tail_base = 0;      // absolute index of tail[0]

    const TailEntry* FindInTail(const Uuid& id);
  };
  struct Plan;  // one op's outcome within a group

  // Writer thread.
  void WriterLoop();
  void ProcessGroup(std::vector<ShardOp>& ops);
  // ProcessGroup's phases, in order. PlanGroup plans every op (the planned heads advance) and
  // sums what the group writes.
  void PlanGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, uint32_t& total_events,
                 uint64_t& total_bytes);
  // Claims positions, encodes, writes (one fsync), then makes the group visible and hands it to
  // the indexer. False when the write failed: FailGroup has completed every op then.
  bool CommitGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, int64_t now,
                   uint32_t total_events, uint64_t total_bytes);
  // Rolls the group back, blocks the shard (kWriter) and completes every op: decided ones with
  // their result, the rest with `e`.
  void FailGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, const Error& e);
  // Encodes the records of the planned writes into group_buffer_ (sized by the caller) at
  // consecutive positions from `first_position`; returns the position after the last.
  uint64_t EncodeGroup(std::vector<Plan>& plans, uint64_t first_position, uint64_t segment,
                       int64_t now, std::vector<std::pair<Position, std::string_view>>& records);
  // The group commit itself: one batch, fdatasynced under durability=sync; counts and times it.
  Status WriteGroup(const std::vector<std::pair<Position, std::string_view>>& records,
                    uint32_t total_events);
  // Under state_mu_: the written heads become committed, their events enter the tails, and the
  // indexed tail entries are trimmed.
  void CommitHeads(std::vector<Plan>& plans, int64_t now);
  // Copies the records into the ring, then advances last_position_ and the durable watermark.
  void PublishGroup(const hot::Ring::Claimed& claim,
                    const std::vector<std::pair<Position, std::string_view>>& records, int64_t now,
                    uint32_t total_events, uint64_t last);
  // Moves group_buffer_ (the group's records, up to position `last`) to the indexer's queue.
  void HandOffToIndexer(uint64_t last);
  // Completes every op by its plan: deferred to the next group, decided, or appended.
  void CompleteGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans);
  Result<HeadEntry*> LoadHead(std::string_view stream);
  void PlanOp(ShardOp& op, Plan& plan);
  void PlanAppend(ShardOp& op, Plan& plan);
  // Idempotency: fills plan with a deduplicated result or conflict; returns false to defer.
  bool CheckDuplicates(HeadEntry& h, const AppendRequest& req, Plan& plan);
  // With an exact or no_stream expectation: compares the ids at the revisions after it. nullopt
  // when none of them matches there (then the ids are looked up); else CheckDuplicates' answer.
  std::optional<bool> CheckDuplicatesAtExpected(HeadEntry& h, const AppendRequest& req, int64_t now,
                                                int64_t window, Plan& plan);
  // Looks each id up in the tail and the dedupe index.
  bool CheckDuplicatesById(HeadEntry& h, const AppendRequest& req, int64_t now, int64_t window,
                           Plan& plan);
  // `found` holds the n events of an earlier identical append.
  static void SetDeduplicated(const std::vector<TailEntry>& found, size_t n, Plan& plan);
  static void SetIdempotencyConflict(const AppendRequest& req, size_t matched, Plan& plan);
  Result<std::vector<TailEntry>> LoadEntries(HeadEntry& h, uint64_t from_revision, uint64_t count);
  void TrimTails(uint64_t indexed_upto);
  // Drops cached heads whose state is all persisted, when there are too many (writer thread).
  void EvictHeads();
  uint64_t NextSegmentId(int64_t now_us, size_t bytes);
  void SealIfIdle();  // writer thread, between groups
  void FailAll(std::vector<ShardOp>& ops, const Error& e);
  // After a failed write: the group's planned heads go back to their committed state.
  void RollBack(std::vector<Plan>& plans);
  // Records why writes are refused (kWriter: RocksDB writes; kIndexer: index flushes), or
  // clears it. Writes resume when neither is set.
  enum class Blocker : uint8_t { kWriter, kIndexer };
  void Block(Blocker who, const Error& e);
  void Unblock(Blocker who);
  void TryResume();  // writer thread, while blocked by kWriter

  // ShardIndexer::Owner (shard_indexer.h): what the indexer may ask of the shard.
  void BlockWrites(const Error& e) override { Block(Blocker::kIndexer, e); }
  void UnblockWrites() override { Unblock(Blocker::kIndexer); }
  void TrimIndexedTails() override;
  size_t UnindexedEvents() const override { return tail_fifo_.size(); }
  bool WritesBlocked() const override { return blocked_.load(std::memory_order_acquire); }
  bool Stopping() override;

  // Readers (ReadStream's steps).
  // The committed head and a copy of its unindexed tail (under state_mu_ shared), else the
  // persisted head (nullopt: the store has never seen the stream).
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
  hot::Ring* ring_ = nullptr;

  // Queue (producers: any thread; consumer: the writer).
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;        // writer waits for work
  std::condition_variable queue_space_cv_;  // producers wait for space
  std::vector<ShardOp> queue_;              // GUARDED_BY(queue_mu_)
  size_t queued_bytes_ = 0;                 // GUARDED_BY(queue_mu_)
  bool stopping_ = false;                   // GUARDED_BY(queue_mu_)
  std::vector<ShardOp> deferred_;           // writer only: retried in the next group

  // Stream state.
  mutable std::shared_mutex state_mu_;
  std::unordered_map<std::string, std::unique_ptr<HeadEntry>, NameHash, NameEq> heads_;
  std::deque<HeadEntry*> tail_fifo_;  // writer only: one entry per unindexed event, in order
  uint64_t next_stream_number_ = 1;   // writer only (after Start)
  uint64_t segment_seq_ = 0;          // writer only
  int64_t segment_started_us_ = 0;
  uint64_t segment_bytes_ = 0;
  std::string group_buffer_;                             // writer only, reused
  std::chrono::steady_clock::time_point last_eviction_;  // writer only

  // The indexer and merger threads, the hand-off to them, the index runs. After warm_ and
  // options_, which it uses; destroyed before them.
  ShardIndexer indexer_;

  std::atomic<uint64_t> last_position_{0};
  DiskGuard* const disk_;
  mutable std::mutex block_mu_;
  std::optional<Error> writer_error_;                                      // GUARDED_BY(block_mu_)
  std::optional<Error> indexer_error_;                                     // GUARDED_BY(block_mu_)
  std::atomic<bool> blocked_{false};                                       // either is set
  std::chrono::steady_clock::time_point blocked_since_, last_resume_try_;  // writer only
  std::atomic<uint64_t> sealed_seq_{0};
  std::atomic<bool> seal_requested_{false};
  std::atomic<uint64_t> warm_floor_{0};
  cold::ColdShard* cold_ = nullptr;
  std::atomic<uint64_t> groups_{0}, fsyncs_{0}, appends_{0}, queue_depth_{0};

  std::thread writer_;
  bool started_ = false;
};

}  // namespace strata::storage
