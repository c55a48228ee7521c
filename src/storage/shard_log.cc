// Shard: its log as the tiers above the warm one see it (the ShardLog seam,
// storage/log/shard_log.h): recovery on open (the indexer's replay, then the last position, the
// segment counter and the warm floor), the sealing of segments (writer thread) and the warm
// floor that local retention raises.
#include "base/coding.h"
#include "storage/shard.h"

namespace strata::storage {
namespace {
constexpr std::string_view kWarmFloorKey = "cold.warm_floor";
}  // namespace

Status Shard::Recover() {
  auto recovered = indexer_.Recover();
  if (!recovered) return recovered.error();
  // The segment counter continues after the last segment seen (a restart seals the open one).
  segment_seq_ = recovered->segment_seq;
  sealed_seq_.store(segment_seq_, std::memory_order_release);
  auto floor = warm_->GetMeta(kWarmFloorKey);
  if (!floor) return floor.error();
  if (*floor && (*floor)->size() == 8) warm_floor_.store(GetLittle64((*floor)->data()));
  next_stream_number_ = recovered->next_stream_number;
  last_position_.store(recovered->last_position, std::memory_order_release);
  return OkStatus();
}

void Shard::RequestSeal() {
  seal_requested_.store(true, std::memory_order_release);
  { std::lock_guard lock(queue_mu_); }
  queue_cv_.notify_all();
}

void Shard::SealIfIdle() {
  const bool requested = seal_requested_.exchange(false, std::memory_order_acq_rel);
  if (segment_started_us_ == 0) return;  // no open segment
  if (requested ||
      options_.clock->NowMicros() - segment_started_us_ > options_.segment_max_age.count()) {
    // Every record of the open segment is written (groups complete before the next starts);
    // the next group starts a new segment.
    sealed_seq_.store(segment_seq_, std::memory_order_release);
    segment_started_us_ = 0;
  }
}

uint64_t Shard::NextSegmentId(int64_t now_us, size_t bytes) {
  if (segment_started_us_ == 0 || now_us - segment_started_us_ > options_.segment_max_age.count() ||
      (segment_bytes_ > 0 && segment_bytes_ + bytes > options_.segment_max_bytes) ||
      seal_requested_.exchange(false, std::memory_order_acq_rel)) {
    // The groups of the current segment are all written: it is sealed.
    if (segment_seq_ > sealed_seq_.load(std::memory_order_relaxed)) {
      sealed_seq_.store(segment_seq_, std::memory_order_release);
    }
    ++segment_seq_;
    segment_started_us_ = now_us;
    segment_bytes_ = 0;
  }
  segment_bytes_ += bytes;
  return (static_cast<uint64_t>(id_.value()) << 48) | segment_seq_;
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
