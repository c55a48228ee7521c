// Shard: stream reads and statistics. Readers copy a head and its unindexed tail from the writer
// (under its state lock, shared: ShardWriter::HeadForRead), then read the tiers without locks.
#include "storage/shard.h"

namespace strata::storage {

Result<std::optional<StreamHead>> Shard::GetHead(std::string_view stream) {
  if (auto committed = writer_.CommittedHead(stream)) return committed;
  auto stored = warm_->GetHead(stream);
  if (!stored) return stored.error();
  if (!*stored) return std::optional<StreamHead>();
  auto d = StreamHead::Decode(**stored);
  if (!d) return d.error();
  return std::optional<StreamHead>(std::move(*d));
}

bool PlanRevisions(const ReadStreamRequest& req, uint64_t first_visible, uint64_t last,
                   ReadStreamResult* out, uint64_t* lo, uint64_t* hi) {
  out->last_revision = Revision(last);
  const uint64_t count = std::max<uint64_t>(req.max_count, 1);
  if (req.direction == Direction::kForwards) {
    *lo = std::max(req.from ? req.from->value() : 0, first_visible);
    if (*lo > last) {
      out->end_of_stream = true;
      return false;
    }
    *hi = (last - *lo < count - 1) ? last : *lo + count - 1;
    out->end_of_stream = *hi == last;
    if (!out->end_of_stream) out->next = Revision(*hi + 1);
  } else {
    *hi = std::min(req.from ? req.from->value() : last, last);
    if (*hi < first_visible || (req.from && req.from->value() == kTombstoneRevision)) {
      out->end_of_stream = true;
      return false;
    }
    *lo = (*hi - first_visible + 1 > count) ? *hi - count + 1 : first_visible;
    out->end_of_stream = *lo == first_visible;
    if (!out->end_of_stream) out->next = Revision(*lo - 1);
  }
  return true;
}

Result<ReadStreamResult> Shard::ReadStream(const ReadStreamRequest& req, const hot::Ring* ring) {
  std::optional<StreamHead> head;
  std::vector<TailEntry> tail;
  STRATA_TRY(HeadForRead(req.stream, &head, &tail));
  auto not_found = [&] {
    return Error(ErrorCode::kStreamNotFound, "stream '" + req.stream + "' does not exist");
  };
  if (!head) return not_found();
  if (head->tombstoned) {
    return Error(ErrorCode::kStreamDeleted, "stream '" + req.stream + "' is tombstoned");
  }
  if (!head->HasEvents() || head->SoftDeleted()) return not_found();

  ReadStreamResult out;
  uint64_t lo, hi;  // inclusive revision range to return
  if (!PlanRevisions(req, head->FirstVisibleRevision(), static_cast<uint64_t>(head->last_revision),
                     &out, &lo, &hi)) {
    return out;
  }
  const bool forwards = req.direction == Direction::kForwards;
  std::vector<Position> positions;
  STRATA_TRY(StreamPositions(req.stream, *head, tail, lo, hi, &positions));
  std::vector<std::string> records(positions.size());
  STRATA_TRY(RecordsAt(positions, ring, &records));

  const int64_t now = options_.clock->NowMicros();
  const int64_t min_ts =
      head->metadata.max_age_seconds
          ? now - static_cast<int64_t>(*head->metadata.max_age_seconds) * 1'000'000
          : INT64_MIN;
  out.events.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    size_t k = forwards ? i : records.size() - 1 - i;
    auto v = DecodeRecord(records[k]);
    if (!v) return v.error();
    if (v->header.position != positions[k] || v->stream != req.stream) {
      return Error(ErrorCode::kCorruption, "position " + std::to_string(positions[k].value()) +
                                               " does not hold an event of '" + req.stream + "'");
    }
    if (v->header.recorded_ts < min_ts) continue;
    out.events.push_back(v->ToEvent());
  }
  return out;
}

Status Shard::HeadForRead(const std::string& stream, std::optional<StreamHead>* head,
                          std::vector<TailEntry>* tail) {
  writer_.HeadForRead(stream, head, tail);
  if (!*head) {
    // Not in memory: the persisted head is complete for it (everything of a stream that is not
    // in the writer's heads has been indexed). Do not ask the writer again: a head found there
    // now would not match the (empty) tail copied above.
    auto stored = warm_->GetHead(stream);
    if (!stored) return stored.error();
    if (*stored) {
      auto d = StreamHead::Decode(**stored);
      if (!d) return d.error();
      *head = std::move(*d);
    }
  }
  return OkStatus();
}

Status Shard::StreamPositions(const std::string& stream, const StreamHead& head,
                              const std::vector<TailEntry>& tail, uint64_t lo, uint64_t hi,
                              std::vector<Position>* positions) {
  // Indexed revisions from the warm stream index, the rest from the tail copy.
  positions->reserve(hi - lo + 1);
  const uint64_t tail_front = tail.empty() ? UINT64_MAX : tail.front().revision;
  if (lo < tail_front) {
    uint64_t warm_hi = std::min(hi, tail_front - 1);
    auto idx = indexer_.runs().FindStream(head.number.value(), lo, warm_hi);
    if (idx.size() != warm_hi - lo + 1) {
      return Error(ErrorCode::kCorruption, "the stream index of '" + stream +
                                               "' is missing revisions in " + std::to_string(lo) +
                                               ".." + std::to_string(warm_hi));
    }
    for (auto& [rev, pos] : idx) positions->push_back(Position(pos));
  }
  for (const auto& t : tail) {
    if (t.revision >= lo && t.revision <= hi) positions->push_back(Position(t.position));
  }
  if (positions->size() != hi - lo + 1) {
    return Error(ErrorCode::kInternal, "stream '" + stream + "': revisions " + std::to_string(lo) +
                                           ".." + std::to_string(hi) +
                                           " are not all indexed; please report this");
  }
  return OkStatus();
}

Status Shard::RecordsAt(const std::vector<Position>& positions, const hot::Ring* ring,
                        std::vector<std::string>* records) {
  // From the ring while hot, else one MultiGet from the warm tier.
  std::vector<Position> warm_positions;
  std::vector<size_t> warm_slots;
  for (size_t i = 0; i < positions.size(); ++i) {
    if (!ring || !ring->Read(positions[i], &(*records)[i])) {
      warm_positions.push_back(positions[i]);
      warm_slots.push_back(i);
    }
  }
  if (!warm_positions.empty()) {
    std::vector<std::string> fetched;
    STRATA_TRY(FetchRecords(warm_positions, &fetched));
    for (size_t k = 0; k < warm_slots.size(); ++k)
      (*records)[warm_slots[k]] = std::move(fetched[k]);
  }
  return OkStatus();
}

ShardStats Shard::Stats() {
  ShardStats s;
  s.shard = id_.value();
  auto w = warm_->Stats();
  s.events = w.estimated_events;
  s.bytes = w.live_bytes;
  s.compaction_pending_bytes = w.compaction_pending_bytes;
  s.running_compactions = w.running_compactions;
  s.write_stall_micros = w.write_stall_micros;
  s.memtable_bytes = w.memtable_bytes;
  s.write_stopped = w.write_stopped;
  s.streams = w.estimated_streams;
  s.index_runs = indexer_.runs().run_count();
  s.index_entries = indexer_.runs().entry_count(RunKind::kStream);
  const uint64_t indexed = indexer_.indexed_upto();
  s.last_position = last_position();
  s.indexed_upto = Position(indexed);
  writer_.Stats(&s);  // unindexed_events, groups, fsyncs, appends, queue_depth
  return s;
}

Status FetchRecordsFromTiers(warm::WarmShard& warm, cold::ColdShard* cold,
                             const std::vector<Position>& positions,
                             std::vector<std::string>* out) {
  std::vector<bool> found;
  STRATA_TRY(warm.GetRecordsIfPresent(positions, out, &found));
  for (size_t i = 0; i < positions.size(); ++i) {
    if (found[i]) continue;
    std::optional<std::string> from_cold;
    if (cold) {
      auto r = cold->Get(positions[i].value());
      if (!r) return r.error();
      from_cold = std::move(*r);
    }
    if (!from_cold) {
      return Error(ErrorCode::kCorruption, "the stream index points at position " +
                                               std::to_string(positions[i].value()) +
                                               " but neither the warm nor the cold tier has it");
    }
    (*out)[i] = std::move(*from_cold);
  }
  return OkStatus();
}

Status Shard::FetchRecords(const std::vector<Position>& positions, std::vector<std::string>* out) {
  return FetchRecordsFromTiers(*warm_, cold_, positions, out);
}

namespace {

// The shard's log across tiers: positions below the warm floor (as of creation) from the cold
// cursor, the rest from the warm one. Retention only drops archived positions, and the warm
// iterator keeps its creation-time view, so a floor that moves during the scan is harmless.
class TieredCursor final : public storage::LogCursor {
 public:
  TieredCursor(std::unique_ptr<storage::LogCursor> cold, std::unique_ptr<storage::LogCursor> warm,
               uint64_t floor)
      : cold_(std::move(cold)), warm_(std::move(warm)), floor_(floor) {}

  void Seek(Position p) override {
    if (cold_ && p.value() < floor_) {
      cold_->Seek(p);
      if (!cold_->status() || (cold_->Valid() && cold_->position().value() < floor_)) {
        on_cold_ = true;
        return;
      }
    }
    on_cold_ = false;
    warm_->Seek(Position(std::max(p.value(), floor_)));
  }
  void SeekForPrev(Position p) override {
    if (!cold_ || p.value() >= floor_) {
      warm_->SeekForPrev(p);
      if (!cold_ || (warm_->Valid() && warm_->position().value() >= floor_) || !warm_->status()) {
        on_cold_ = false;
        return;
      }
    }
    on_cold_ = true;
    cold_->SeekForPrev(Position(std::min(p.value(), floor_ - 1)));
  }
  bool Valid() const override {
    if (on_cold_) return cold_->Valid() && cold_->position().value() < floor_;
    return warm_->Valid();
  }
  void Next() override {
    if (!on_cold_) return warm_->Next();
    cold_->Next();
    if (!cold_->status()) return;
    if (!cold_->Valid() || cold_->position().value() >= floor_) {
      on_cold_ = false;
      warm_->Seek(Position(floor_));
    }
  }
  void Prev() override {
    if (on_cold_) return cold_->Prev();
    warm_->Prev();
    if (cold_ && warm_->status() && (!warm_->Valid() || warm_->position().value() < floor_)) {
      on_cold_ = true;
      cold_->SeekForPrev(Position(floor_ - 1));
    }
  }
  Position position() const override { return on_cold_ ? cold_->position() : warm_->position(); }
  std::string_view record() const override { return on_cold_ ? cold_->record() : warm_->record(); }
  Status status() const override {
    if (cold_) STRATA_TRY(cold_->status());
    return warm_->status();
  }

 private:
  std::unique_ptr<storage::LogCursor> cold_, warm_;
  const uint64_t floor_;
  bool on_cold_ = false;
};

}  // namespace

std::unique_ptr<storage::LogCursor> Shard::NewLogCursor() {
  // The iterator first, then the floor: retention publishes a new floor before it drops the
  // records, so an iterator that misses dropped records always comes with the floor above them.
  auto warm = warm_->NewCursor();
  const uint64_t floor = warm_floor();
  if (!cold_ || floor <= 1) return warm;
  return std::make_unique<TieredCursor>(cold_->NewCursor(), std::move(warm), floor);
}

}  // namespace strata::storage
