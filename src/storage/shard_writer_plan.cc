// ShardWriter: planning a group's ops against the in-memory stream heads (expected revisions,
// idempotency by event id, soft deletes and tombstones), loading heads and earlier events, and
// trimming the tails and evicting heads as the indexer catches up. Writer thread only, except
// where state_mu_ is taken for a change readers may see.
#include "model/stream_name.h"
#include "storage/shard_writer.h"

namespace strata::storage {

namespace {
Error WrongExpected(std::string_view stream, const StreamHead& h, const ExpectedRevision& e) {
  std::string actual =
      h.HasEvents() ? "is at revision " + std::to_string(h.last_revision) : "does not exist";
  if (h.SoftDeleted()) actual += " (soft-deleted)";
  Error err(ErrorCode::kWrongExpectedRevision,
            "stream '" + std::string(stream) + "' " + actual + ", but the append expected " +
                e.ToString() + "; read the stream and retry with its current revision");
  if (h.HasEvents()) err.actual_revision = static_cast<uint64_t>(h.last_revision);
  return err;
}

Status CheckExpected(std::string_view stream, const StreamHead& h, const ExpectedRevision& e) {
  bool ok = false;
  switch (e.kind()) {
    case ExpectedRevision::Kind::kAny:
      ok = true;
      break;
    case ExpectedRevision::Kind::kNoStream:
      ok = !h.Exists();
      break;
    case ExpectedRevision::Kind::kStreamExists:
      ok = h.Exists();
      break;
    case ExpectedRevision::Kind::kExact:
      ok = h.HasEvents() && static_cast<uint64_t>(h.last_revision) == e.revision().value();
      break;
  }
  if (ok) return OkStatus();
  return WrongExpected(stream, h, e);
}

Error Deleted(std::string_view stream) {
  return Error(ErrorCode::kStreamDeleted,
               "stream '" + std::string(stream) +
                   "' is tombstoned (hard-deleted) and can never be written again; use a new name");
}
}  // namespace

Result<ShardWriter::HeadEntry*> ShardWriter::LoadHead(std::string_view stream) {
  auto it = heads_.find(stream);
  if (it != heads_.end()) return it->second.get();
  auto stored = warm_->GetHead(stream);
  if (!stored) return stored.error();
  auto entry = std::make_unique<HeadEntry>();
  if (*stored) {
    auto decoded = StreamHead::Decode(**stored);
    if (!decoded) return decoded.error();
    entry->committed = *decoded;
    entry->planned = *decoded;
  }
  HeadEntry* raw = entry.get();
  std::unique_lock lock(state_mu_);
  heads_.emplace(std::string(stream), std::move(entry));
  return raw;
}

Result<std::vector<ShardWriter::TailEntry>> ShardWriter::LoadEntries(HeadEntry& h, uint64_t from,
                                                                     uint64_t count) {
  std::vector<TailEntry> out;
  uint64_t tail_front = h.tail_begin < h.tail.size() ? h.tail[h.tail_begin].revision : UINT64_MAX;
  if (from < tail_front) {
    uint64_t warm_count = std::min(count, tail_front - from);
    auto idx = indexer_->runs().FindStream(h.planned.number.value(), from, from + warm_count - 1);
    std::vector<Position> positions;
    for (auto& [rev, pos] : idx) positions.push_back(Position(pos));
    std::vector<std::string> records;
    STRATA_TRY(FetchRecordsFromTiers(*warm_, cold_, positions, &records));
    for (auto& rec : records) {
      auto v = DecodeRecord(rec);
      if (!v) return v.error();
      out.push_back({v->header.revision.value(), v->header.position.value(), v->header.event_id,
                     v->header.recorded_ts});
    }
  }
  for (size_t i = h.tail_begin; i < h.tail.size() && out.size() < count; ++i) {
    if (h.tail[i].revision >= from) out.push_back(h.tail[i]);
  }
  return out;
}

const ShardWriter::TailEntry* ShardWriter::HeadEntry::FindInTail(const Uuid& id) {
  constexpr size_t kScanLimit = 32;
  if (tail.size() - tail_begin <= kScanLimit && tail_ids.empty()) {
    for (size_t i = tail_begin; i < tail.size(); ++i) {
      if (tail[i].id == id) return &tail[i];
    }
    return nullptr;
  }
  // Long tail: index the entries added since the last lookup, then look up. Entries of trimmed
  // events go stale; rebuild when they outnumber the live ones.
  const size_t live = tail.size() - tail_begin;
  if (tail_ids.size() > 2 * live + 1024) {
    tail_ids.clear();
    tail_ids_upto = tail_base + tail_begin;
  }
  if (tail_ids_upto < tail_base + tail_begin) tail_ids_upto = tail_base + tail_begin;
  for (uint64_t abs = tail_ids_upto; abs < tail_base + tail.size(); ++abs) {
    tail_ids[tail[abs - tail_base].id] = abs;
  }
  tail_ids_upto = tail_base + tail.size();
  auto it = tail_ids.find(id);
  if (it == tail_ids.end() || it->second < tail_base + tail_begin) return nullptr;  // trimmed
  const TailEntry& e = tail[it->second - tail_base];
  return e.id == id ? &e : nullptr;
}

void ShardWriter::SetDeduplicated(const std::vector<TailEntry>& found, size_t n, Plan& plan) {
  AppendResult r;
  r.count = static_cast<uint32_t>(n);
  r.first_revision = Revision(found.front().revision);
  r.last_revision = Revision(found.back().revision);
  r.first_position = Position(found.front().position);
  r.last_position = Position(found.back().position);
  r.stream_exists = true;
  r.deduplicated = true;
  plan.state = Plan::State::kDone;
  plan.result = r;
}

void ShardWriter::SetIdempotencyConflict(const AppendRequest& req, size_t matched, Plan& plan) {
  plan.state = Plan::State::kDone;
  plan.result = Error(ErrorCode::kIdempotencyConflict,
                      std::to_string(matched) + " of the " + std::to_string(req.events.size()) +
                          " event ids were already appended to stream '" + req.stream +
                          "' by an earlier append; retry the earlier append exactly, or give "
                          "new events new ids");
}

bool ShardWriter::CheckDuplicates(HeadEntry& h, const AppendRequest& req, Plan& plan) {
  if (req.events.empty()) return true;
  const int64_t now = options_.clock->NowMicros();
  const int64_t window =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.idempotency_window).count();
  auto kind = req.expected.kind();
  if (kind == ExpectedRevision::Kind::kExact || kind == ExpectedRevision::Kind::kNoStream) {
    if (auto decided = CheckDuplicatesAtExpected(h, req, now, window, plan)) return *decided;
    // Not where the expected revision says: the original may have gone elsewhere (e.g. a
    // no_stream append that re-opened a soft-deleted stream). Look the ids up.
  }
  // any / stream_exists (and the fall-through above): look each id up.
  return CheckDuplicatesById(h, req, now, window, plan);
}

std::optional<bool> ShardWriter::CheckDuplicatesAtExpected(HeadEntry& h, const AppendRequest& req,
                                                           int64_t now, int64_t window,
                                                           Plan& plan) {
  const size_t n = req.events.size();
  const StreamHead& s = h.planned;
  int64_t r = req.expected.kind() == ExpectedRevision::Kind::kExact
                  ? static_cast<int64_t>(req.expected.revision().value())
                  : -1;
  if (!s.HasEvents() || s.last_revision <= r) return true;
  uint64_t avail = std::min<uint64_t>(n, static_cast<uint64_t>(s.last_revision - r));
  for (auto& [rev, pid] : h.group_pending) {
    if (rev >= static_cast<uint64_t>(r + 1) && rev < static_cast<uint64_t>(r + 1) + avail) {
      return false;  // the original is in this very group: decide next group
    }
  }
  auto entries = LoadEntries(h, static_cast<uint64_t>(r + 1), avail);
  if (!entries) {
    plan.state = Plan::State::kDone;
    plan.result = entries.error();
    return true;
  }
  size_t matched = 0;
  for (size_t i = 0; i < entries->size(); ++i) {
    if ((*entries)[i].id == req.events[i].event_id) ++matched;
  }
  if (matched == 0) return std::nullopt;
  bool fresh = now - entries->front().recorded_ts <= window;
  if (matched == n && entries->size() == n && fresh) {
    SetDeduplicated(*entries, n, plan);
  } else if (fresh) {
    SetIdempotencyConflict(req, matched, plan);
  }
  return true;
}

bool ShardWriter::CheckDuplicatesById(HeadEntry& h, const AppendRequest& req, int64_t now,
                                      int64_t window, Plan& plan) {
  const size_t n = req.events.size();
  const StreamHead& s = h.planned;
  auto pending_has = [&](const Uuid& id) {
    for (auto& [rev, pid] : h.group_pending) {
      if (pid == id) return true;
    }
    return false;
  };
  if (s.number.value() == 0) return true;  // never had events
  std::vector<TailEntry> found;
  for (const auto& e : req.events) {
    if (pending_has(e.event_id)) return false;
    const TailEntry* hit = h.FindInTail(e.event_id);
    if (hit) {
      if (now - hit->recorded_ts <= window) found.push_back(*hit);
      continue;
    }
    if (!s.HasEvents()) continue;
    auto d = indexer_->runs().FindDedupe(s.number.value(), e.event_id);
    if (d && now - d->recorded_ts <= window) {
      found.push_back({d->revision, d->position, e.event_id, d->recorded_ts});
    }
  }
  if (found.empty()) return true;
  bool consecutive = found.size() == n;
  for (size_t i = 1; consecutive && i < found.size(); ++i) {
    consecutive = found[i].revision == found[i - 1].revision + 1;
  }
  if (consecutive) {
    SetDeduplicated(found, n, plan);
  } else {
    SetIdempotencyConflict(req, found.size(), plan);
  }
  return true;
}

void ShardWriter::PlanAppend(ShardOp& op, Plan& plan) {
  AppendRequest& req = op.request;
  auto done = [&](Result<AppendResult> r) {
    plan.state = Plan::State::kDone;
    plan.result = std::move(r);
  };
  auto loaded = LoadHead(req.stream);
  if (!loaded) return done(loaded.error());
  HeadEntry& h = **loaded;
  HeadEntry* target = nullptr;
  if (IsMetadataStream(req.stream)) {
    auto t = LoadHead(OriginalStreamOf(req.stream));
    if (!t) return done(t.error());
    target = *t;
    if (target->planned.tombstoned) return done(Deleted(OriginalStreamOf(req.stream)));
  }
  if (h.planned.tombstoned) return done(Deleted(req.stream));
  if (!plan.is_delete) {
    if (!CheckDuplicates(h, req, plan)) {
      plan.state = Plan::State::kDeferred;
      return;
    }
    if (plan.state == Plan::State::kDone) return;
    if (auto st = CheckExpected(req.stream, h.planned, req.expected); !st) return done(st.error());
  }

  // $metadata events in $$X set X's metadata; the last one wins.
  const EventData* last_meta = nullptr;
  StreamMetadata new_meta;
  if (target) {
    for (const auto& e : req.events) {
      if (e.type != kMetadataEventType) continue;
      auto m = ParseStreamMetadata(e.data);
      if (!m) return done(m.error());
      new_meta = *m;
      last_meta = &e;
    }
  }

  StreamHead& s = h.planned;
  if (req.events.empty()) {
    AppendResult r;
    r.stream_exists = s.Exists();
    r.last_revision = Revision(s.HasEvents() ? static_cast<uint64_t>(s.last_revision) : 0);
    return done(r);
  }
  if (s.number.value() == 0) s.number = StreamNumber(next_stream_number_++);
  plan.state = Plan::State::kWrite;
  plan.head = &h;
  plan.stream = req.stream;
  plan.events = &req.events;
  plan.first_revision = static_cast<uint64_t>(s.last_revision + 1);
  for (size_t i = 0; i < req.events.size(); ++i) {
    h.group_pending.emplace_back(plan.first_revision + i, req.events[i].event_id);
    plan.bytes += EncodedRecordSize(req.stream, req.events[i]);
  }
  s.last_revision += static_cast<int64_t>(req.events.size());
  if (last_meta) {
    target->planned.metadata = new_meta;
    target->planned.metadata_json = last_meta->data;
    plan.meta_target = target;
  }
}

void ShardWriter::PlanOp(ShardOp& op, Plan& plan) {
  if (op.kind == ShardOp::Kind::kAppend) return PlanAppend(op, plan);
  auto done = [&](Result<AppendResult> r) {
    plan.state = Plan::State::kDone;
    plan.result = std::move(r);
  };
  const std::string stream = op.request.stream;
  auto loaded = LoadHead(stream);
  if (!loaded) return done(loaded.error());
  HeadEntry& h = **loaded;
  if (h.planned.tombstoned) return done(Deleted(stream));
  if (auto st = CheckExpected(stream, h.planned, op.request.expected); !st) {
    return done(st.error());
  }
  plan.is_delete = true;
  if (op.kind == ShardOp::Kind::kSoftDelete) {
    // Soft delete = set $tb past the last event in $$stream, keeping the other metadata.
    uint64_t tb = static_cast<uint64_t>(h.planned.last_revision + 1);
    EventData e;
    e.event_id = Uuid::Random();
    e.type = std::string(kMetadataEventType);
    e.data = WithTruncateBefore(h.planned.metadata_json, tb);
    op.request.stream = "$$" + stream;
    op.request.expected = ExpectedRevision::Any();
    op.request.events.clear();
    op.request.events.push_back(std::move(e));
    return PlanAppend(op, plan);
  }
  // Tombstone: one record in the stream itself; the stream is final from now on.
  StreamHead& s = h.planned;
  if (s.number.value() == 0) s.number = StreamNumber(next_stream_number_++);
  EventData e;
  e.event_id = Uuid::Random();
  e.type = std::string(kTombstoneEventType);
  e.content_type = "application/octet-stream";
  plan.synthesized.push_back(std::move(e));
  plan.state = Plan::State::kWrite;
  plan.kind = RecordKind::kTombstone;
  plan.head = &h;
  plan.stream = heads_.find(stream)->first;
  plan.events = &plan.synthesized;
  plan.first_revision = kTombstoneRevision;
  plan.bytes = EncodedRecordSize(plan.stream, plan.synthesized[0]);
  s.tombstoned = true;
}

void ShardWriter::TrimTails(uint64_t indexed_upto) {
  while (!tail_fifo_.empty()) {
    HeadEntry* h = tail_fifo_.front();
    if (h->tail[h->tail_begin].position > indexed_upto) break;
    if (++h->tail_begin == h->tail.size()) {
      h->tail_base += h->tail.size();
      h->tail.clear();
      if (h->tail.capacity() > 64) h->tail.shrink_to_fit();  // a burst must not pin memory
      h->tail_begin = 0;
      h->tail_ids.clear();
      h->tail_ids_upto = h->tail_base;
    } else if (h->tail_begin >= 32 && h->tail_begin * 2 >= h->tail.size()) {
      h->tail.erase(h->tail.begin(), h->tail.begin() + h->tail_begin);
      h->tail_base += h->tail_begin;
      h->tail_begin = 0;
    }
    tail_fifo_.pop_front();
  }
}

void ShardWriter::EvictHeads() {
  if (heads_.size() <= options_.max_cached_streams) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_eviction_ < std::chrono::seconds(1)) return;  // a sweep is O(heads)
  last_eviction_ = now;
  const uint64_t indexed = indexer_->indexed_upto();
  const size_t target = options_.max_cached_streams - options_.max_cached_streams / 10;
  std::unique_lock lock(state_mu_);
  for (auto it = heads_.begin(); it != heads_.end() && heads_.size() > target;) {
    const HeadEntry& h = *it->second;
    // Nothing of it only in memory: no unindexed tail, its last change is in an index flush.
    if (h.tail_begin == h.tail.size() && h.changed_at <= indexed) {
      it = heads_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace strata::storage
