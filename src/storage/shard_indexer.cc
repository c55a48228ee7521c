// ShardIndexer: the hand-off from the writer, the indexer thread, the run merger and recovery's
// replay. Recovery and the live path derive the indexes from records with the same function
// (IndexRecords), so what recovery rebuilds is exactly what the live path would have written.
#include "storage/shard_indexer.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include "base/coding.h"
#include "model/stream_name.h"

namespace strata::storage {
namespace {
constexpr std::string_view kCheckpointKey = "indexer.checkpoint";
constexpr std::string_view kNextStreamKey = "indexer.next_stream_number";
constexpr std::string_view kSegmentKey = "indexer.segment_seq";
constexpr std::string_view kManifestKey = "index.manifest";
constexpr int kTimeBlockShift = 12;  // 4096 positions per time block (docs/warm-layout.md)

std::string Fixed64(uint64_t v) {
  std::string s(8, '\0');
  PutLittle64(s.data(), v);
  return s;
}
}  // namespace

ShardIndexer::ShardIndexer(ShardId id, const StoreOptions& options, warm::WarmShard* warm,
                           std::string index_dir, DiskGuard* disk, Owner* owner)
    : id_(id),
      options_(options),
      warm_(warm),
      disk_(disk),
      owner_(owner),
      runs_(std::move(index_dir), options.clock,
            std::chrono::duration_cast<std::chrono::microseconds>(options.idempotency_window)
                .count()) {}

ShardIndexer::~ShardIndexer() { Stop(); }

void ShardIndexer::Start() {
  last_flush_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { IndexerLoop(); });
  merger_ = std::thread([this] { MergerLoop(); });
}

void ShardIndexer::Stop() {
  {
    std::lock_guard lock(index_mu_);
    index_stopping_ = true;
  }
  index_cv_.notify_all();
  index_space_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(merge_mu_);
    merge_stopping_ = true;
  }
  merge_cv_.notify_all();
  if (merger_.joinable()) merger_.join();
}

void ShardIndexer::Hand(IndexWork&& work) {
  bool wake;
  {
    std::lock_guard lock(index_mu_);
    unindexed_bytes_ += work.records.size();
    index_queue_.push_back(std::move(work));
    // The indexer polls every few ms; wake it early only for a large backlog. Fewer context
    // switches on 2 cores, larger batches for it.
    wake = unindexed_bytes_ >= (4u << 20);
  }
  if (wake) index_cv_.notify_one();
}

void ShardIndexer::WaitForSpace() {
  // Back-pressure from the indexer: bounded memory for records not yet read by it, and for the
  // tail of events not yet in an index run (trimmed here, by the writer, as runs are flushed).
  while (true) {
    owner_->TrimIndexedTails();
    std::unique_lock lock(index_mu_);
    if (index_stopping_ || failed() || owner_->WritesBlocked() ||
        (unindexed_bytes_ < options_.max_unindexed_bytes &&
         owner_->UnindexedEvents() < options_.max_unindexed_events)) {
      return;  // on failure the group is refused after this
    }
    if (owner_->Stopping()) return;
    index_space_cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

Status ShardIndexer::IndexRecords(const std::vector<std::string_view>& buffers) {
  auto head_of = [&](std::string_view name) -> Result<std::pair<std::string_view, StreamHead*>> {
    auto it = index_heads_.find(name);
    if (it == index_heads_.end()) {
      StreamHead h;
      auto stored = warm_->GetHead(name);
      if (!stored) return stored.error();
      if (*stored) {
        auto d = StreamHead::Decode(**stored);
        if (!d) return d.error();
        h = *d;
      }
      it = index_heads_.emplace(std::string(name), std::move(h)).first;
    }
    return std::pair<std::string_view, StreamHead*>(it->first, &it->second);
  };

  for (std::string_view buf : buffers) {
    size_t off = 0;
    while (off < buf.size()) {
      uint32_t len = PeekRecordLength(buf.substr(off));
      if (len == 0 || off + len > buf.size()) {
        return Error(ErrorCode::kCorruption, "a record handed to the indexer is truncated");
      }
      auto r = DecodeRecord(buf.substr(off, len));
      if (!r) return r.error();
      off += len;
      const RecordHeader& hdr = r->header;
      auto h = head_of(r->stream);
      if (!h) return h.error();
      StreamHead& head = *h->second;
      head.number = hdr.stream_number;
      head.last_position = hdr.position;
      if (hdr.kind == RecordKind::kTombstone) {
        head.tombstoned = true;
      } else {
        pending_streams_.push_back(
            {hdr.stream_number.value(), hdr.revision.value(), hdr.position.value()});
        pending_dedupe_.push_back({hdr.stream_number.value(), hdr.event_id, hdr.revision.value(),
                                   hdr.position.value(), hdr.recorded_ts});
        head.last_revision = static_cast<int64_t>(hdr.revision.value());
        if (IsMetadataStream(r->stream) && r->type == kMetadataEventType) {
          auto target = head_of(OriginalStreamOf(r->stream));
          if (!target) return target.error();
          auto m = ParseStreamMetadata(r->data);  // validated when appended
          if (m) {
            target->second->metadata = *m;
            target->second->metadata_json.assign(r->data);
            dirty_heads_.push_back(target->first);
          }
        }
      }
      dirty_heads_.push_back(h->first);
      index_next_stream_number_ =
          std::max(index_next_stream_number_, hdr.stream_number.value() + 1);
      index_segment_seq_ =
          std::max<uint64_t>(index_segment_seq_, hdr.segment_id.value() & ((1ull << 48) - 1));
      uint64_t block = hdr.position.value() >> kTimeBlockShift;
      auto bit = dirty_blocks_.find(block);
      if (bit == dirty_blocks_.end()) {
        std::pair<int64_t, int64_t> mm{hdr.source_ts, hdr.source_ts};
        auto existing = warm_->GetTimeBlock(block);
        if (!existing) return existing.error();
        if (*existing) mm = **existing;
        bit = dirty_blocks_.emplace(block, mm).first;
      }
      bit->second.first = std::min(bit->second.first, hdr.source_ts);
      bit->second.second = std::max(bit->second.second, hdr.source_ts);
      pending_last_position_ = hdr.position.value();
      ++pending_events_;
    }
  }
  return OkStatus();
}

Status ShardIndexer::Flush() {
  if (pending_events_ == 0) return OkStatus();
  auto written = runs_.WriteRuns(pending_streams_, pending_dedupe_);
  if (!written) return written.error();
  warm::IndexBatch batch;
  std::sort(dirty_heads_.begin(), dirty_heads_.end());
  dirty_heads_.erase(std::unique(dirty_heads_.begin(), dirty_heads_.end()), dirty_heads_.end());
  for (auto name : dirty_heads_) batch.PutHead(name, index_heads_.find(name)->second.Encode());
  for (const auto& [block, mm] : dirty_blocks_) batch.PutTimeBlock(block, mm.first, mm.second);
  batch.PutMeta(kCheckpointKey, Fixed64(pending_last_position_));
  batch.PutMeta(kNextStreamKey, Fixed64(index_next_stream_number_));
  batch.PutMeta(kSegmentKey, Fixed64(index_segment_seq_));
  {
    std::lock_guard lock(runs_.manifest_mu());
    batch.PutMeta(kManifestKey, runs_.ManifestWith(*written));
    if (auto st = warm_->CommitIndex(batch, /*sync=*/true); !st) {
      runs_.Discard(*written);  // the pending entries stay in memory for the next attempt
      return st.error();
    }
    runs_.Publish(*written);
  }
  indexed_upto_.store(pending_last_position_, std::memory_order_release);
  pending_streams_.clear();
  pending_dedupe_.clear();
  dirty_heads_.clear();
  dirty_blocks_.clear();
  pending_events_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
  // The head cache only speeds up the next flush; everything in it is persisted now.
  if (index_heads_.size() > 1'000'000) index_heads_.clear();
  index_space_cv_.notify_all();
  merge_cv_.notify_one();
  return OkStatus();
}

void ShardIndexer::IndexerLoop() {
  std::vector<IndexWork> works;
  bool indexer_blocked = false;
  auto fail = [&](const Error& e) {
    // The log is intact; the indexes catch up from the checkpoint on the next open.
    spdlog::error("shard {}: indexing failed, writes stop until restart: {}", id_.value(),
                  e.ToString());
    failed_.store(true, std::memory_order_release);
  };
  while (true) {
    works.clear();
    bool stopping;
    {
      std::unique_lock lock(index_mu_);
      index_cv_.wait_for(lock, std::chrono::milliseconds(2), [&] { return index_stopping_; });
      while (!index_queue_.empty()) {
        works.push_back(std::move(index_queue_.front()));
        index_queue_.pop_front();
      }
      stopping = index_stopping_;
    }
    if (!works.empty() && !failed()) {
      std::vector<std::string_view> views;
      for (auto& w : works) views.push_back(w.records);
      if (auto st = IndexRecords(views); !st) fail(st.error());
    }
    size_t bytes = 0;
    for (auto& w : works) bytes += w.records.size();
    {
      std::lock_guard lock(index_mu_);
      unindexed_bytes_ -= bytes;
    }
    index_space_cv_.notify_all();
    const bool due = pending_events_ >= options_.index_flush_events ||
                     (pending_events_ > 0 && std::chrono::steady_clock::now() - last_flush_ >=
                                                 options_.index_flush_interval);
    const bool retry_wait = indexer_blocked && std::chrono::steady_clock::now() < flush_retry_at_;
    if ((due || stopping) && !failed() && !(retry_wait && !stopping)) {
      if (auto st = Flush(); !st) {
        const ErrorCode code = st.error().code();
        if (code == ErrorCode::kDiskFull || code == ErrorCode::kIoError) {
          // A full (or failing) disk: the entries stay in memory and the flush is retried;
          // appends are refused meanwhile, so memory stays bounded.
          owner_->BlockWrites(st.error());
          indexer_blocked = true;
          flush_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
          if (stopping) break;  // the log is intact; recovery re-indexes after the checkpoint
        } else {
          fail(st.error());
        }
      } else if (indexer_blocked) {
        indexer_blocked = false;
        owner_->UnblockWrites();
      }
    }
    if (stopping && works.empty()) break;
  }
}

void ShardIndexer::MergerLoop() {
  // Merging is background work: let the writers and the indexer have the CPU first.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  auto persist = [this](const std::string& manifest) {
    return warm_->PutMeta(kManifestKey, manifest);
  };
  while (true) {
    {
      std::unique_lock lock(merge_mu_);
      merge_cv_.wait_for(lock, std::chrono::seconds(1));
      if (merge_stopping_) return;
    }
    while (true) {
      // A merge writes a run as large as its inputs: not while the disk is short of room.
      if (disk_ && !disk_->HasRoom()) break;
      auto merged = runs_.MergeOnce(persist);
      if (!merged) {
        if (disk_) disk_->ReportFailure(merged.error());
        spdlog::warn("shard {}: merging index runs failed (will retry): {}", id_.value(),
                     merged.error().ToString());
        break;
      }
      if (!*merged) break;
      std::lock_guard lock(merge_mu_);
      if (merge_stopping_) return;
    }
  }
}

Result<ShardIndexer::Recovered> ShardIndexer::Recover() {
  auto manifest = warm_->GetMeta(kManifestKey);
  if (!manifest) return manifest.error();
  STRATA_TRY(runs_.Load(manifest->value_or("")));
  auto cp = warm_->GetMeta(kCheckpointKey);
  if (!cp) return cp.error();
  uint64_t checkpoint = *cp && (*cp)->size() == 8 ? GetLittle64((*cp)->data()) : 0;
  auto ns = warm_->GetMeta(kNextStreamKey);
  if (!ns) return ns.error();
  if (*ns && (*ns)->size() == 8) index_next_stream_number_ = GetLittle64((*ns)->data());
  auto seg = warm_->GetMeta(kSegmentKey);
  if (!seg) return seg.error();
  if (*seg && (*seg)->size() == 8) index_segment_seq_ = GetLittle64((*seg)->data());

  auto last = warm_->LastPosition();
  if (!last) return last.error();
  uint64_t last_pos = last->has_value() ? (*last)->value() : 0;

  // Re-index the log after the checkpoint, flushing runs as the live path would.
  uint64_t replayed = 0;
  if (last_pos > checkpoint) {
    auto cursor = warm_->NewCursor();
    cursor->Seek(Position(checkpoint + 1));
    std::string buffer;
    for (; cursor->Valid(); cursor->Next()) {
      auto rec = cursor->record();
      auto v = DecodeRecord(rec);
      if (!v) {
        return Error(ErrorCode::kCorruption, "shard " + std::to_string(id_.value()) + " position " +
                                                 std::to_string(cursor->position().value()) + ": " +
                                                 v.error().message());
      }
      if (v->header.position != cursor->position()) {
        return Error(ErrorCode::kCorruption,
                     "shard " + std::to_string(id_.value()) + ": record at key " +
                         std::to_string(cursor->position().value()) + " says position " +
                         std::to_string(v->header.position.value()));
      }
      buffer.append(rec);
      ++replayed;
      if (buffer.size() >= (16u << 20)) {
        STRATA_TRY(IndexRecords({buffer}));
        buffer.clear();
        if (pending_events_ >= options_.index_flush_events) STRATA_TRY(Flush());
      }
    }
    STRATA_TRY(cursor->status());
    STRATA_TRY(IndexRecords({buffer}));
    STRATA_TRY(Flush());
  }
  if (replayed > 0) {
    spdlog::info("shard {}: re-indexed {} events after checkpoint {}", id_.value(), replayed,
                 checkpoint);
  }
  indexed_upto_.store(last_pos, std::memory_order_release);
  return Recovered{last_pos, index_next_stream_number_, index_segment_seq_};
}

Status ShardIndexer::Checkpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "index", ec);
  if (ec) return Error(ErrorCode::kIoError, "cannot create " + dir + ": " + ec.message());
  // The manifest lock keeps flushes and merges from changing the runs (and the manifest in
  // RocksDB) while the checkpoint is taken, so db/ names exactly the runs linked into index/.
  std::lock_guard lock(runs_.manifest_mu());
  STRATA_TRY(warm_->Checkpoint((fs::path(dir) / "db").string()));
  for (const auto& path : runs_.LiveFiles()) {
    const fs::path to = fs::path(dir) / "index" / fs::path(path).filename();
    fs::create_hard_link(path, to, ec);
    if (ec) fs::copy_file(path, to, ec);
    if (ec) return Error(ErrorCode::kIoError, "cannot link " + path + ": " + ec.message());
  }
  return OkStatus();
}

}  // namespace strata::storage
