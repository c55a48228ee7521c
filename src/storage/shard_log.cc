// Shard: its log as the tiers above the warm one see it (the ShardLog seam,
// storage/log/shard_log.h): recovery on open (the indexer's replay, then the writer's last
// position, stream number and segment counter, and the warm floor) and the warm floor that local
// retention raises. Segment sealing is the writer's (shard_writer.cc).
#include "base/coding.h"
#include "storage/shard.h"

namespace strata::storage {
namespace {
constexpr std::string_view kWarmFloorKey = "cold.warm_floor";
}  // namespace

Status Shard::Recover() {
  auto recovered = indexer_.Recover();
  if (!recovered) return recovered.error();
  writer_.Recover(*recovered);
  auto floor = warm_->GetMeta(kWarmFloorKey);
  if (!floor) return floor.error();
  if (*floor && (*floor)->size() == 8) warm_floor_.store(GetLittle64((*floor)->data()));
  return OkStatus();
}

Status Shard::DropWarmBelow(uint64_t floor) {
  if (floor <= warm_floor()) return OkStatus();
  // Only indexed positions: recovery re-indexes from the log after the indexer checkpoint.
  STRATA_CHECK(floor <= indexed_upto() + 1, "retention past the indexer checkpoint");
  // Publish the floor before the records go: a reader that takes an iterator and then reads
  // the floor (NewLogCursor) gets either the records or a floor above them. Point reads that
  // miss fall back to the cold tier (FetchRecords).
  const uint64_t old_floor = warm_floor_.exchange(floor, std::memory_order_acq_rel);
  std::string value;  // the floor, little-endian (as Recover reads it)
  AppendLittle64(value, floor);
  auto st = warm_->DropRecords(Position(old_floor), Position(floor), kWarmFloorKey, value);
  // If the batch failed nothing was dropped: the next attempt starts from the old floor again
  // (readers that took the new one read archived positions from the cold tier meanwhile).
  if (!st) warm_floor_.store(old_floor, std::memory_order_release);
  return st;
}

}  // namespace strata::storage
