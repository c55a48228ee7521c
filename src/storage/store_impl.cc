#include "storage/store_impl.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "base/coding.h"
#include "base/uuid.h"
#include "env/file.h"
#include "model/partition.h"
#include "model/stream_name.h"
#include "storage/check_parts.h"

namespace strata {

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const StoreOptions& options) {
  auto s = storage::StoreImpl::Open(options);
  if (!s) return s.error();
  return std::unique_ptr<LocalStore>(std::move(*s));
}

Result<AppendResult> Store::Append(AppendRequest request) {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  AppendAsync(std::move(request),
              [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Status StoreOptions::Validate() const {
  auto bad = [](const std::string& m) { return Error(ErrorCode::kInvalidConfig, m); };
  if (data_dir.empty()) return bad("data_dir is empty; give a directory such as ./data");
  if (shards > 256) return bad("shards must be between 1 and 256, got " + std::to_string(shards));
  if (partitions == 0 || partitions > 65536) {
    return bad("partitions must be between 1 and 65536, got " + std::to_string(partitions));
  }
  if (shards > 0 && partitions < shards) {
    return bad("partitions (" + std::to_string(partitions) + ") must be at least shards (" +
               std::to_string(shards) + ")");
  }
  if (max_event_bytes == 0 || max_event_bytes > (64u << 20)) {
    return bad("max_event_bytes must be between 1 and 64 MiB");
  }
  if (max_append_bytes < max_event_bytes) return bad("max_append_bytes must be >= max_event_bytes");
  if (max_queued_appends == 0) return bad("max_queued_appends must be at least 1");
  if (hot.ring_slots < max_group_events + 65536) {
    return bad(
        "hot ring_slots must be at least max_group_events + 65536 (one group plus the "
        "largest append), got " +
        std::to_string(hot.ring_slots));
  }
  if (hot.ring_bytes < (1u << 20)) return bad("hot ring_bytes must be at least 1 MiB");
  if (hot.positions == PositionScheme::kClock && partitions > 64) {
    // tick << bits must stay below 2^56 (hot/hot_options.h): at most 6 partition bits.
    return bad("clock positions need at most 64 partitions, got " + std::to_string(partitions));
  }
  if (idempotency_window.count() <= 0) return bad("idempotency_window must be positive");
  if (warm.write_buffer_size < (1u << 20)) return bad("write_buffer_size must be at least 1 MiB");
  if (warm.max_write_buffer_number < 2) return bad("max_write_buffer_number must be at least 2");
  if (segment_max_age.count() < 1000) return bad("segment seconds must be at least 0.001");
  if (segment_max_bytes < (1u << 20)) return bad("segment size must be at least 1 MiB");
  if (cold.local_retention.count() < 0) return bad("local retention must not be negative");
  if (cold.wal && cold.url.empty() && !cold.store) {
    return bad("the object-store WAL needs a cold tier: give --cold s3://BUCKET/PREFIX");
  }
  if (cold.wal_interval.count() < 1 || cold.wal_interval.count() > 1000) {
    return bad("the WAL interval must be between 1 and 1000 ms");
  }
  if (cold.upload_part_bytes < objstore::kMinPartSize) {
    return bad("upload part size must be at least 5 MiB (S3's smallest part)");
  }
  if (cold.block_cache_bytes < (1u << 20)) return bad("cold cache must be at least 1 MiB");
  return OkStatus();
}

namespace storage {
namespace {
constexpr size_t kMaxEventsPerAppend = 65536;
}  // namespace

Result<FilterMatcher> FilterMatcher::Compile(const AllFilter& filter) {
  FilterMatcher m;
  m.f_ = filter;
  m.empty_ = filter.Empty();
  try {
    if (!filter.stream_regex.empty()) m.stream_re_.emplace(filter.stream_regex);
    if (!filter.type_regex.empty()) m.type_re_.emplace(filter.type_regex);
  } catch (const std::regex_error& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("the filter's regular expression is invalid (") + e.what() +
                     "); use ECMAScript syntax, e.g. ^order-");
  }
  return m;
}

bool FilterMatcher::Matches(std::string_view stream, std::string_view type) const {
  if (empty_) return true;
  if (f_.exclude_system && type.starts_with('$')) return false;
  auto any_prefix = [](const std::vector<std::string>& ps, std::string_view s) {
    if (ps.empty()) return true;
    for (const auto& p : ps) {
      if (s.starts_with(p)) return true;
    }
    return false;
  };
  if (!any_prefix(f_.stream_prefixes, stream) || !any_prefix(f_.type_prefixes, type)) return false;
  if (stream_re_ && !std::regex_search(stream.begin(), stream.end(), *stream_re_)) return false;
  if (type_re_ && !std::regex_search(type.begin(), type.end(), *type_re_)) return false;
  return true;
}

StoreImpl::~StoreImpl() { IgnoreError(Close()); }

Status StoreImpl::Close() {
  std::lock_guard lock(close_mu_);
  if (closed_) return OkStatus();
  {
    std::lock_guard sl(subs_mu_);  // no subscription registers after this
    closing_.store(true, std::memory_order_release);
  }
  if (!ring_) {  // Open failed part-way: only shards without threads exist
    closed_ = true;
    return OkStatus();
  }
  // Subscriptions end first: their threads see closing(), call OnStop and unregister. Their
  // owners still hold the Subscription objects, which no longer touch the store.
  ring_->WakeAll();
  {
    std::unique_lock sl(subs_mu_);
    subs_cv_.wait(sl, [&] { return subs_.empty(); });
  }
  for (auto& a : archivers_) a->Stop();
  // The shards' last groups still go through the WAL; a PUT failing past its grace gives up.
  if (wal_) wal_->BeginClose();
  for (auto& s : shards_) s->Stop();
  if (wal_) wal_->Stop();
  // After the shards: what they acknowledged last is indexed and flushed too.
  if (index_streams_) index_streams_->Stop();
  { std::lock_guard al(async_mu_); }
  async_cv_.notify_all();
  if (async_sync_.joinable()) async_sync_.join();
  Status result = OkStatus();
  if (options_.durability == Durability::kAsync) {
    for (auto& s : shards_) {
      auto st = s->warm().SyncWal();
      if (!st && result) result = st;
    }
  }
  if (disk_) disk_->Stop();
  closed_ = true;
  return result;
}

void StoreImpl::AsyncSyncLoop() {
  std::unique_lock lock(async_mu_);
  while (!closing()) {
    async_cv_.wait_for(lock, options_.async_sync_interval);
    for (auto& s : shards_) {
      auto st = s->warm().SyncWal();
      if (!st) {
        disk_->ReportFailure(st.error());
        // Once per interval at most 10 times, then once a minute: a full disk must not flood
        // the log (the shard's own write errors say the rest).
        static std::atomic<uint64_t> warnings{0};
        const uint64_t n = warnings.fetch_add(1);
        if (n < 10 || n % 600 == 0) {
          spdlog::warn("background WAL sync failed: {}", st.error().ToString());
        }
      }
    }
  }
}

Shard& StoreImpl::ShardFor(std::string_view stream) {
  const uint32_t shards = static_cast<uint32_t>(shards_.size());
  return *shards_[ShardOfPartition(PartitionOf(stream, options_.partitions), shards)];
}

namespace {
Status RefuseIndexStream(std::string_view stream, std::string_view what) {
  if (!IsIndexStream(stream)) return OkStatus();
  const bool category = stream.starts_with(kCategoryStreamPrefix);
  return Error(ErrorCode::kInvalidStreamName,
               "'" + std::string(stream) + "' is an index stream that Strata keeps itself (" +
                   (category ? "the events of the streams '" + std::string(stream.substr(4)) + "-…'"
                             : "the events of type '" + std::string(stream.substr(4)) + "'") +
                   "); " + std::string(what));
}
}  // namespace

Status StoreImpl::ValidateAppend(const AppendRequest& r) const {
  STRATA_TRY(ValidateStreamName(r.stream));
  STRATA_TRY(RefuseIndexStream(r.stream, "append to the original stream instead"));
  if (r.expected.kind() == ExpectedRevision::Kind::kExact &&
      r.expected.revision().value() >= kTombstoneRevision) {
    return Error(
        ErrorCode::kInvalidExpectedRevision,
        "expected revision " + std::to_string(r.expected.revision().value()) + " is out of range");
  }
  if (r.events.size() > kMaxEventsPerAppend) {
    return Error(ErrorCode::kAppendTooLarge,
                 "one append carries " + std::to_string(r.events.size()) +
                     " events; the limit is " + std::to_string(kMaxEventsPerAppend) +
                     ": split it into several appends");
  }
  size_t total = 0;
  for (size_t i = 0; i < r.events.size(); ++i) {
    const EventData& e = r.events[i];
    if (e.event_id.IsNil()) {
      return Error(ErrorCode::kInvalidEventId,
                   "event " + std::to_string(i) +
                       " has the nil UUID as its id; give every event "
                       "a unique id (a random UUID), which also makes retries safe");
    }
    if (e.type.empty()) {
      return Error(ErrorCode::kInvalidArgument, "event " + std::to_string(i) +
                                                    " has an empty type; set a type such as "
                                                    "'OrderPlaced'");
    }
    if (e.PayloadBytes() > options_.max_event_bytes) {
      return Error(ErrorCode::kEventTooLarge,
                   "event " + std::to_string(i) + " is " + std::to_string(e.PayloadBytes()) +
                       " bytes; the limit is " + std::to_string(options_.max_event_bytes) +
                       " bytes: store large payloads elsewhere and append a reference");
    }
    total += e.PayloadBytes();
  }
  if (total > options_.max_append_bytes) {
    return Error(ErrorCode::kAppendTooLarge,
                 "the append is " + std::to_string(total) + " bytes; the limit is " +
                     std::to_string(options_.max_append_bytes) + ": split it");
  }
  if (r.events.size() > 1) {
    std::unordered_set<Uuid> ids;
    for (const auto& e : r.events) {
      if (!ids.insert(e.event_id).second) {
        return Error(ErrorCode::kInvalidArgument,
                     "event id " + e.event_id.ToString() +
                         " appears twice in one append; every event needs its own id");
      }
    }
  }
  return OkStatus();
}

void StoreImpl::AppendAsync(AppendRequest request, AppendCallback done) {
  if (closing()) return done(Error(ErrorCode::kStoreClosed, "the store is closed"));
  if (auto st = ValidateAppend(request); !st) return done(st.error());
  ShardOp op;
  uint64_t payload = 0;
  for (const auto& e : request.events) payload += e.PayloadBytes();
  op.bytes = 64 + payload + 64 * request.events.size();
  op.request = std::move(request);
  op.done = [this, payload, start = std::chrono::steady_clock::now(),
             done = std::move(done)](Result<AppendResult> r) {
    if (r && !r->deduplicated && r->count > 0) {
      append_latency_.Record(std::chrono::steady_clock::now() - start);
      appended_events_.fetch_add(r->count, std::memory_order_relaxed);
      appended_bytes_.fetch_add(payload, std::memory_order_relaxed);
    }
    done(std::move(r));
  };
  ShardFor(op.request.stream).Submit(std::move(op));
}

Result<DeleteResult> StoreImpl::Delete(DeleteRequest request) {
  if (closing()) return Error(ErrorCode::kStoreClosed, "the store is closed");
  STRATA_TRY(ValidateStreamName(request.stream));
  STRATA_TRY(RefuseIndexStream(request.stream, "it cannot be deleted"));
  if (IsMetadataStream(request.stream)) {
    return Error(ErrorCode::kInvalidStreamName,
                 "'" + request.stream + "' is a metadata stream; delete the stream itself");
  }
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  ShardOp op;
  op.kind = request.tombstone ? ShardOp::Kind::kTombstone : ShardOp::Kind::kSoftDelete;
  op.bytes = 256;
  op.request.stream = request.stream;
  op.request.expected = request.expected;
  op.request.deadline = request.deadline;
  op.done = [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); };
  ShardFor(request.stream).Submit(std::move(op));
  auto r = future.get();
  if (!r) return r.error();
  return DeleteResult{r->last_position};
}

bool StoreImpl::Register(SubscriptionImpl* s) {
  std::lock_guard lock(subs_mu_);
  if (closing()) return false;
  subs_.insert(s);
  return true;
}

void StoreImpl::Unregister(SubscriptionImpl* s) {
  std::lock_guard lock(subs_mu_);
  subs_.erase(s);
  subs_cv_.notify_all();
}

Result<std::optional<StreamHead>> StoreImpl::GetHead(std::string_view stream) {
  return ShardFor(stream).GetHead(stream);
}

Result<ReadStreamResult> StoreImpl::ReadStream(const ReadStreamRequest& request) {
  STRATA_TRY(ValidateStreamName(request.stream));
  if (IsIndexStream(request.stream)) return ReadIndexStream(request);
  return ShardFor(request.stream).ReadStream(request, ring_.get());
}

Result<ReadStreamResult> StoreImpl::ReadIndexStream(const ReadStreamRequest& req,
                                                    IndexStreams::Head* head_out) {
  if (!options_.index_streams) {
    return Error(ErrorCode::kInvalidArgument,
                 "'" + req.stream +
                     "' is an index stream, and index streams are off in this store (started "
                     "with --no-index-streams); restart without it to read them");
  }
  // Read-your-writes: what was acknowledged before this read is in it, when the index is only
  // the usual few milliseconds behind (not while it is being rebuilt).
  const uint64_t acknowledged = Watermark().value() - 1;
  const uint64_t indexed = index_streams_->checkpoint();
  if (indexed < acknowledged && acknowledged - indexed <= 1'000'000) {
    index_streams_->WaitFor(acknowledged, std::chrono::milliseconds(1000));
  }
  const IndexStreams::Head head = index_streams_->GetHead(req.stream);
  if (head_out) *head_out = head;
  if (!head.known || head.count == 0) {
    return Error(ErrorCode::kStreamNotFound, "stream '" + req.stream +
                                                 "' has no events (indexed up to position " +
                                                 std::to_string(head.checkpoint) + ")");
  }
  ReadStreamResult out;
  uint64_t lo, hi;  // inclusive revision range to return
  if (!PlanRevisions(req, 0, head.count - 1, &out, &lo, &hi)) return out;
  auto tagged = index_streams_->Positions(req.stream, lo, hi);
  if (!tagged) return tagged.error();
  // Records: from the ring while hot, else per shard from the warm (or cold) tier.
  std::vector<std::string> records(tagged->size());
  std::vector<std::vector<Position>> by_shard(shards_.size());
  std::vector<std::vector<size_t>> slots(shards_.size());
  for (size_t i = 0; i < tagged->size(); ++i) {
    const Position p(UntagPosition((*tagged)[i]));
    if (ring_->Read(p, &records[i])) continue;
    const uint32_t shard = ShardOfTag((*tagged)[i]);
    if (shard >= shards_.size()) {
      return Error(ErrorCode::kCorruption,
                   "an entry of '" + req.stream + "' names shard " + std::to_string(shard));
    }
    by_shard[shard].push_back(p);
    slots[shard].push_back(i);
  }
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (by_shard[s].empty()) continue;
    std::vector<std::string> fetched;
    STRATA_TRY(shards_[s]->FetchRecords(by_shard[s], &fetched));
    for (size_t k = 0; k < fetched.size(); ++k) records[slots[s][k]] = std::move(fetched[k]);
  }
  const bool forwards = req.direction == Direction::kForwards;
  out.events.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const size_t k = forwards ? i : records.size() - 1 - i;
    auto v = DecodeRecord(records[k]);
    if (!v) return v.error();
    if (v->header.position.value() != UntagPosition((*tagged)[k]) ||
        !InIndexStream(req.stream, *v)) {
      return Error(ErrorCode::kCorruption, "position " +
                                               std::to_string(UntagPosition((*tagged)[k])) +
                                               " does not hold an event of '" + req.stream + "'");
    }
    RecordedEvent e = v->ToEvent();
    e.link = LinkRef{req.stream, Revision(lo + k)};
    out.events.push_back(std::move(e));
  }
  return out;
}

Status StoreImpl::ScanAll(Position from, Position to,
                          const std::function<bool(const RecordView&)>& visit) {
  uint64_t p = std::max<uint64_t>(from.value(), 1);
  const uint64_t end = std::min(to.value(), ring_->watermark().value());
  // Hot path: consecutive slots straight from the ring, while it holds them.
  if (p < end) {
    if (auto slot = ring_->Find(Position(p))) {
      std::string buf;
      for (uint64_t s = *slot;; ++s) {
        Position at;
        if (!ring_->ReadSlot(s, &at, &buf)) {
          // At the watermark's slot every record below `end` has been visited.
          if (s >= ring_->watermark_slot()) p = end;
          break;
        }
        if (at.value() >= end) {
          p = end;
          break;
        }
        auto v = DecodeRecord(buf);
        if (!v) break;  // a torn copy: read it from the warm tier instead
        if (!visit(*v)) return OkStatus();
        p = at.value() + 1;
      }
    }
  }
  if (p >= end) return OkStatus();
  // Warm path: k-way merge of the shards' logs by position.
  std::vector<std::unique_ptr<storage::LogCursor>> cursors;
  for (auto& s : shards_) {
    auto c = s->NewLogCursor();
    c->Seek(Position(p));
    cursors.push_back(std::move(c));
  }
  while (true) {
    storage::LogCursor* best = nullptr;
    for (auto& c : cursors) {
      if (c->Valid() && c->position().value() < end &&
          (!best || c->position() < best->position())) {
        best = c.get();
      }
    }
    if (!best) break;
    auto v = DecodeRecord(best->record());
    if (!v) {
      return Error(ErrorCode::kCorruption, "position " + std::to_string(best->position().value()) +
                                               ": " + v.error().message());
    }
    if (!visit(*v)) return OkStatus();
    best->Next();
  }
  for (auto& c : cursors) STRATA_TRY(c->status());
  return OkStatus();
}

Result<ReadAllResult> StoreImpl::ReadAll(const ReadAllRequest& req) {
  auto matcher = FilterMatcher::Compile(req.filter);
  if (!matcher) return matcher.error();
  ReadAllResult out;
  const uint64_t count = std::max<uint64_t>(req.max_count, 1);
  const uint64_t watermark = ring_->watermark().value();
  uint64_t examined = 0;
  if (req.direction == Direction::kForwards) {
    const uint64_t from = std::max<uint64_t>(req.from ? req.from->value() : 1, 1);
    uint64_t next = from;
    bool stopped = false;
    STRATA_TRY(ScanAll(Position(from), Position(watermark), [&](const RecordView& v) {
      ++examined;
      next = v.header.position.value() + 1;
      if (matcher->Matches(v.stream, v.type)) out.events.push_back(v.ToEvent());
      if (out.events.size() >= count || (req.max_scan && examined >= req.max_scan)) {
        stopped = true;
        return false;
      }
      return true;
    }));
    out.end = !stopped || next >= watermark;
    out.next = Position(stopped ? next : std::max(next, watermark));
    return out;
  }
  // Backwards: merge from the top down, no ring.
  if (watermark <= 1) {
    out.end = true;
    return out;
  }
  const uint64_t start = std::min(req.from ? req.from->value() : watermark - 1, watermark - 1);
  std::vector<std::unique_ptr<storage::LogCursor>> cursors;
  for (auto& s : shards_) {
    auto c = s->NewLogCursor();
    c->SeekForPrev(Position(start));
    cursors.push_back(std::move(c));
  }
  uint64_t next = start;
  bool stopped = false;
  while (true) {
    storage::LogCursor* best = nullptr;
    for (auto& c : cursors) {
      if (c->Valid() && (!best || c->position() > best->position())) best = c.get();
    }
    if (!best) break;
    auto v = DecodeRecord(best->record());
    if (!v) return v.error();
    ++examined;
    next = v->header.position.value() - 1;
    if (matcher->Matches(v->stream, v->type)) out.events.push_back(v->ToEvent());
    best->Prev();
    if (out.events.size() >= count || (req.max_scan && examined >= req.max_scan)) {
      stopped = true;
      break;
    }
  }
  for (auto& c : cursors) STRATA_TRY(c->status());
  out.end = !stopped || next == 0;
  out.next = Position(next);
  return out;
}

StoreStats StoreImpl::Stats() {
  StoreStats s;
  s.watermark = ring_->watermark();
  s.ring_hits = ring_->hits();
  s.ring_misses = ring_->misses();
  s.ring_bytes = ring_->arena_bytes();
  s.appended_events = appended_events_.load(std::memory_order_relaxed);
  s.appended_bytes = appended_bytes_.load(std::memory_order_relaxed);
  s.append_latency = append_latency_.Read();
  if (wal_) {
    const cold::WalStats w = wal_->Stats();
    s.wal = true;
    s.wal_objects = w.objects;
    s.wal_bytes = w.bytes;
    s.wal_events = w.events;
    s.wal_put_failures = w.put_failures;
    s.wal_deleted = w.deleted;
    s.wal_live_objects = w.live_objects;
    s.wal_put_latency = w.put_latency;
  }
  {
    std::lock_guard lock(subs_mu_);
    s.subscriptions = subs_.size();
    const uint64_t last = s.watermark.value() > 0 ? s.watermark.value() - 1 : 0;
    for (const SubscriptionImpl* sub : subs_) {
      const uint64_t p = SubscriptionPosition(sub);
      const uint64_t lag = last > p ? last - p : 0;
      s.subscription_lag_max = std::max(s.subscription_lag_max, lag);
      s.subscription_lag_sum += lag;
    }
  }
  const IndexStreams::Stats is =
      index_streams_ ? index_streams_->GetStats() : IndexStreams::Stats{};
  s.index_streams_position = Position(is.checkpoint);
  s.index_streams = is.streams;
  s.index_streams_unflushed = is.unflushed;
  s.index_streams_failed = is.failed;
  for (auto& sh : shards_) s.shards.push_back(sh->Stats());
  s.disk_free_bytes = disk_->free_bytes();
  s.disk_total_bytes = disk_->total_bytes();
  s.disk_reserve_bytes = disk_->reserve_bytes();
  std::optional<Error> refused;
  for (auto& sh : shards_) {
    if (!refused) refused = sh->WriteError();
  }
  if (!refused) {
    if (auto st = disk_->Check(); !st) refused = st.error();
  }
  s.disk_full_refusals = disk_->refused();
  if (refused) {
    s.writable = false;
    s.write_error = refused->ToString();
  }
  return s;
}

Result<CheckReport> StoreImpl::Check(const CheckOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  CheckReport report;
  report.online = true;
  CheckStoreDescription(options_.data_dir, &report);
  for (auto& shard : shards_) {
    CheckWarm(shard->warm(), shard->id().value(), &report);
    CheckLiveIndexRuns(shard->runs(), shard->id().value(), &report);
    // Outbox segment files are being written by the archivers: checked offline only.
  }
  if (index_streams_) {
    ++report.metadata_files;
    if (auto st = IndexStreams::VerifyStateFile(index_streams_->dir());
        !st && st.error().code() != ErrorCode::kObjectNotFound) {
      report.Add({"index-streams-state", index_streams_->dir() + "/STATE", -1, 0, 0,
                  st.error().ToString()});
    }
    CheckLiveIndexRuns(index_streams_->runs(), -1, &report);
  }
  if (options.cold && cold_store_) CheckColdTier(*cold_store_, options_.shards, &report);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

Result<ArchiveStatus> StoreImpl::Archive() {
  ArchiveStatus out;
  if (!cold_store_) return out;
  out.enabled = true;
  out.url = cold_store_->url();
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (i < archivers_.size()) {
      out.shards.push_back(archivers_[i]->GetStatus());
    } else {  // reading only
      ArchiveShardStatus s;
      s.shard = static_cast<uint32_t>(i);
      auto segs = cold_shards_[i]->segments();
      s.segments = segs->size();
      s.archived_upto = segs->empty() ? Position(0) : segs->back().last_position;
      s.warm_floor = Position(shards_[i]->warm_floor());
      out.shards.push_back(s);
    }
    out.cold_reads += cold_shards_[i]->reads();
  }
  out.cache_hits = block_cache_->hits();
  out.cache_misses = block_cache_->misses();
  out.cache_bytes = block_cache_->bytes();
  return out;
}

Result<std::vector<SegmentInfo>> StoreImpl::ListSegments() {
  std::vector<SegmentInfo> out;
  for (auto& cs : cold_shards_) {
    auto segs = cs->segments();
    out.insert(out.end(), segs->begin(), segs->end());
  }
  return out;
}

Status StoreImpl::ArchiveAll(Deadline deadline) {
  if (!cold_store_) {
    return Error(ErrorCode::kInvalidConfig, "this store has no cold tier; configure --cold");
  }
  if (archivers_.empty()) {
    return Error(ErrorCode::kInvalidConfig, "archiving is off for this store (cold.archive)");
  }
  std::vector<uint64_t> targets;
  for (auto& s : shards_) {
    targets.push_back(s->last_position().value());
    s->RequestSeal();
  }
  for (size_t i = 0; i < shards_.size(); ++i) {
    archivers_[i]->Wake();
    STRATA_TRY(archivers_[i]->WaitArchived(targets[i], deadline));
  }
  return OkStatus();
}

}  // namespace storage
}  // namespace strata