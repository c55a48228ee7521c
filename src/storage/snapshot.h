// Snapshots and restore (docs/cold-tier.md).
//
// A snapshot is a consistent copy of every shard — a RocksDB checkpoint (db/) and the index runs
// it names (index/) — under `snapshots/<id>/` in the cold tier's object store, committed by
// `snapshots/<id>/snapshot.json`, written last. Store::Snapshot takes one; files stream from
// disk (objstore::Upload), so memory stays at the store's transfer buffer. An interrupted
// snapshot is resumed by the next one: the checkpoint stays in <data>/.snapshot/<id>/ and files
// already uploaded with the right size are not sent again.
//
// RestoreStore rebuilds an empty data directory from the latest (or a named) snapshot, then
// copies in the records of every archived segment after it, so the store opens with every
// archived event; with no snapshot it rebuilds from the segments alone.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"
#include "storage/operations.h"
#include "storage/store.h"

namespace strata {

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

struct RestoreOptions {
  std::string from;  // object store URL
  objstore::S3Config s3;
  std::string data_dir;
  std::string snapshot;  // id; empty: the latest
  // Called as work proceeds: phase "download", "segments", "done".
  std::function<void(const SnapshotProgress&)> progress;
};

struct RestoreResult {
  std::string snapshot;  // the id restored, empty when rebuilt from segments only
  uint64_t bytes = 0;    // downloaded snapshot bytes
  uint32_t files = 0;
  uint64_t segments = 0;  // archived segments copied in after the snapshot
  uint64_t events = 0;    // their events
  double seconds = 0;
};

// Requires `data_dir` to hold no store. On failure the directory may hold a partial restore
// without a STRATA file: remove it and run the restore again.
Result<RestoreResult> RestoreStore(const RestoreOptions& options);

// True when `url` has something to restore from (a snapshot or a store layout).
Result<bool> HasRestorableStore(const std::string& url, const objstore::S3Config& s3);

}  // namespace strata
