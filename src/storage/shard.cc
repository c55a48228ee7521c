// Shard: queue, writer thread and group commit. The indexer is ShardIndexer
// (shard_indexer.cc); recovery, sealing and the warm floor are in shard_log.cc, reads in
// shard_read.cc.
#include "storage/shard.h"

#include <spdlog/spdlog.h>

#include "model/stream_name.h"

namespace strata::storage {

struct Shard::Plan {
  enum class State : uint8_t { kPending, kWrite, kDone, kDeferred };
  State state = State::kPending;
  Result<AppendResult> result;
  HeadEntry* head = nullptr;
  HeadEntry* meta_target = nullptr;  // X, when writing $metadata into $$X
  std::string_view stream;
  const std::vector<EventData>* events = nullptr;
  std::vector<EventData> synthesized;  // soft delete / tombstone records
  RecordKind kind = RecordKind::kEvent;
  uint64_t first_revision = 0;
  uint64_t first_position = 0;
  uint64_t bytes = 0;
  bool is_delete = false;
};

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

Shard::Shard(ShardId id, const StoreOptions& options, std::unique_ptr<warm::WarmShard> warm,
             std::string index_dir, DiskGuard* disk)
    : id_(id),
      options_(options),
      warm_(std::move(warm)),
      indexer_(id, options_, warm_.get(), std::move(index_dir), disk, this),
      disk_(disk) {}

Shard::~Shard() { Stop(); }

void Shard::Start(hot::Ring* ring) {
  ring_ = ring;
  started_ = true;
  writer_ = std::thread([this] { WriterLoop(); });
  indexer_.Start();
}

void Shard::Stop() {
  if (!started_) return;
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  queue_space_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  indexer_.Stop();
  started_ = false;
}

std::optional<Error> Shard::WriteError() const {
  if (failed()) {
    return Error(ErrorCode::kStoreClosed,
                 "shard " + std::to_string(id_.value()) +
                     " stopped accepting writes after an error it cannot recover from; see the "
                     "log, run 'strata check', and restart it");
  }
  if (blocked_.load(std::memory_order_acquire)) {
    std::lock_guard lock(block_mu_);
    if (writer_error_) return writer_error_;
    if (indexer_error_) return indexer_error_;
  }
  return std::nullopt;
}

void Shard::Block(Blocker who, const Error& e) {
  if (disk_) disk_->ReportFailure(e);
  std::lock_guard lock(block_mu_);
  std::optional<Error>& slot = who == Blocker::kWriter ? writer_error_ : indexer_error_;
  if (!writer_error_ && !indexer_error_) {
    spdlog::error("shard {}: {} failed, appends are refused until it can write again: {}",
                  id_.value(), who == Blocker::kWriter ? "a write" : "an index flush",
                  e.ToString());
  }
  slot = e;
  blocked_.store(true, std::memory_order_release);
}

void Shard::Unblock(Blocker who) {
  std::lock_guard lock(block_mu_);
  std::optional<Error>& slot = who == Blocker::kWriter ? writer_error_ : indexer_error_;
  if (!slot) return;
  slot.reset();
  if (!writer_error_ && !indexer_error_) {
    blocked_.store(false, std::memory_order_release);
    spdlog::info("shard {}: writes resumed", id_.value());
  }
}

void Shard::TryResume() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_resume_try_ < std::chrono::milliseconds(200)) return;
  last_resume_try_ = now;
  bool writer_blocked;
  {
    std::lock_guard lock(block_mu_);
    writer_blocked = writer_error_.has_value();
  }
  // Resuming makes RocksDB flush its memtables: only with the reserve free. An index flush
  // that failed in RocksDB stopped the same instance, so this runs for either blocker; the
  // indexer retries its flush on its own.
  if (disk_ && !disk_->HasRoom()) return;
  if (auto st = warm_->Resume(); !st) {
    // Busy: RocksDB's own recovery is running (it retries file-level errors every second);
    // appends keep getting the error that blocked them, which says what to do.
    spdlog::debug("shard {}: not resumed yet: {}", id_.value(), st.error().ToString());
    return;
  }
  if (writer_blocked) Unblock(Blocker::kWriter);
}

void Shard::Submit(ShardOp op) {
  auto reject = [&](Error e) { op.done(std::move(e)); };
  // Refused at once, not queued: a full or failed disk must not turn into server-busy timeouts.
  if (auto e = WriteError()) return reject(std::move(*e));
  if (disk_) {
    if (auto st = disk_->CheckAppend(); !st) return reject(st.error());
  }
  std::unique_lock lock(queue_mu_);
  while (!stopping_ && !queue_.empty() &&
         (queue_.size() >= options_.max_queued_appends ||
          queued_bytes_ + op.bytes > options_.max_queued_bytes)) {
    if (queue_space_cv_.wait_until(lock, op.request.deadline) == std::cv_status::timeout) {
      lock.unlock();
      return reject(Error(ErrorCode::kServerBusy,
                          "the server is busy: shard " + std::to_string(id_.value()) +
                              " has a full append queue; retry with back-off or a later deadline"));
    }
  }
  if (stopping_) {
    lock.unlock();
    return reject(Error(ErrorCode::kStoreClosed, "the store is shutting down"));
  }
  queued_bytes_ += op.bytes;
  queue_.push_back(std::move(op));
  queue_depth_.store(queue_.size(), std::memory_order_relaxed);
  lock.unlock();
  queue_cv_.notify_one();
}

void Shard::WriterLoop() {
  std::vector<ShardOp> ops;
  while (true) {
    ops.clear();
    {
      std::unique_lock lock(queue_mu_);
      // Wake at least every 200 ms while idle, to seal an open segment that has aged.
      queue_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return !queue_.empty() || stopping_ || !deferred_.empty() ||
               seal_requested_.load(std::memory_order_acquire);
      });
      if (queue_.empty() && deferred_.empty()) {
        if (stopping_) break;
        lock.unlock();
        SealIfIdle();
        if (blocked_.load(std::memory_order_acquire)) TryResume();
        continue;
      }
      ops.swap(deferred_);
      size_t events = 0, taken = 0;
      for (auto& op : ops) events += op.request.events.size() + 1;
      while (taken < queue_.size() && (taken == 0 || events < options_.max_group_events)) {
        events += queue_[taken].request.events.size() + 1;
        queued_bytes_ -= queue_[taken].bytes;
        ops.push_back(std::move(queue_[taken]));
        ++taken;
      }
      queue_.erase(queue_.begin(), queue_.begin() + taken);
      queue_depth_.store(queue_.size(), std::memory_order_relaxed);
    }
    queue_space_cv_.notify_all();
    if (blocked_.load(std::memory_order_acquire)) TryResume();
    if (auto e = WriteError()) {
      FailAll(ops, *e);
      continue;
    }
    if (disk_) {
      if (auto st = disk_->CheckAppend(); !st) {
        FailAll(ops, st.error());
        continue;
      }
    }
    ProcessGroup(ops);
  }
}

void Shard::FailAll(std::vector<ShardOp>& ops, const Error& e) {
  for (auto& op : ops) op.done(e);
  ops.clear();
}

void Shard::RollBack(std::vector<Plan>& plans) {
  // Stream numbers handed out to new streams stay used: numbers need not be dense.
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    p.head->planned = p.head->committed;
    if (p.meta_target) p.meta_target->planned = p.meta_target->committed;
  }
}

Result<Shard::HeadEntry*> Shard::LoadHead(std::string_view stream) {
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

Result<std::vector<Shard::TailEntry>> Shard::LoadEntries(HeadEntry& h, uint64_t from,
                                                         uint64_t count) {
  std::vector<TailEntry> out;
  uint64_t tail_front = h.tail_begin < h.tail.size() ? h.tail[h.tail_begin].revision : UINT64_MAX;
  if (from < tail_front) {
    uint64_t warm_count = std::min(count, tail_front - from);
    auto idx = indexer_.runs().FindStream(h.planned.number.value(), from, from + warm_count - 1);
    std::vector<Position> positions;
    for (auto& [rev, pos] : idx) positions.push_back(Position(pos));
    std::vector<std::string> records;
    STRATA_TRY(FetchRecords(positions, &records));
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

const Shard::TailEntry* Shard::HeadEntry::FindInTail(const Uuid& id) {
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

void Shard::SetDeduplicated(const std::vector<TailEntry>& found, size_t n, Plan& plan) {
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

void Shard::SetIdempotencyConflict(const AppendRequest& req, size_t matched, Plan& plan) {
  plan.state = Plan::State::kDone;
  plan.result = Error(ErrorCode::kIdempotencyConflict,
                      std::to_string(matched) + " of the " + std::to_string(req.events.size()) +
                          " event ids were already appended to stream '" + req.stream +
                          "' by an earlier append; retry the earlier append exactly, or give "
                          "new events new ids");
}

bool Shard::CheckDuplicates(HeadEntry& h, const AppendRequest& req, Plan& plan) {
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

std::optional<bool> Shard::CheckDuplicatesAtExpected(HeadEntry& h, const AppendRequest& req,
                                                     int64_t now, int64_t window, Plan& plan) {
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

bool Shard::CheckDuplicatesById(HeadEntry& h, const AppendRequest& req, int64_t now, int64_t window,
                                Plan& plan) {
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
    auto d = indexer_.runs().FindDedupe(s.number.value(), e.event_id);
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

void Shard::PlanAppend(ShardOp& op, Plan& plan) {
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

void Shard::PlanOp(ShardOp& op, Plan& plan) {
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

void Shard::TrimTails(uint64_t indexed_upto) {
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

void Shard::EvictHeads() {
  if (heads_.size() <= options_.max_cached_streams) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_eviction_ < std::chrono::seconds(1)) return;  // a sweep is O(heads)
  last_eviction_ = now;
  const uint64_t indexed = indexer_.indexed_upto();
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

void Shard::TrimIndexedTails() {
  std::unique_lock lock(state_mu_);
  TrimTails(indexer_.indexed_upto());
}

bool Shard::Stopping() {
  std::lock_guard queue_lock(queue_mu_);
  return stopping_;
}

void Shard::ProcessGroup(std::vector<ShardOp>& ops) {
  const int64_t wait_start = MonotonicNanos();
  indexer_.WaitForSpace();
  if (auto e = WriteError()) return FailAll(ops, *e);
  EvictHeads();
  if (MonotonicNanos() - wait_start > 20'000'000) {
    spdlog::info("shard {}: waited {:.1f} ms for the indexer", id_.value(),
                 (MonotonicNanos() - wait_start) / 1e6);
  }
  const int64_t now = options_.clock->NowMicros();
  std::vector<Plan> plans(ops.size());
  uint32_t total_events = 0;
  uint64_t total_bytes = 0;
  PlanGroup(ops, plans, total_events, total_bytes);
  // A group whose write failed is already completed (every op failed or decided).
  if (total_events > 0 && !CommitGroup(ops, plans, now, total_events, total_bytes)) return;
  CompleteGroup(ops, plans);
}

void Shard::PlanGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, uint32_t& total_events,
                      uint64_t& total_bytes) {
  for (size_t i = 0; i < ops.size(); ++i) {
    PlanOp(ops[i], plans[i]);
    STRATA_CHECK(plans[i].state != Plan::State::kPending, "an op was left undecided");
    if (plans[i].state == Plan::State::kWrite) {
      total_events += static_cast<uint32_t>(plans[i].events->size());
      total_bytes += plans[i].bytes;
    }
  }
  for (auto& p : plans) {
    if (p.head) p.head->group_pending.clear();
  }
}

bool Shard::CommitGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, int64_t now,
                        uint32_t total_events, uint64_t total_bytes) {
  const uint64_t segment = NextSegmentId(now, total_bytes);
  // A failed write (or position reservation) rolls the group back and fails it (FailGroup).
  auto claimed = ring_->Claim(total_events, total_bytes);
  if (!claimed) {
    FailGroup(ops, plans, claimed.error());
    return false;
  }
  const hot::Ring::Claimed claim = *claimed;
  group_buffer_.resize(total_bytes);
  std::vector<std::pair<Position, std::string_view>> records;
  records.reserve(total_events);
  const uint64_t end = EncodeGroup(plans, claim.first.value(), segment, now, records);
  if (auto st = WriteGroup(records, total_events); !st) {
    // The range holds no record: RocksDB applies a batch whose WAL write failed to no
    // memtable, and its resume flushes the memtables so that WAL is never replayed.
    ring_->Abandon(claim.first, total_events);
    FailGroup(ops, plans, st.error());
    return false;
  }
  // Make the group visible: heads and tails first, then the ring and the watermark.
  CommitHeads(plans, now);
  PublishGroup(claim, records, now, total_events, end - 1);
  HandOffToIndexer(end - 1);
  return true;
}

void Shard::FailGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, const Error& e) {
  // The shard is blocked until its RocksDB can write again (TryResume). Nothing acknowledged
  // is touched.
  RollBack(plans);
  Block(Blocker::kWriter, e);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (plans[i].state == Plan::State::kDone) {
      ops[i].done(std::move(plans[i].result));
    } else {
      ops[i].done(e);
    }
  }
}

uint64_t Shard::EncodeGroup(std::vector<Plan>& plans, uint64_t first_position, uint64_t segment,
                            int64_t now,
                            std::vector<std::pair<Position, std::string_view>>& records) {
  char* out = group_buffer_.data();
  uint64_t pos = first_position;
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    p.first_position = pos;
    for (size_t k = 0; k < p.events->size(); ++k) {
      const EventData& e = (*p.events)[k];
      RecordHeader hdr;
      hdr.kind = p.kind;
      hdr.position = Position(pos);
      hdr.revision =
          Revision(p.kind == RecordKind::kTombstone ? kTombstoneRevision : p.first_revision + k);
      hdr.stream_number = p.head->planned.number;
      hdr.recorded_ts = now;
      hdr.source_ts = e.source_ts != 0 ? e.source_ts : now;
      hdr.segment_id = SegmentId(segment);
      hdr.event_id = e.event_id;
      char* end = EncodeRecord(hdr, p.stream, e, out);
      records.emplace_back(Position(pos), std::string_view(out, end - out));
      out = end;
      ++pos;
    }
  }
  return pos;
}

Status Shard::WriteGroup(const std::vector<std::pair<Position, std::string_view>>& records,
                         uint32_t total_events) {
  const int64_t write_start = MonotonicNanos();
  auto st = warm_->WriteRecords(records, options_.durability == Durability::kSync);
  const int64_t write_ns = MonotonicNanos() - write_start;
  if (write_ns > 20'000'000) {
    spdlog::info("shard {}: group commit of {} events took {:.1f} ms (write + fsync)", id_.value(),
                 total_events, write_ns / 1e6);
  }
  if (st) {
    groups_.fetch_add(1, std::memory_order_relaxed);
    if (options_.durability == Durability::kSync) fsyncs_.fetch_add(1, std::memory_order_relaxed);
  }
  return st;
}

void Shard::CommitHeads(std::vector<Plan>& plans, int64_t now) {
  std::unique_lock lock(state_mu_);
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    HeadEntry* h = p.head;
    if (p.kind == RecordKind::kEvent) {
      for (size_t k = 0; k < p.events->size(); ++k) {
        h->tail.push_back(
            {p.first_revision + k, p.first_position + k, (*p.events)[k].event_id, now});
        tail_fifo_.push_back(h);
      }
    }
    h->planned.last_position = Position(p.first_position + p.events->size() - 1);
    h->committed = h->planned;
    h->changed_at = h->planned.last_position.value();
    if (p.meta_target) {
      p.meta_target->committed = p.meta_target->planned;
      p.meta_target->changed_at = h->changed_at;
    }
  }
  TrimTails(indexer_.indexed_upto());
}

void Shard::PublishGroup(const hot::Ring::Claimed& claim,
                         const std::vector<std::pair<Position, std::string_view>>& records,
                         int64_t now, uint32_t total_events, uint64_t last) {
  uint64_t off = claim.arena_offset;
  for (auto& [p, rec] : records) {
    ring_->Publish(p, off, rec, now);
    off += rec.size();
  }
  last_position_.store(last, std::memory_order_release);
  ring_->MarkDurable(claim.first, total_events);
}

void Shard::HandOffToIndexer(uint64_t last) {
  // The buffer moves; the next group allocates anew.
  indexer_.Hand(IndexWork{std::move(group_buffer_), last});
  group_buffer_ = std::string();
}

void Shard::CompleteGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans) {
  uint64_t appended = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    Plan& p = plans[i];
    switch (p.state) {
      case Plan::State::kDeferred:
        deferred_.push_back(std::move(ops[i]));
        break;
      case Plan::State::kDone:
      case Plan::State::kPending:
        ops[i].done(std::move(p.result));
        break;
      case Plan::State::kWrite: {
        AppendResult r;
        r.count = static_cast<uint32_t>(p.events->size());
        r.first_position = Position(p.first_position);
        r.last_position = Position(p.first_position + r.count - 1);
        r.first_revision = Revision(p.first_revision);
        r.last_revision = Revision(
            p.kind == RecordKind::kTombstone ? kTombstoneRevision : p.first_revision + r.count - 1);
        r.stream_exists = true;
        ++appended;
        ops[i].done(r);
        break;
      }
    }
  }
  appends_.fetch_add(appended, std::memory_order_relaxed);
}

}  // namespace strata::storage
