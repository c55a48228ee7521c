// Store: the node-local event store, embeddable without any server (libstrata).
//
//   auto store = Store::Open(options);            // recovers everything on open
//   store->Append({.stream = "order-1", .expected = ExpectedRevision::NoStream(), .events = …});
//   store->ReadStream({.stream = "order-1"});
//   auto sub = store->Subscribe({.all = true}, handler);
//
// Thread-safety: every method may be called from any thread concurrently. AppendAsync callbacks
// run on a shard writer thread and must not block; Subscription handlers run on the
// subscription's own thread.
//
// Durability: an append is acknowledged (its callback gets a value) only when its records are
// durable as set by StoreOptions::durability. $all readers and subscriptions deliver only
// positions below the durable watermark, so they never see a gap or a reordering.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/histogram.h"
#include "model/event.h"
#include "model/expected_revision.h"
#include "model/record.h"
#include "model/types.h"
#include "storage/check.h"
#include "storage/options.h"

namespace strata {

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline NoDeadline() { return Deadline::max(); }
inline Deadline DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

struct AppendRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  std::vector<EventData> events;     // appended atomically, in order; may be empty (a check only)
  Deadline deadline = NoDeadline();  // how long to wait for queue space
};

struct AppendResult {
  uint32_t count = 0;       // events written, or found when deduplicated
  Revision first_revision;  // of the first event (count > 0)
  Revision last_revision;   // the stream's revision after the append (stream_exists)
  Position first_position;  // (count > 0)
  Position last_position;   // (count > 0)
  bool stream_exists = false;
  bool deduplicated = false;  // a retry of an earlier append: nothing was written
};

struct DeleteRequest {
  std::string stream;
  ExpectedRevision expected = ExpectedRevision::Any();
  bool tombstone = false;  // false: soft delete (re-openable); true: never writable again
  Deadline deadline = NoDeadline();
};

struct DeleteResult {
  Position position;  // of the record that marks the deletion
};

enum class Direction : uint8_t { kForwards, kBackwards };

struct ReadStreamRequest {
  std::string stream;
  Direction direction = Direction::kForwards;
  // First revision to return (inclusive). nullopt: the start (forwards) or the end (backwards).
  std::optional<Revision> from;
  uint64_t max_count = 4096;
};

struct ReadStreamResult {
  std::vector<RecordedEvent> events;
  Revision last_revision;  // the stream's last revision
  bool end_of_stream = false;
  std::optional<Revision> next;  // where to continue, if not at the end
};

// Which $all events a reader or subscription wants. Empty lists accept everything; several
// prefixes are ORed; stream and type conditions are ANDed.
struct AllFilter {
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> type_prefixes;
  std::string stream_regex;  // ECMAScript, searched (not anchored); empty: none
  std::string type_regex;
  bool exclude_system = false;  // skip events whose type starts with '$'

  bool Empty() const {
    return stream_prefixes.empty() && type_prefixes.empty() && stream_regex.empty() &&
           type_regex.empty() && !exclude_system;
  }
};

struct ReadAllRequest {
  Direction direction = Direction::kForwards;
  // First position to consider (inclusive). nullopt: the start (forwards) or the end (backwards).
  std::optional<Position> from;
  uint64_t max_count = 4096;
  AllFilter filter;
  uint64_t max_scan = 0;  // stop after examining this many events (0: no limit)
};

struct ReadAllResult {
  std::vector<RecordedEvent> events;
  bool end = false;  // reached the end (the watermark, or the beginning backwards)
  Position next;     // where to continue (inclusive)
};

class SubscriptionHandler {
 public:
  virtual ~SubscriptionHandler() = default;
  // Return false to stop the subscription.
  virtual bool OnEvent(const RecordedEvent& event) = 0;
  // History is delivered; what follows is live.
  virtual void OnCaughtUp() {}
  // Filtered $all subscriptions: everything before `position` has been examined.
  virtual void OnCheckpoint(Position position) {}
  // The subscription ended: error is nullptr when it was cancelled or the handler stopped it.
  virtual void OnStop(const Error* error) {}
};

struct SubscribeRequest {
  bool all = false;  // $all, or `stream`
  std::string stream;
  // Where to start. Stream: deliver revisions after `after_revision` (nullopt: from the start).
  // $all: deliver positions after `after_position` (nullopt: from the start).
  std::optional<Revision> after_revision;
  std::optional<Position> after_position;
  bool from_end = false;                // only events appended from now on
  AllFilter filter;                     // $all only
  uint32_t checkpoint_interval = 1000;  // events examined between OnCheckpoint calls
};

class Subscription {
 public:
  virtual ~Subscription() = default;  // cancels and waits for the handler to return
  virtual void Cancel() = 0;
  virtual uint64_t delivered() const = 0;
  virtual Position position() const = 0;  // last position delivered or examined
};

struct ShardStats {
  uint32_t shard = 0;
  uint64_t events = 0;   // records in the log
  uint64_t bytes = 0;    // live data size estimate
  uint64_t streams = 0;  // estimate: streams with a persisted head
  Position last_position;
  uint64_t unindexed_events = 0;  // in memory, not yet in an index run
  uint64_t index_runs = 0;
  uint64_t index_entries = 0;  // stream-index entries in runs
  Position indexed_upto;
  uint64_t groups = 0;  // group commits since open
  uint64_t fsyncs = 0;
  uint64_t appends = 0;
  uint64_t queue_depth = 0;
  uint64_t compaction_pending_bytes = 0;
  uint64_t running_compactions = 0;
  uint64_t write_stall_micros = 0;
  uint64_t memtable_bytes = 0;
  bool write_stopped = false;
};

struct StoreStats {
  Position watermark;  // first position not yet durable
  uint64_t ring_hits = 0;
  uint64_t ring_misses = 0;
  uint64_t ring_bytes = 0;
  // Since open: appends acknowledged with new events (not deduplicated), their events and
  // payload bytes, and the time from AppendAsync to the acknowledgement of each.
  uint64_t appended_events = 0;
  uint64_t appended_bytes = 0;
  LatencyHistogram::Snapshot append_latency;
  // Live subscriptions and how far behind the watermark they are, in positions.
  uint64_t subscriptions = 0;
  uint64_t subscription_lag_max = 0;
  uint64_t subscription_lag_sum = 0;
  // The $ce-/$et- index streams: every position up to `index_streams_position` is indexed.
  Position index_streams_position;
  uint64_t index_streams = 0;            // index streams with events
  uint64_t index_streams_unflushed = 0;  // entries not yet in a run
  bool index_streams_failed = false;
  // Writes: false while appends are refused (a full or failing disk, a failed shard), with the
  // error they get. The disk of the data directory: free and total bytes, the reserve kept for
  // recovery, and the appends refused for lack of space since open.
  bool writable = true;
  std::string write_error;
  uint64_t disk_free_bytes = 0, disk_total_bytes = 0, disk_reserve_bytes = 0;
  uint64_t disk_full_refusals = 0;
  std::vector<ShardStats> shards;
};

// One archived segment (an entry of a shard's manifest in the cold tier).
struct SegmentInfo {
  uint32_t shard = 0;
  uint64_t segment_id = 0;  // shard << 48 | sequence
  Position first_position, last_position;
  int64_t min_source_ts = 0, max_source_ts = 0;
  int64_t max_recorded_ts = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;  // of the segment object
  std::string key;     // of the segment object in the object store
};

struct ArchiveShardStatus {
  uint32_t shard = 0;
  uint64_t segments = 0;           // in the manifest
  Position archived_upto;          // last position of the last archived segment
  Position warm_floor;             // positions below this are read from the cold tier
  uint64_t backlog_bytes = 0;      // sealed, not yet archived (RocksDB's estimate)
  int64_t backlog_age_us = 0;      // age of the oldest unarchived sealed event
  uint64_t uploaded_segments = 0;  // since open
  uint64_t uploaded_bytes = 0;     // since open
  double upload_seconds = 0;       // spent uploading, since open
  uint64_t errors = 0;             // failed attempts, since open
  std::string last_error;          // of the last failed attempt, if it was not followed by success
};

struct ArchiveStatus {
  bool enabled = false;
  std::string url;
  std::vector<ArchiveShardStatus> shards;
  uint64_t cold_reads = 0;  // records read from the cold tier since open
  uint64_t cache_hits = 0, cache_misses = 0, cache_bytes = 0;
};

struct SnapshotProgress {
  std::string phase;  // "checkpoint", "upload", "done"
  uint64_t bytes_done = 0, bytes_total = 0;
  uint32_t files_done = 0, files_total = 0;
};

struct SnapshotInfo {
  std::string id;  // e.g. 20261123T161000Z
  uint64_t bytes = 0;
  uint32_t files = 0;
  uint32_t reused_files = 0;  // already uploaded by an interrupted run with the same id
  double seconds = 0;
};

class Store {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;

  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;  // stops the writers after draining their queues

  // Appends asynchronously; `done` runs exactly once, on a writer thread or (for input errors)
  // on the caller's thread. It must not block.
  virtual void AppendAsync(AppendRequest request, AppendCallback done) = 0;
  Result<AppendResult> Append(AppendRequest request);
  virtual Result<DeleteResult> Delete(DeleteRequest request) = 0;

  virtual Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) = 0;
  virtual Result<ReadAllResult> ReadAll(const ReadAllRequest& request) = 0;
  // Visits $all records in [from, to) ∩ [.., watermark) in position order without copying;
  // stops early when `visit` returns false. For scans, replays and verification.
  virtual Status ScanAll(Position from, Position to,
                         const std::function<bool(const RecordView&)>& visit) = 0;

  virtual Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) = 0;

  // Cold tier. Archive(): the archivers' state (enabled = false without a cold tier).
  virtual Result<ArchiveStatus> Archive() = 0;
  // Every archived segment of every shard, by shard then position.
  virtual Result<std::vector<SegmentInfo>> ListSegments() = 0;
  // Seals every shard's open segment and waits until every sealed segment is archived, or
  // the deadline passes (kTimeout). For shutdown, tests and tools.
  virtual Status ArchiveAll(Deadline deadline) = 0;
  // Streams a consistent checkpoint of every shard to the cold tier as a snapshot (snapshot.h).
  virtual Result<SnapshotInfo> Snapshot(
      const std::function<void(const SnapshotProgress&)>& progress) = 0;

  // Scrubs what the store keeps (check.h): checksums of the log, the indexes and their
  // metadata, and with options.cold every archived segment. Reads only; runs while the store
  // serves. Problems are in the report; an error means the check itself could not run.
  virtual Result<CheckReport> Check(const CheckOptions& options) = 0;
  // First position not yet durable: every position below it is readable from $all.
  virtual Position Watermark() const = 0;
  virtual StoreStats Stats() = 0;
  // Drains queues and closes. Idempotent.
  virtual Status Close() = 0;
};

}  // namespace strata
