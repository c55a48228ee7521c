// The pieces of strata check shared by the offline check (check.cc) and a running store
// (StoreImpl::Check). Internal to src/storage.
#pragma once

#include <string>
#include <string_view>

#include "objstore/object_store.h"
#include "storage/check.h"
#include "storage/index_runs.h"
#include "storage/warm/warm_shard.h"

namespace strata::storage {

// STRATA: the store description.
void CheckStoreDescription(const std::string& data_dir, CheckReport* report);
// Every SST file's blocks, then every record of the events column family.
void CheckWarm(warm::WarmShard& warm, uint32_t shard, CheckReport* report);
// The runs a manifest names, read from their files. `shard` -1: the index streams' runs.
void CheckIndexRunFiles(const std::string& dir, std::string_view manifest, int64_t shard,
                        CheckReport* report);
// The published runs of a live index, through their mappings.
void CheckLiveIndexRuns(const IndexRuns& runs, int64_t shard, CheckReport* report);
// Segment files left in an archiver's outbox.
void CheckLocalSegments(const std::string& outbox, uint32_t shard, CheckReport* report);
// Every archived segment of every shard against its manifest entry, every block and record.
void CheckColdTier(objstore::ObjectStore& store, uint32_t shards, CheckReport* report);

}  // namespace strata::storage
