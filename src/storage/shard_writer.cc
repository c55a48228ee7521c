// ShardWriter: the queue, the writer thread and group commit, write refusal, segment numbering
// and sealing, and the readers' view of the heads. Planning against the heads (expected
// revisions, idempotency) and their loading, trimming and eviction are in shard_writer_plan.cc.
#include "storage/shard_writer.h"

#include <spdlog/spdlog.h>

#include "model/partition.h"

namespace strata::storage {

ShardWriter::ShardWriter(ShardId id, const StoreOptions& options, warm::WarmShard* warm,
                         ShardIndexer* indexer, DiskGuard* disk)
    : id_(id), options_(options), warm_(warm), indexer_(indexer), disk_(disk) {}

ShardWriter::~ShardWriter() { Stop(); }

void ShardWriter::Start(hot::Ring* ring) {
  ring_ = ring;
  thread_ = std::thread([this] { WriterLoop(); });
}

void ShardWriter::Stop() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  queue_space_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ShardWriter::Recover(const ShardIndexer::Recovered& recovered) {
  // The segment counter continues after the last segment seen (a restart seals the open one).
  segment_seq_ = recovered.segment_seq;
  sealed_seq_.store(segment_seq_, std::memory_order_release);
  next_stream_number_ = recovered.next_stream_number;
  last_position_.store(recovered.last_position, std::memory_order_release);
}

std::optional<Error> ShardWriter::WriteError() const {
  if (indexer_->failed()) {
    return Error(ErrorCode::kStoreClosed,
                 "shard " + std::to_string(id_.value()) +
                     " stopped accepting writes after an error it cannot recover from; see the "
                     "log, run 'strata check', and restart it");
  }
  if (blocked_.load(std::memory_order_acquire)) {
    std::lock_guard lock(block_mu_);
    if (wal_error_) return wal_error_;
    if (writer_error_) return writer_error_;
    if (indexer_error_) return indexer_error_;
  }
  return std::nullopt;
}

void ShardWriter::Block(Blocker who, const Error& e) {
  if (disk_ && who != Blocker::kWal) disk_->ReportFailure(e);
  std::lock_guard lock(block_mu_);
  if (who == Blocker::kWal) {
    spdlog::error(
        "shard {}: a group written locally did not reach the object-store WAL; appends "
        "are refused until the store restarts: {}",
        id_.value(), e.ToString());
    wal_error_ = e;
    blocked_.store(true, std::memory_order_release);
    return;
  }
  std::optional<Error>& slot = who == Blocker::kWriter ? writer_error_ : indexer_error_;
  if (!writer_error_ && !indexer_error_ && !wal_error_) {
    spdlog::error("shard {}: {} failed, appends are refused until it can write again: {}",
                  id_.value(), who == Blocker::kWriter ? "a write" : "an index flush",
                  e.ToString());
  }
  slot = e;
  blocked_.store(true, std::memory_order_release);
}

void ShardWriter::Unblock(Blocker who) {
  std::lock_guard lock(block_mu_);
  if (who == Blocker::kWal) return;  // for good: the local log holds records the WAL lacks
  std::optional<Error>& slot = who == Blocker::kWriter ? writer_error_ : indexer_error_;
  if (!slot) return;
  slot.reset();
  if (!writer_error_ && !indexer_error_ && !wal_error_) {
    blocked_.store(false, std::memory_order_release);
    spdlog::info("shard {}: writes resumed", id_.value());
  }
}

void ShardWriter::TryResume() {
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

void ShardWriter::Submit(ShardOp&& op) {
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

void ShardWriter::WriterLoop() {
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

void ShardWriter::FailAll(std::vector<ShardOp>& ops, const Error& e) {
  for (auto& op : ops) op.done(e);
  ops.clear();
}

void ShardWriter::RollBack(std::vector<Plan>& plans) {
  // Stream numbers handed out to new streams stay used: numbers need not be dense.
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    p.head->planned = p.head->committed;
    if (p.meta_target) p.meta_target->planned = p.meta_target->committed;
  }
}

void ShardWriter::TrimIndexedTails() {
  std::unique_lock lock(state_mu_);
  TrimTails(indexer_->indexed_upto());
}

bool ShardWriter::Stopping() {
  std::lock_guard queue_lock(queue_mu_);
  return stopping_;
}

void ShardWriter::ProcessGroup(std::vector<ShardOp>& ops) {
  const int64_t wait_start = MonotonicNanos();
  indexer_->WaitForSpace();
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

void ShardWriter::PlanGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans,
                            uint32_t& total_events, uint64_t& total_bytes) {
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

bool ShardWriter::CommitGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, int64_t now,
                              uint32_t total_events, uint64_t total_bytes) {
  const uint64_t segment = NextSegmentId(now, total_bytes);
  // A failed write (or position reservation) rolls the group back and fails it (FailGroup).
  ClaimPartitions(plans);
  auto claimed = ring_->Claim(total_events, total_bytes, group_partitions_);
  if (!claimed) {
    FailGroup(ops, plans, claimed.error());
    return false;
  }
  const hot::Ring::Claimed claim = *claimed;
  group_buffer_.resize(total_bytes);
  std::vector<std::pair<Position, std::string_view>> records;
  records.reserve(total_events);
  const uint64_t last = EncodeGroup(plans, claim, segment, now, records);
  if (auto st = WriteGroup(records, total_events); !st) {
    // The range holds no record: RocksDB applies a batch whose WAL write failed to no
    // memtable, and its resume flushes the memtables so that WAL is never replayed.
    ring_->Abandon(claim);
    FailGroup(ops, plans, st.error());
    return false;
  }
  if (wal_) {
    // Acknowledged only once in the object store too (cold/wal_writer.h).
    const std::string_view span(records.front().second.data(), records.back().second.data() +
                                                                   records.back().second.size() -
                                                                   records.front().second.data());
    if (auto st = wal_->Write(id_.value(), claim.first.value(), last, total_events, span); !st) {
      FailUnlogged(ops, plans, st.error());
      return false;
    }
  }
  // Make the group visible: heads and tails first, then the ring and the watermark.
  CommitHeads(plans, now);
  PublishGroup(claim, records, now, last);
  HandOffToIndexer(last);
  return true;
}

void ShardWriter::FailGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans, const Error& e) {
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

void ShardWriter::FailUnlogged(std::vector<ShardOp>& ops, std::vector<Plan>& plans,
                               const Error& e) {
  // The records are in the local log but not in the WAL: never acknowledged, and never marked
  // durable (readers of $all stop before them). The shard refuses writes until a restart, whose
  // open writes the local tail to the WAL first (StoreImpl::CatchUpWal).
  RollBack(plans);
  Block(Blocker::kWal, e);
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].done(plans[i].state == Plan::State::kDone ? std::move(plans[i].result)
                                                     : Result<AppendResult>(e));
  }
}

void ShardWriter::ClaimPartitions(const std::vector<Plan>& plans) {
  group_partitions_.clear();
  if (ring_->scheme() != PositionScheme::kClock) return;
  for (const Plan& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    group_partitions_.insert(group_partitions_.end(), p.events->size(),
                             PartitionOf(p.stream, options_.partitions));
  }
}

uint64_t ShardWriter::EncodeGroup(std::vector<Plan>& plans, const hot::Ring::Claimed& claim,
                                  uint64_t segment, int64_t now,
                                  std::vector<std::pair<Position, std::string_view>>& records) {
  char* out = group_buffer_.data();
  uint32_t i = 0;  // the record's index in the claim
  uint64_t last = 0;
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    const uint32_t partition = group_partitions_.empty() ? 0 : group_partitions_[i];
    p.first_position = claim.At(i, partition).value();
    p.position_step = claim.step;
    for (size_t k = 0; k < p.events->size(); ++k, ++i) {
      const EventData& e = (*p.events)[k];
      const Position pos = claim.At(i, partition);
      RecordHeader hdr;
      hdr.kind = p.kind;
      hdr.position = pos;
      hdr.revision =
          Revision(p.kind == RecordKind::kTombstone ? kTombstoneRevision : p.first_revision + k);
      hdr.stream_number = p.head->planned.number;
      hdr.recorded_ts = now;
      hdr.source_ts = e.source_ts != 0 ? e.source_ts : now;
      hdr.segment_id = SegmentId(segment);
      hdr.event_id = e.event_id;
      char* end = EncodeRecord(hdr, p.stream, e, out);
      records.emplace_back(pos, std::string_view(out, end - out));
      out = end;
      last = pos.value();
    }
  }
  return last;
}

Status ShardWriter::WriteGroup(const std::vector<std::pair<Position, std::string_view>>& records,
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

void ShardWriter::CommitHeads(std::vector<Plan>& plans, int64_t now) {
  std::unique_lock lock(state_mu_);
  for (auto& p : plans) {
    if (p.state != Plan::State::kWrite) continue;
    HeadEntry* h = p.head;
    if (p.kind == RecordKind::kEvent) {
      for (size_t k = 0; k < p.events->size(); ++k) {
        h->tail.push_back({p.first_revision + k, p.PositionOf(k), (*p.events)[k].event_id, now});
        tail_fifo_.push_back(h);
      }
    }
    h->planned.last_position = Position(p.PositionOf(p.events->size() - 1));
    h->committed = h->planned;
    h->changed_at = h->planned.last_position.value();
    if (p.meta_target) {
      p.meta_target->committed = p.meta_target->planned;
      p.meta_target->changed_at = h->changed_at;
    }
  }
  TrimTails(indexer_->indexed_upto());
}

void ShardWriter::PublishGroup(const hot::Ring::Claimed& claim,
                               const std::vector<std::pair<Position, std::string_view>>& records,
                               int64_t now, uint64_t last) {
  uint64_t off = claim.arena_offset;
  for (uint32_t i = 0; i < records.size(); ++i) {
    ring_->Publish(claim, i, off, records[i].second, now);
    off += records[i].second.size();
  }
  last_position_.store(last, std::memory_order_release);
  ring_->MarkDurable(claim);
}

void ShardWriter::HandOffToIndexer(uint64_t last) {
  // The buffer moves; the next group allocates anew.
  indexer_->Hand(IndexWork{std::move(group_buffer_), last});
  group_buffer_ = std::string();
}

void ShardWriter::CompleteGroup(std::vector<ShardOp>& ops, std::vector<Plan>& plans) {
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
        r.last_position = Position(p.PositionOf(r.count - 1));
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

void ShardWriter::RequestSeal() {
  seal_requested_.store(true, std::memory_order_release);
  { std::lock_guard lock(queue_mu_); }
  queue_cv_.notify_all();
}

void ShardWriter::SealIfIdle() {
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

uint64_t ShardWriter::NextSegmentId(int64_t now_us, size_t bytes) {
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

void ShardWriter::HeadForRead(std::string_view stream, std::optional<StreamHead>* head,
                              std::vector<TailEntry>* tail) const {
  std::shared_lock lock(state_mu_);
  auto it = heads_.find(stream);
  if (it == heads_.end()) return;
  *head = it->second->committed;
  const HeadEntry& e = *it->second;
  // Only entries up to the committed head (the writer adds under the exclusive lock).
  tail->assign(e.tail.begin() + static_cast<std::ptrdiff_t>(e.tail_begin), e.tail.end());
}

std::optional<StreamHead> ShardWriter::CommittedHead(std::string_view stream) const {
  std::shared_lock lock(state_mu_);
  auto it = heads_.find(stream);
  if (it == heads_.end()) return std::nullopt;
  return it->second->committed;
}

void ShardWriter::Stats(ShardStats* s) const {
  {
    std::shared_lock lock(state_mu_);
    s->unindexed_events = tail_fifo_.size();
  }
  s->groups = groups_.load(std::memory_order_relaxed);
  s->fsyncs = fsyncs_.load(std::memory_order_relaxed);
  s->appends = appends_.load(std::memory_order_relaxed);
  s->queue_depth = queue_depth_.load(std::memory_order_relaxed);
}

}  // namespace strata::storage
