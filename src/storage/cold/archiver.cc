#include "storage/cold/archiver.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include "base/retry.h"
#include "model/record.h"

namespace strata::cold {

namespace fs = std::filesystem;

Archiver::Archiver(storage::ShardLog* shard, ColdShard* cold, objstore::ObjectStore* store,
                   const ColdOptions& options, Clock* clock, bool sync_before_export,
                   std::string outbox_dir, ExportSlots* slots)
    : shard_(shard),
      cold_(cold),
      store_(store),
      options_(options),
      clock_(clock),
      sync_before_export_(sync_before_export),
      outbox_(std::move(outbox_dir)),
      slots_(slots) {}

Archiver::~Archiver() { Stop(); }

void Archiver::Start() {
  // Exported files of an earlier run may be partial; they are re-exported from the warm tier.
  std::error_code ec;
  fs::remove_all(outbox_, ec);
  fs::create_directories(outbox_, ec);
  thread_ = std::thread([this] { Loop(); });
}

void Archiver::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_flag_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Archiver::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Archiver::Loop() {
  // Archiving is background work: appends and reads have the CPU first.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 5);
  Backoff backoff({.min = options_.retry_min, .max = options_.retry_max});
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto done = ArchiveNext();
    std::chrono::milliseconds wait(200);
    if (!done) {
      wait = backoff.Next();
      const uint32_t failures_in_a_row = backoff.failures();
      {
        std::lock_guard lock(mu_);
        ++errors_;
        last_error_ = done.error().ToString();
      }
      // Log the first failure and then every 10th, so an outage does not flood the log.
      if (failures_in_a_row == 1 || failures_in_a_row % 10 == 0) {
        spdlog::warn("shard {}: archiving to {} failed ({} attempts so far; retrying in {} ms): {}",
                     shard_->shard_index(), store_->url(), failures_in_a_row, wait.count(),
                     done.error().ToString());
      }
    } else {
      if (backoff.failures() > 0) {
        spdlog::info("shard {}: archiving to {} works again after {} failed attempts",
                     shard_->shard_index(), store_->url(), backoff.failures());
        std::lock_guard lock(mu_);
        last_error_.clear();
      }
      backoff.Reset();
      auto retained = ApplyRetention();
      if (!retained) {
        spdlog::warn("shard {}: local retention failed (will retry): {}", shard_->shard_index(),
                     retained.error().ToString());
      }
      if (*done) continue;  // more may be sealed already
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return stopping_ || wake_; });
    wake_ = false;
  }
}

Result<bool> Archiver::ArchiveNext() {
  if (!pending_) {
    if (!slots_->Acquire(stop_flag_)) return false;
    auto exported = ExportNext();
    slots_->Release();
    if (!exported) return exported.error();
    if (!*exported) return false;
    pending_ = std::move(**exported);
  }
  // An entry for this segment already there (a retry whose response was lost) must describe the
  // same records; a different one means the object must not be overwritten.
  auto existing = objstore::GetString(
      *store_, cold::ManifestKey(pending_->info.shard, pending_->info.segment_id));
  double seconds = 0;
  if (!existing && existing.error().code() != ErrorCode::kObjectNotFound) return existing.error();
  if (existing) {
    STRATA_TRY(CheckSameSegment(*existing, pending_->info));
  } else {
    auto body = objstore::FileSource::Open(pending_->path);
    if (!body) return body.error();
    const auto started = std::chrono::steady_clock::now();
    STRATA_TRY(objstore::Upload(*store_, pending_->info.key, **body, options_.upload_part_bytes));
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  STRATA_TRY(Commit(*pending_));
  {
    std::lock_guard lock(mu_);
    ++uploaded_segments_;
    uploaded_bytes_ += pending_->info.bytes;
    upload_seconds_ += seconds;
  }
  cv_.notify_all();  // WaitArchived
  std::error_code ec;
  fs::remove(pending_->path, ec);
  spdlog::debug("shard {}: archived segment {:016x} (positions {}..{}, {} events, {} bytes)",
                shard_->shard_index(), pending_->info.segment_id,
                pending_->info.first_position.value(), pending_->info.last_position.value(),
                pending_->info.events, pending_->info.bytes);
  pending_.reset();
  return true;
}

Result<std::optional<Archiver::Exported>> Archiver::ExportNext() {
  const auto last = cold_->last();
  const uint64_t next = last ? last->last_position.value() + 1 : 1;
  // The sealed sequence before the iterator: every record of a sealed segment was written before
  // the seal was published, so an iterator created after reading it sees all of them.
  const uint64_t sealed = shard_->sealed_segment_seq();
  auto cursor = shard_->NewWarmScan();  // a bulk read: keep the cache
  cursor->Seek(Position(next));
  if (!cursor->Valid()) {
    STRATA_TRY(cursor->status());
    return std::optional<Exported>();
  }
  auto first = DecodeRecord(cursor->record());
  if (!first) return first.error();
  const uint64_t segment = first->header.segment_id.value();
  if ((segment & ((1ull << 48) - 1)) > sealed) {
    return std::optional<Exported>();  // the next segment is still open
  }
  if (sync_before_export_) {
    // Never archive what the local WAL could still lose (everything this iterator sees is in
    // it): a power loss would roll the stream heads back, and the cold tier would hold events
    // the store no longer has.
    STRATA_TRY(shard_->SyncWarm());
  }
  Exported e;
  e.path = (fs::path(outbox_) / (std::to_string(segment) + ".seg")).string();
  auto writer =
      cold::SegmentWriter::Create(e.path, SegmentId(segment), 64 << 10, options_.zstd_level);
  if (!writer) return writer.error();
  int64_t max_recorded = 0;
  for (; cursor->Valid(); cursor->Next()) {
    auto v = DecodeRecord(cursor->record());
    if (!v) {
      return Error(ErrorCode::kCorruption,
                   "shard " + std::to_string(shard_->shard_index()) + " position " +
                       std::to_string(cursor->position().value()) + ": " + v.error().message());
    }
    if (v->header.segment_id.value() != segment) break;
    max_recorded = std::max(max_recorded, v->header.recorded_ts);
    STRATA_TRY((*writer)->Add(cursor->record()));
  }
  STRATA_TRY(cursor->status());
  auto footer = (*writer)->Finish();
  if (!footer) return footer.error();
  std::error_code ec;
  const uint64_t size = fs::file_size(e.path, ec);
  if (ec) return Error(ErrorCode::kIoError, "stat " + e.path + ": " + ec.message());
  e.info.shard = shard_->shard_index();
  e.info.segment_id = segment;
  e.info.first_position = Position(footer->first_position);
  e.info.last_position = Position(footer->last_position);
  e.info.min_source_ts = footer->min_source_ts;
  e.info.max_source_ts = footer->max_source_ts;
  e.info.max_recorded_ts = max_recorded;
  e.info.events = footer->events;
  e.info.bytes = size;
  e.info.key = cold::SegmentKey(e.info.shard, segment);
  return std::optional<Exported>(std::move(e));
}

Status Archiver::Commit(const Exported& e) {
  const std::string key = cold::ManifestKey(e.info.shard, e.info.segment_id);
  auto st =
      objstore::PutString(*store_, key, cold::EncodeManifestEntry(e.info), {.if_absent = true});
  if (!st) {
    if (st.error().code() != ErrorCode::kAlreadyExists) return st;
    // A retry after a crash or a lost response: the entry must describe the same segment.
    auto text = objstore::GetString(*store_, key);
    if (!text) return text.error();
    STRATA_TRY(CheckSameSegment(*text, e.info));
  }
  cold_->Add(e.info);
  return OkStatus();
}

Status Archiver::CheckSameSegment(std::string_view entry_json, const SegmentInfo& mine) {
  auto existing = cold::DecodeManifestEntry(entry_json, mine.shard);
  if (!existing) return existing.error();
  if (existing->first_position != mine.first_position ||
      existing->last_position != mine.last_position || existing->events != mine.events) {
    return Error(ErrorCode::kCorruption,
                 "the cold tier " + store_->url() + " already lists segment " +
                     cold::ManifestKey(mine.shard, mine.segment_id) + " with positions " +
                     std::to_string(existing->first_position.value()) + ".." +
                     std::to_string(existing->last_position.value()) + ", not this store's " +
                     std::to_string(mine.first_position.value()) + ".." +
                     std::to_string(mine.last_position.value()) +
                     "; this shard stops archiving: is another store writing to the same URL?");
  }
  return OkStatus();
}

Status Archiver::ApplyRetention() {
  auto segs = cold_->segments();
  if (segs->size() < 2) return OkStatus();
  const uint64_t floor = shard_->warm_floor();
  const uint64_t indexed = shard_->indexed_upto();
  const int64_t now = clock_->NowMicros();
  const int64_t max_age_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.local_retention).count();
  const uint64_t byte_limit = options_.local_retention_bytes;
  uint64_t warm_bytes =
      byte_limit ? shard_->WarmBytes(Position(floor), shard_->last_position()) : 0;
  uint64_t new_floor = floor;
  // Never the newest archived segment: the warm tier keeps the shard's last position.
  for (size_t i = 0; i + 1 < segs->size(); ++i) {
    const SegmentInfo& s = (*segs)[i];
    if (s.last_position.value() < new_floor) continue;
    if (s.last_position.value() > indexed) break;
    const bool old = now - s.max_recorded_ts > max_age_us;
    const bool over = byte_limit && warm_bytes > byte_limit;
    if (!old && !over) break;
    if (over) {
      const uint64_t b = shard_->WarmBytes(s.first_position, s.last_position);
      warm_bytes = warm_bytes > b ? warm_bytes - b : 0;
    }
    new_floor = s.last_position.value() + 1;
  }
  if (new_floor == floor) return OkStatus();
  spdlog::debug("shard {}: positions below {} now read from the cold tier", shard_->shard_index(),
                new_floor);
  return shard_->DropWarmBelow(new_floor);
}

Status Archiver::WaitArchived(uint64_t position, Deadline deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    auto last = cold_->last();
    if (position == 0 || (last && last->last_position.value() >= position)) return OkStatus();
    if (stopping_) return Error(ErrorCode::kStoreClosed, "the store is closing");
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      last = cold_->last();
      if (last && last->last_position.value() >= position) return OkStatus();
      return Error(ErrorCode::kDeadlineExceeded,
                   "shard " + std::to_string(shard_->shard_index()) +
                       " has not archived up to position " + std::to_string(position) + " yet" +
                       (last_error_.empty() ? "" : " (last error: " + last_error_ + ")"));
    }
  }
}

ArchiveShardStatus Archiver::GetStatus() {
  ArchiveShardStatus s;
  s.shard = shard_->shard_index();
  auto segs = cold_->segments();
  s.segments = segs->size();
  s.archived_upto = segs->empty() ? Position(0) : segs->back().last_position;
  s.warm_floor = Position(shard_->warm_floor());
  const Position last = shard_->last_position();
  if (last.value() > s.archived_upto.value()) {
    s.backlog_bytes = shard_->WarmBytes(Position(s.archived_upto.value() + 1), last);
    auto cursor = shard_->NewWarmScan();
    cursor->Seek(Position(s.archived_upto.value() + 1));
    if (cursor->Valid()) {
      auto v = DecodeRecord(cursor->record());
      if (v) s.backlog_age_us = std::max<int64_t>(0, clock_->NowMicros() - v->header.recorded_ts);
    }
  }
  std::lock_guard lock(mu_);
  s.uploaded_segments = uploaded_segments_;
  s.uploaded_bytes = uploaded_bytes_;
  s.upload_seconds = upload_seconds_;
  s.errors = errors_;
  s.last_error = last_error_;
  return s;
}

}  // namespace strata::cold
