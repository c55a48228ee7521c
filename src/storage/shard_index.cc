// Shard: the indexer thread and recovery. Both derive the warm tier's indexes from records with
// the same function (IndexRecords), so what recovery rebuilds is exactly what the live path
// would have written.
#include <spdlog/spdlog.h>

#include "base/coding.h"
#include "model/stream_name.h"
#include "storage/shard.h"

namespace strata::storage {
namespace {
constexpr std::string_view kCheckpointKey = "indexer.checkpoint";
constexpr std::string_view kNextStreamKey = "indexer.next_stream_number";
constexpr std::string_view kSegmentKey = "indexer.segment_seq";
constexpr int kTimeBlockShift = 12;  // 4096 positions per time block (docs/warm-layout.md)

std::string Fixed64(uint64_t v) {
  std::string s(8, '\0');
  PutLittle64(s.data(), v);
  return s;
}
}  // namespace

Status Shard::IndexRecords(const std::vector<std::string_view>& buffers, warm::IndexBatch& batch,
                           uint64_t* last_position) {
  std::vector<std::string_view> dirty;
  auto head_of = [&](std::string_view name) -> Result<StreamHead*> {
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
    return &it->second;
  };
  auto mark = [&](StreamHead* h, std::string_view name) {
    (void)h;
    dirty.push_back(index_heads_.find(name)->first);
  };

  for (std::string_view buf : buffers) {
    size_t off = 0;
    while (off < buf.size()) {
      uint32_t len = PeekRecordLength(buf.substr(off));
      if (len == 0 || off + len > buf.size()) {
        return Error(ErrorCode::kCorruption, "a record in the index hand-off is truncated");
      }
      auto r = DecodeRecord(buf.substr(off, len));
      if (!r) return r.error();
      off += len;
      const RecordHeader& hdr = r->header;
      auto h = head_of(r->stream);
      if (!h) return h.error();
      StreamHead& head = **h;
      head.number = hdr.stream_number;
      head.last_position = hdr.position;
      if (hdr.kind == RecordKind::kTombstone) {
        head.tombstoned = true;
      } else {
        batch.PutStreamIndex(hdr.stream_number, hdr.revision, hdr.position);
        batch.PutDedupe(hdr.stream_number, hdr.event_id,
                        {hdr.revision, hdr.position, hdr.recorded_ts});
        head.last_revision = static_cast<int64_t>(hdr.revision.value());
        if (IsMetadataStream(r->stream) && r->type == kMetadataEventType) {
          auto target = head_of(OriginalStreamOf(r->stream));
          if (!target) return target.error();
          auto m = ParseStreamMetadata(r->data);  // validated when appended
          if (m) {
            (*target)->metadata = *m;
            (*target)->metadata_json.assign(r->data);
            mark(*target, OriginalStreamOf(r->stream));
          }
        }
      }
      mark(&head, r->stream);
      index_next_stream_number_ =
          std::max(index_next_stream_number_, hdr.stream_number.value() + 1);
      index_segment_seq_ = std::max<uint64_t>(index_segment_seq_, hdr.segment_id.value() & ((1ull << 48) - 1));
      uint64_t block = hdr.position.value() >> kTimeBlockShift;
      if (block != time_block_) {
        if (time_block_ != UINT64_MAX) batch.PutTimeBlock(time_block_, time_min_, time_max_);
        time_block_ = block;
        time_min_ = hdr.source_ts;
        time_max_ = hdr.source_ts;
        auto existing = warm_->GetTimeBlock(block);
        if (!existing) return existing.error();
        if (*existing) {
          time_min_ = std::min(time_min_, (*existing)->first);
          time_max_ = std::max(time_max_, (*existing)->second);
        }
      }
      time_min_ = std::min(time_min_, hdr.source_ts);
      time_max_ = std::max(time_max_, hdr.source_ts);
      *last_position = hdr.position.value();
    }
  }
  std::sort(dirty.begin(), dirty.end());
  dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
  for (auto name : dirty) batch.PutHead(name, index_heads_.find(name)->second.Encode());
  if (time_block_ != UINT64_MAX) batch.PutTimeBlock(time_block_, time_min_, time_max_);
  // Bound the indexer's head cache: its contents are persisted, so it can start over.
  if (index_heads_.size() > 1'000'000) index_heads_.clear();
  return OkStatus();
}

Status Shard::CommitIndex(warm::IndexBatch& batch, uint64_t last_position) {
  batch.PutMeta(kCheckpointKey, Fixed64(last_position));
  batch.PutMeta(kNextStreamKey, Fixed64(index_next_stream_number_));
  batch.PutMeta(kSegmentKey, Fixed64(index_segment_seq_));
  return warm_->CommitIndex(batch);
}

void Shard::IndexerLoop() {
  std::vector<IndexWork> works;
  while (true) {
    works.clear();
    {
      std::unique_lock lock(index_mu_);
      index_cv_.wait(lock, [&] { return !index_queue_.empty() || index_stopping_; });
      if (index_queue_.empty() && index_stopping_) break;
      while (!index_queue_.empty()) {
        works.push_back(std::move(index_queue_.front()));
        index_queue_.pop_front();
      }
    }
    std::vector<std::string_view> views;
    size_t bytes = 0;
    for (auto& w : works) {
      views.push_back(w.records);
      bytes += w.records.size();
    }
    warm::IndexBatch batch;
    uint64_t last = 0;
    auto st = IndexRecords(views, batch, &last);
    if (st) st = CommitIndex(batch, last);
    if (!st) {
      // The log is intact; the indexes catch up from the checkpoint on the next open.
      spdlog::error("shard {}: indexing failed, writes stop until restart: {}", id_.value(),
                    st.error().ToString());
      failed_.store(true, std::memory_order_release);
    } else {
      indexed_upto_.store(last, std::memory_order_release);
    }
    {
      std::lock_guard lock(index_mu_);
      unindexed_bytes_ -= bytes;
    }
    index_space_cv_.notify_all();
  }
}

Status Shard::Recover() {
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

  // Replay the log after the checkpoint into the indexes, in batches.
  uint64_t replayed = 0;
  if (last_pos > checkpoint) {
    auto cursor = warm_->NewCursor();
    cursor->Seek(Position(checkpoint + 1));
    std::string buffer;
    auto flush = [&]() -> Status {
      if (buffer.empty()) return OkStatus();
      warm::IndexBatch batch;
      uint64_t upto = 0;
      STRATA_TRY(IndexRecords({buffer}, batch, &upto));
      STRATA_TRY(CommitIndex(batch, upto));
      buffer.clear();
      return OkStatus();
    };
    for (; cursor->Valid(); cursor->Next()) {
      auto rec = cursor->record();
      auto v = DecodeRecord(rec);
      if (!v) {
        return Error(ErrorCode::kCorruption,
                     "shard " + std::to_string(id_.value()) + " position " +
                         std::to_string(cursor->position().value()) + ": " + v.error().message());
      }
      if (v->header.position != cursor->position()) {
        return Error(ErrorCode::kCorruption,
                     "shard " + std::to_string(id_.value()) + ": record at key " +
                         std::to_string(cursor->position().value()) + " says position " +
                         std::to_string(v->header.position.value()));
      }
      buffer.append(rec);
      ++replayed;
      if (buffer.size() >= (16u << 20)) STRATA_TRY(flush());
    }
    STRATA_TRY(cursor->status());
    STRATA_TRY(flush());
  }
  if (replayed > 0) {
    spdlog::info("shard {}: re-indexed {} events after checkpoint {}", id_.value(), replayed,
                 checkpoint);
  }
  // The segment counter continues after the last segment seen (a restart seals the open one).
  segment_seq_ = index_segment_seq_;
  next_stream_number_ = index_next_stream_number_;
  last_position_.store(last_pos, std::memory_order_release);
  indexed_upto_.store(last_pos, std::memory_order_release);
  return OkStatus();
}

}  // namespace strata::storage
