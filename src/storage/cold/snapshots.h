// Snapshots in the cold tier (docs/cold-tier.md): taking one on the ShardLog seam, listing and
// pruning them, and the pieces a restore needs (storage/snapshot.h restores).
//
// A snapshot is a consistent copy of every shard — a RocksDB checkpoint (db/) and the index runs
// it names (index/) — under `snapshots/<id>/` in the object store, committed by
// `snapshots/<id>/snapshot.json`, written last. Files stream from disk (objstore::Upload), so
// memory stays at the store's transfer buffer. An interrupted snapshot is resumed by the next
// one: the checkpoint stays in the staging directory and files already uploaded with the right
// size are not sent again.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"
#include "storage/cold/segment_info.h"
#include "storage/log/shard_log.h"

namespace strata::cold {

inline constexpr std::string_view kSnapshotsPrefix = "snapshots/";
inline constexpr std::string_view kCommitName = "snapshot.json";

// Takes (or resumes) a snapshot of `shards` into `store`, staging checkpoints in `staging_dir`
// (<data>/.snapshot). One at a time per store: the caller serializes.
Result<SnapshotInfo> TakeSnapshot(const std::vector<storage::ShardLog*>& shards,
                                  uint32_t partitions, objstore::ObjectStore& store,
                                  uint64_t part_bytes, const std::string& staging_dir,
                                  const std::function<void(const SnapshotProgress&)>& progress);

struct SnapshotListing {
  std::string id;
  int64_t created_us = 0;
  uint64_t bytes = 0;
  uint32_t files = 0;
  uint32_t shards = 0;
};

// The complete snapshots in `store`, oldest first.
Result<std::vector<SnapshotListing>> ListSnapshots(objstore::ObjectStore& store);
// Deletes all but the newest `keep` complete snapshots (and abandoned partial uploads older
// than the newest complete one).
Status PruneSnapshots(objstore::ObjectStore& store, uint32_t keep);
// True when `url` has something to restore from (a snapshot or a store layout).
Result<bool> HasRestorableStore(const std::string& url, const objstore::S3Config& s3);

// A snapshot file's path inside the data directory: shard-NNN/db/NAME or shard-NNN/index/NAME.
// Anything else (absolute, "..", other directories) would let a damaged or hostile snapshot
// description write outside the store.
bool IsSnapshotFilePath(const std::string& rel);
// Streams `key` into a new local file, durably: fdatasynced, its directory entry fsynced.
Status DownloadFile(objstore::ObjectStore& store, const std::string& key,
                    const std::filesystem::path& to, const std::function<void(uint64_t)>& on_bytes);

}  // namespace strata::cold
