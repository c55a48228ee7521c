#include "storage/cold/partition_history.h"

#include <algorithm>
#include <set>

#include "model/partition.h"
#include "model/record.h"
#include "storage/cold/cold_tier.h"
#include "storage/cold/segment_format.h"
#include "storage/cold/wal_format.h"

namespace strata::cold {
namespace {

// Keeps the records of `records` (one block, or one WAL group) that belong to a partition asked
// for and lie after `after`; returns how many.
Result<uint64_t> TakeRecords(std::string_view records, uint64_t after, PartitionHistory& h) {
  Status bad = OkStatus();
  uint64_t taken = 0;
  STRATA_TRY(ForEachRecord(records, [&](uint64_t position, std::string_view record) {
    if (position <= after) return true;
    auto r = DecodeRecord(record);
    if (!r) {
      bad = r.error();
      return false;
    }
    auto it = h.records.find(PartitionOf(r->stream, h.partitions));
    if (it != h.records.end() && it->second.emplace(position, std::string(record)).second) {
      ++taken;
    }
    return true;
  }));
  if (!bad) return bad.error();
  return taken;
}

// A shard's archived segments, in order, but those in `done` (which it extends); returns the
// last position they hold.
Result<uint64_t> ReadSegments(objstore::ObjectStore& store, uint32_t shard,
                              std::set<uint64_t>& done, PartitionHistory& h) {
  auto manifest = LoadManifest(store, shard);
  if (!manifest) return manifest.error();
  uint64_t last = 0;
  for (const SegmentInfo& s : *manifest) {
    last = std::max(last, s.last_position.value());
    if (!done.insert(s.segment_id).second) continue;
    auto reader = SegmentReader::Open(store, s.key);
    if (!reader) return reader.error();
    for (size_t b = 0; b < (*reader)->footer().blocks.size(); ++b) {
      auto block = (*reader)->ReadBlock(b);
      if (!block) return block.error();
      STRATA_TRY(TakeRecords(*block, 0, h));
    }
    h.bytes += s.bytes;
    ++h.segments;
  }
  return last;
}

// The shards' groups in the WAL objects, after what their segments hold (`after`, by shard).
// Each live object is read whole: they are few (garbage collection deletes them once archived,
// docs/wal.md). Returns whether an object listed was gone when fetched: a store that still runs
// deleted it once its groups were archived, maybe in segments newer than those read.
Result<bool> ReadWal(objstore::ObjectStore& store, const std::map<uint32_t, uint64_t>& after,
                     PartitionHistory& h) {
  auto objects = objstore::ListAll(store, kWalPrefix);
  if (!objects) return objects.error();
  bool vanished = false;
  for (const auto& info : *objects) {
    if (!ParseWalKey(info.key)) continue;
    auto bytes = objstore::GetString(store, info.key);
    if (!bytes && bytes.error().code() == ErrorCode::kObjectNotFound) {
      vanished = true;
      continue;
    }
    if (!bytes) return bytes.error();
    h.bytes += bytes->size();
    auto o = DecodeWalObject(*bytes, info.key);
    if (!o) return o.error();
    ++h.wal_objects;
    for (const WalGroup& g : o->groups) {
      auto it = after.find(g.shard);
      if (it == after.end() || g.last_position <= it->second) continue;
      auto taken = TakeRecords(g.records, it->second, h);
      if (!taken) return taken.error();
      h.wal_records += *taken;
    }
  }
  return vanished;
}

}  // namespace

Result<PartitionHistory> ReadPartitionHistory(objstore::ObjectStore& store,
                                              const std::vector<uint32_t>& partitions) {
  auto layout = ReadLayout(store);
  if (!layout) return layout.error();
  if (!*layout) {
    return Error(ErrorCode::kObjectNotFound, "no store has archived to " + store.url() +
                                                 " (it has no store.json), so it holds no "
                                                 "partition history");
  }
  PartitionHistory h;
  h.shards = (*layout)->shards;
  h.partitions = (*layout)->partitions;
  std::set<uint32_t> shards;
  for (uint32_t p : partitions) {
    if (h.shards == 0 || p >= h.partitions) {
      return Error(ErrorCode::kInvalidArgument,
                   "partition " + std::to_string(p) + " is not one of the " +
                       std::to_string(h.partitions) + " partitions of the store in " + store.url());
    }
    h.records[p];
    shards.insert(ShardOfPartition(p, h.shards));
  }
  std::map<uint32_t, std::set<uint64_t>> read;  // by shard: the segments read
  std::map<uint32_t, uint64_t> archived;        // by shard: the last position its segments hold
  for (uint32_t shard : shards) {
    auto last = ReadSegments(store, shard, read[shard], h);
    if (!last) return last.error();
    archived[shard] = *last;
  }
  auto vanished = ReadWal(store, archived, h);
  if (!vanished) return vanished.error();
  if (*vanished) {  // its groups are in segments archived since: read those too
    for (uint32_t shard : shards) {
      auto last = ReadSegments(store, shard, read[shard], h);
      if (!last) return last.error();
    }
  }
  return h;
}

}  // namespace strata::cold
