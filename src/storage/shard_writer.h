// ShardWriter: a shard's writer thread, around its bounded queue of appends and deletes, the
// in-memory stream heads it checks them against, and the refusal of writes on a failing disk.
//
// Writer thread (owns: heads' planned state, the stream-number counter, the segment counter,
// the tails' order, the group buffer): drains the bounded queue, checks each append against the
// in-memory stream heads (loaded from the warm tier on a miss) and the idempotency indexes,
// claims a range of positions from the Ring, writes the group's records as one batch with one
// fsync (group commit), then makes the new heads and tail entries visible (under state_mu_),
// publishes the records into the ring, marks them durable, hands the records to the indexer
// (ShardIndexer::Hand) and completes every append of the group (after releasing state_mu_).
// Before each group it waits for the indexer (ShardIndexer::WaitForSpace) while too much is
// unindexed.
//
// Until an event is in a flushed index run (ShardIndexer::indexed_upto()), readers and the
// writer find it in the head's in-memory tail; the writer trims the tails as that advances. The
// indexer talks back only through ShardIndexer::Owner, which ShardWriter implements privately
// (indexer_owner() is what the shard gives its indexer): it blocks and unblocks writes on a
// failing disk, and its wait reads the writer's tails, blocked state and stopping flag.
//
// Write refusal: a failed group write (Blocker::kWriter; the writer retries RocksDB's resume
// between groups, TryResume) or a failed index flush (Blocker::kIndexer; the indexer retries)
// blocks writes; Submit and every group are refused with WriteError() until neither is set
// (docs/durability.md), and for good once the indexer has failed().
//
// Segments: the writer numbers the segments its records belong to (NextSegmentId) and seals
// them (sealed_segment_seq(), for the archiver: cold/archiver.h, docs/cold-tier.md).
//
// Owned by its Shard (a member), whose options, warm tier, disk guard and ShardIndexer it uses;
// they outlive it. Threads: Submit, RequestSeal, WriteError, last_position(),
// sealed_segment_seq(), the readers' calls and Stats from any thread; Recover and AttachCold
// before Start; Start and Stop from Shard::Start and Shard::Stop; the Owner calls as
// shard_indexer.h says; everything else on the writer thread. Done for durability: see Store.
//
// Locks: queue_mu_ (the queue, stopping_), state_mu_ (the heads and their tails: the writer
// changes them under it exclusive, readers copy them under it shared) and block_mu_ (why writes
// are refused) are each taken alone, never two at once. The indexer holds its index_mu_ while
// Stopping() takes queue_mu_ (index_mu_ before queue_mu_); TrimIndexedTails takes state_mu_
// without index_mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/cold/cold_tier.h"
#include "storage/cold/wal_writer.h"
#include "storage/disk_guard.h"
#include "storage/hot/ring.h"
#include "storage/operations.h"
#include "storage/options.h"
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

// Records by position: the warm tier, else `cold` (may be null). Missing in both is
// kCorruption. Shared by the reads (Shard::FetchRecords) and the writer's idempotency checks;
// defined with the reads (shard_read.cc).
Status FetchRecordsFromTiers(warm::WarmShard& warm, cold::ColdShard* cold,
                             const std::vector<Position>& positions, std::vector<std::string>* out);

class ShardWriter final : private ShardIndexer::Owner {
 public:
  // One unindexed event of a stream, as its head's tail holds it.
  struct TailEntry {
    uint64_t revision;
    uint64_t position;
    Uuid id;
    int64_t recorded_ts;
  };

  // `options`, `warm`, `indexer` and `disk` (may be null: no disk guard) belong to the shard and
  // outlive this. `indexer` may not be constructed yet (the shard declares it after the writer,
  // because the indexer's constructor takes indexer_owner()): this only keeps its address.
  ShardWriter(ShardId id, const StoreOptions& options, warm::WarmShard* warm, ShardIndexer* indexer,
              DiskGuard* disk);
  ~ShardWriter();  // Stop()
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // What the indexer may ask of the writer (ShardIndexer::Owner), for the indexer's constructor.
  ShardIndexer::Owner* indexer_owner() { return this; }

  // Continues from what recovery found in the log: its last position, the next stream number,
  // the segment counter. Before Start.
  void Recover(const ShardIndexer::Recovered& recovered);
  // Idempotency checks read events below the tails from the warm tier, else from `cold` (below
  // the warm floor). Before Start.
  void AttachCold(cold::ColdShard* cold) { cold_ = cold; }
  // Each group is acknowledged only once `wal` has it in the object store too. Before Start.
  void AttachWal(cold::WalWriter* wal) { wal_ = wal; }
  // Starts the writer thread, publishing into `ring`.
  void Start(hot::Ring* ring);
  // Completes every queued op, then stops the writer thread. Idempotent.
  void Stop();

  // Queues an op; waits for space until the request's deadline (then kServerBusy).
  void Submit(ShardOp&& op);

  // Why appends are refused now, if they are: a write or index flush that failed on a full or
  // failing disk (the shard retries and resumes on its own: docs/durability.md), or the
  // indexer's failed().
  std::optional<Error> WriteError() const;
  // Last position in this shard's log (after Recover: the recovered one).
  Position last_position() const {
    return Position(last_position_.load(std::memory_order_acquire));
  }
  // The highest segment sequence that is sealed: no record of it or of an earlier one will be
  // written any more. A segment seals when the next one starts (10 s or 512 MiB), when the
  // writer has been idle past segment_max_age, on RequestSeal, and at every restart.
  uint64_t sealed_segment_seq() const { return sealed_seq_.load(std::memory_order_acquire); }
  void RequestSeal();

  // ---- Readers (any thread), under state_mu_ shared.
  // If the writer holds `stream` in memory: sets *head to its committed head and *tail to a copy
  // of its unindexed tail (only entries up to that head: the writer adds under the exclusive
  // lock). Else leaves both alone: everything of a stream not held here has been indexed, so
  // the persisted head is complete for it.
  void HeadForRead(std::string_view stream, std::optional<StreamHead>* head,
                   std::vector<TailEntry>* tail) const;
  // The committed head, if the writer holds `stream` in memory.
  std::optional<StreamHead> CommittedHead(std::string_view stream) const;
  // The writer's part of ShardStats: unindexed_events, groups, fsyncs, appends, queue_depth.
  void Stats(ShardStats* s) const;

 private:
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
  // One op's outcome within a group.
  struct Plan {
    enum class State : uint8_t { kPending, kWrite, kDone, kDeferred };
    State state = State::kPending;
    Result<AppendResult> result;
    HeadEntry* head = nullptr;
    HeadEntry* meta_target = nullptr;  // X, when writing $metadata into $$X
    std::string_view stream;
    const std::vector<EventData>* events = nullptr;
    std::vector<EventData> synthesized;  // soft delete / tombstone records
    RecordKind kind = RecordKind::kEvent;
    uint64_t first_revision = 0;
    uint64_t first_position = 0;
    uint64_t position_step = 1;  // between the op's consecutive records (Ring::Claimed::step)
    uint64_t bytes = 0;
    bool is_delete = false;
    uint64_t PositionOf(size_t k) const { return first_position + k * position_step; }
  };

  // ---- Writer thread: the group (shard_writer.cc).
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
  // A group written locally that the WAL did not take: rolled back, completed with `e`, and the
  // shard blocked for good (Blocker::kWal).
  void FailUnlogged(std::vector<ShardOp>& ops, std::vector<Plan>& plans, const Error& e);
  // With clock positions: each record's partition, in claim order, into group_partitions_.
  void ClaimPartitions(const std::vector<Plan>& plans);
  // Encodes the records of the planned writes into group_buffer_ (sized by the caller) at the
  // claim's positions; returns the last record's position.
  uint64_t EncodeGroup(std::vector<Plan>& plans, const hot::Ring::Claimed& claim, uint64_t segment,
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
                    uint64_t last);
  // Moves group_buffer_ (the group's records, up to position `last`) to the indexer's queue.
  void HandOffToIndexer(uint64_t last);
  // Completes every op by its plan: deferred to the next group, decided, or appended.
  void CompleteGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans);
  void FailAll(std::vector<ShardOp>& ops, const Error& e);
  // After a failed write: the group's planned heads go back to their committed state.
  void RollBack(std::vector<Plan>& plans);
  uint64_t NextSegmentId(int64_t now_us, size_t bytes);
  void SealIfIdle();  // writer thread, between groups

  // ---- Writer thread: planning against the heads (shard_writer_plan.cc).
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

  // ---- Write refusal. Records why writes are refused (kWriter: RocksDB writes; kIndexer: index
  // flushes; kWal: the object-store WAL, for good), or clears it. Writes resume when none is set.
  enum class Blocker : uint8_t { kWriter, kIndexer, kWal };
  void Block(Blocker who, const Error& e);
  void Unblock(Blocker who);
  void TryResume();  // writer thread, while blocked by kWriter

  // ShardIndexer::Owner (shard_indexer.h): what the indexer may ask of the writer.
  void BlockWrites(const Error& e) override { Block(Blocker::kIndexer, e); }
  void UnblockWrites() override { Unblock(Blocker::kIndexer); }
  void TrimIndexedTails() override;
  size_t UnindexedEvents() const override { return tail_fifo_.size(); }
  bool WritesBlocked() const override { return blocked_.load(std::memory_order_acquire); }
  bool Stopping() override;

  const ShardId id_;
  const StoreOptions& options_;
  warm::WarmShard* const warm_;
  ShardIndexer* const indexer_;  // Hand, WaitForSpace, indexed_upto(), runs(), failed()
  DiskGuard* const disk_;
  cold::ColdShard* cold_ = nullptr;
  cold::WalWriter* wal_ = nullptr;
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
  std::deque<HeadEntry*> tail_fifo_;        // writer only: one entry per unindexed event, in order
  uint64_t next_stream_number_ = 1;         // writer only (after Start)
  std::string group_buffer_;                // writer only, reused
  std::vector<uint32_t> group_partitions_;  // writer only, reused (ClaimPartitions)
  std::chrono::steady_clock::time_point last_eviction_;  // writer only

  // Segments (the counter and the open segment: writer only).
  uint64_t segment_seq_ = 0;
  int64_t segment_started_us_ = 0;
  uint64_t segment_bytes_ = 0;
  std::atomic<uint64_t> sealed_seq_{0};
  std::atomic<bool> seal_requested_{false};

  // Write refusal.
  mutable std::mutex block_mu_;
  std::optional<Error> writer_error_;                      // GUARDED_BY(block_mu_)
  std::optional<Error> indexer_error_;                     // GUARDED_BY(block_mu_)
  std::optional<Error> wal_error_;                         // GUARDED_BY(block_mu_), for good
  std::atomic<bool> blocked_{false};                       // either is set
  std::chrono::steady_clock::time_point last_resume_try_;  // writer only

  std::atomic<uint64_t> last_position_{0};
  std::atomic<uint64_t> groups_{0}, fsyncs_{0}, appends_{0}, queue_depth_{0};

  std::thread thread_;  // the writer
};

}  // namespace strata::storage
