// The cold tier's reports: SegmentInfo, one archived segment as its manifest entry describes it
// (what StoreOperations::ListSegments reports), ArchiveShardStatus, one shard's archiver (a part
// of StoreOperations::Archive), and a snapshot's progress and result (StoreOperations::Snapshot;
// storage/operations.h).
#pragma once

#include <cstdint>
#include <string>

#include "model/types.h"

namespace strata {

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

}  // namespace strata
