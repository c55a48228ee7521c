// Partitions' history read straight from the object store a store wrote: its archived
// segments, then the object-store WAL records after them (wal.md). What a cluster member reads
// when it takes over the partitions of a member that died (docs/cluster.md, "Failover"): the store
// that wrote it may be gone, and nothing here needs it.
//
// Every acknowledged event of a store that ran with the object-store WAL is in one of the two
// (segments are never deleted; a WAL object is deleted only once every group in it is
// archived), so the history is complete up to the last WAL object that exists.
//
// Thread-safety: a plain function; it only reads the object store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"

namespace strata::cold {

struct PartitionHistory {
  uint32_t shards = 0, partitions = 0;  // the writing store's layout (store.json)
  uint64_t segments = 0;                // segment objects read
  uint64_t wal_objects = 0;             // WAL objects read
  uint64_t wal_records = 0;             // records taken from them (after the segments)
  uint64_t bytes = 0;                   // bytes fetched from the object store
  // By partition asked for: its records (record.h encoding), by position in the writing store.
  std::map<uint32_t, std::map<uint64_t, std::string>> records;
};

// Reads each shard that holds one of `partitions` once, and the WAL once. kObjectNotFound when
// `store` holds no store.json; kInvalidArgument when a partition is not below its partition
// count; kCorruption when an object is damaged.
Result<PartitionHistory> ReadPartitionHistory(objstore::ObjectStore& store,
                                              const std::vector<uint32_t>& partitions);

}  // namespace strata::cold
