// Taking over partitions from another store (docs/cluster.md, "Failover"): the events of the
// partitions, read from the object store the other store wrote (cold/partition_history.h: its
// segments, then its WAL), are appended to this store at the same stream revisions and with the
// same event ids. So every event acknowledged there is here, in order, and a client's retry of
// an acknowledged append is deduplicated here as it was there. Appending an event that is
// already here (a second takeover, or one cut short) is deduplicated too, so adopting is
// idempotent; an event here that the history lacks at the same revision is a conflict, and the
// adoption stops there with that error.
//
// What is not carried over: the other store's $all positions and recorded times (the events get
// this store's; each member has its own $all until the cluster's positions land, cluster.md).
//
// Thread-safety: a plain function; it blocks until every append it made has completed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"
#include "storage/store.h"

namespace strata::storage {

struct AdoptResult {
  uint64_t events = 0;        // records of the partitions found in the history
  uint64_t written = 0;       // events appended here
  uint64_t deduplicated = 0;  // events that were here already
  uint64_t streams = 0;
  uint64_t segments = 0, wal_objects = 0, bytes = 0;  // what was read from `from`
  double read_seconds = 0, seconds = 0;
};

// `partition_count` is this store's; the history's must be the same.
Result<AdoptResult> AdoptPartitions(Store& into, objstore::ObjectStore& from,
                                    const std::vector<uint32_t>& partitions,
                                    uint32_t partition_count);

}  // namespace strata::storage
