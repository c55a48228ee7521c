// Restore (docs/cold-tier.md): RestoreStore rebuilds an empty data directory from the latest
// (or a named) snapshot, then copies in the records of every archived segment after it, so the
// store opens with every archived event; with no snapshot it rebuilds from the segments alone.
// Last it copies the records of the object-store WAL after those (docs/wal.md), so a store that
// ran with `cold.wal` comes back with every acknowledged event.
// Taking, listing and pruning snapshots is the cold tier's (storage/cold/snapshots.h); they are
// named here too for the commands and the server.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"
#include "storage/cold/snapshots.h"

namespace strata {

using cold::HasRestorableStore;
using cold::ListSnapshots;
using cold::PruneSnapshots;
using cold::SnapshotListing;

struct RestoreOptions {
  std::string from;  // object store URL
  objstore::S3Config s3;
  std::string data_dir;
  std::string snapshot;  // id; empty: the latest
  // Called as work proceeds: phase "download", "segments", "wal", "done".
  std::function<void(const SnapshotProgress&)> progress;
};

struct RestoreResult {
  std::string snapshot;  // the id restored, empty when rebuilt from segments only
  uint64_t bytes = 0;    // downloaded snapshot bytes
  uint32_t files = 0;
  uint64_t segments = 0;     // archived segments copied in after the snapshot
  uint64_t events = 0;       // their events
  uint64_t wal_objects = 0;  // object-store WAL objects read (docs/wal.md)
  uint64_t wal_events = 0;   // records copied from them: the tail after the segments
  double seconds = 0;
};

// Requires `data_dir` to hold no store. On failure the directory may hold a partial restore
// without a STRATA file: remove it and run the restore again.
Result<RestoreResult> RestoreStore(const RestoreOptions& options);

}  // namespace strata
