// WarmShard: one shard's RocksDB (docs/warm-layout.md), behind Strata's own types.
//
// Column families: events (position -> record; written by the shard writer), heads (stream
// name -> head state), time (block -> min/max source_ts), default (meta: the indexer checkpoint,
// the index-run manifest, counters). Everything but `events` is written by the indexer, so the
// append path does one sequential write per event. The stream and dedupe indexes are not in
// RocksDB: see storage/index_runs.h.
//
// Thread-safety: WriteRecords from the shard writer thread only; CommitIndex from the indexer
// thread only; every read from any thread. RocksDB provides the synchronisation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/uuid.h"
#include "model/types.h"
#include "storage/log/log_cursor.h"
#include "storage/warm/warm_options.h"

namespace strata::warm {

// State shared by every shard of a store: block cache, memtable budget.
class SharedResources {
 public:
  static std::shared_ptr<SharedResources> Create(const WarmOptions& options);
  virtual ~SharedResources() = default;
};

// A batch of index writes, applied atomically with the checkpoint.
class IndexBatch {
 public:
  IndexBatch();
  ~IndexBatch();
  void PutHead(std::string_view stream, std::string_view encoded_head);
  void PutTimeBlock(uint64_t block, int64_t min_ts, int64_t max_ts);
  void PutMeta(std::string_view key, std::string_view value);
  size_t Count() const;

 private:
  friend class WarmShard;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

struct WarmStats {
  uint64_t estimated_events = 0;
  uint64_t estimated_streams = 0;  // keys in `heads` (streams and metadata streams)
  uint64_t live_bytes = 0;
  uint64_t compaction_pending_bytes = 0;
  uint64_t running_compactions = 0;
  uint64_t write_stall_micros = 0;
  uint64_t memtable_bytes = 0;
  bool write_stopped = false;
};

// One SST file checked by VerifyFiles (strata check).
struct WarmFileCheck {
  std::string file;
  std::string column_family;
  uint64_t bytes = 0;
  uint64_t first_position = 0, last_position = 0;  // events column family only
  std::string error;                               // empty when every block checks out
};

class WarmShard {
 public:
  static Result<std::unique_ptr<WarmShard>> Open(const std::string& dir, const WarmOptions& options,
                                                 bool create_if_missing,
                                                 std::shared_ptr<SharedResources> shared);
  // Without writing anything (no recovery writes, no compactions): for strata check of a store
  // no process has open. Only reads are valid.
  static Result<std::unique_ptr<WarmShard>> OpenReadOnly(const std::string& dir,
                                                         const WarmOptions& options,
                                                         std::shared_ptr<SharedResources> shared);
  ~WarmShard();

  // Writes records keyed by position in one atomic batch; with sync, returns after the WAL is
  // fdatasynced (the records are durable), else after write(2).
  Status WriteRecords(const std::vector<std::pair<Position, std::string_view>>& records, bool sync);
  Status SyncWal();
  // After a write failed (a full disk: kDiskFull), makes RocksDB accept writes again: it flushes
  // the memtables first, so the WAL of the failed write is never replayed. Writer thread.
  Status Resume();

  Result<std::optional<std::string>> GetRecord(Position p);
  // Fills out[i] for positions[i]; a missing record sets found[i] = false (it left the warm
  // tier for the cold one, or the caller's index is wrong: Shard::FetchRecords decides).
  Status GetRecordsIfPresent(const std::vector<Position>& positions, std::vector<std::string>* out,
                             std::vector<bool>* found);
  // fill_cache = false for bulk scans (archiving) that should not evict the block cache.
  std::unique_ptr<storage::LogCursor> NewCursor(bool fill_cache = true);
  // Last position in the log, or nullopt when empty.
  Result<std::optional<Position>> LastPosition();

  // Applies the batch atomically; with sync, fdatasyncs the WAL first.
  Status CommitIndex(IndexBatch& batch, bool sync);
  // The min/max source_ts of a time block, if written.
  Result<std::optional<std::pair<int64_t, int64_t>>> GetTimeBlock(uint64_t block);
  Result<std::optional<std::string>> GetHead(std::string_view stream);
  Result<std::optional<std::string>> GetMeta(std::string_view key);
  Status PutMeta(std::string_view key, std::string_view value);
  // Visits every (stream name, encoded head); for stats and verification.
  Status ForEachHead(const std::function<bool(std::string_view, std::string_view)>& visit);

  WarmStats Stats();
  // Reads every block of every live SST file and checks its checksum (strata check).
  std::vector<WarmFileCheck> VerifyFiles();

  // Cold tier support.
  // Removes the records in [from, to) and sets meta `key` to `value` in one synced batch.
  Status DropRecords(Position from, Position to, std::string_view key, std::string_view value);
  // RocksDB's estimate of the bytes the records in [from, to] take (files and memtables).
  uint64_t ApproximateBytes(Position from, Position to);
  // A consistent checkpoint of this shard's RocksDB in `dir` (which must not exist): hard links
  // to the live files where possible.
  Status Checkpoint(const std::string& dir);

 private:
  struct Rep;
  static Result<std::unique_ptr<WarmShard>> OpenImpl(const std::string& dir,
                                                     const WarmOptions& options, bool create,
                                                     std::shared_ptr<SharedResources> shared,
                                                     bool read_only);
  explicit WarmShard(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace strata::warm
