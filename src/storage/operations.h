// StoreOperations: what an operator asks of a store, apart from its events: engine figures,
// the cold tier's archivers and segments, snapshots, and the scrub. Implemented by
// LocalStore and client::RemoteStore (through strata.v1.Admin); the admin service, the
// HTTP metrics and the operational commands (stats, archive, segments, snapshot, check) use it.
// Thread-safety: as Store.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/histogram.h"
#include "base/retry.h"
#include "model/types.h"
#include "storage/check.h"
#include "storage/cold/segment_info.h"

namespace strata {

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
  // The object-store WAL (docs/wal.md), with cold.wal: objects, bytes and records written since
  // open, failed PUT attempts, objects collected once archived and those still live, PUT time.
  bool wal = false;
  uint64_t wal_objects = 0, wal_bytes = 0, wal_events = 0, wal_put_failures = 0;
  uint64_t wal_deleted = 0, wal_live_objects = 0;
  LatencyHistogram::Snapshot wal_put_latency;
  std::vector<ShardStats> shards;
};

struct ArchiveStatus {
  bool enabled = false;
  std::string url;
  std::vector<ArchiveShardStatus> shards;
  uint64_t cold_reads = 0;  // records read from the cold tier since open
  uint64_t cache_hits = 0, cache_misses = 0, cache_bytes = 0;
};

class StoreOperations {
 public:
  virtual ~StoreOperations() = default;

  virtual StoreStats Stats() = 0;
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
};

}  // namespace strata
