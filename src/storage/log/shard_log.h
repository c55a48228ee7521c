// ShardLog: one shard's log as the tiers above the warm one see it — its positions and sealed
// segments, its warm records, the local-retention floor and checkpoints — without the shard
// itself. The cold tier's archiver and snapshots work on this seam (storage/cold/archiver.h,
// storage/cold/snapshots.h); Shard implements it.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"
#include "model/types.h"
#include "storage/log/log_cursor.h"

namespace strata::storage {

class ShardLog {
 public:
  virtual ~ShardLog() = default;
  virtual uint32_t shard_index() const = 0;
  // The last position written to this shard's log.
  virtual Position last_position() const = 0;
  // The highest sealed segment sequence: nothing more is written to it or an earlier one.
  virtual uint64_t sealed_segment_seq() const = 0;
  // Every position up to this is in a persisted index run (retention may drop it).
  virtual uint64_t indexed_upto() const = 0;
  // Positions below this are no longer in the warm tier.
  virtual uint64_t warm_floor() const = 0;
  // The warm tier's records in position order, not filling the block cache (bulk reads).
  virtual std::unique_ptr<LogCursor> NewWarmScan() = 0;
  // Makes what is written to the warm tier durable (with durability=async it may not be yet).
  virtual Status SyncWarm() = 0;
  // The warm tier's estimate of the bytes of positions [from, to].
  virtual uint64_t WarmBytes(Position from, Position to) = 0;
  // Retention: drops the warm copy of every position below `floor` (archived ones only).
  virtual Status DropWarmBelow(uint64_t floor) = 0;
  // A consistent copy of the shard in `dir` (created): db/ (a RocksDB checkpoint) and index/
  // (hard links to the index runs that checkpoint names). For snapshots.
  virtual Status Checkpoint(const std::string& dir) = 0;
};

}  // namespace strata::storage
