// Archiver: one background thread per shard that moves sealed segments to the cold tier
// (docs/cold-tier.md).
//
// For the next sealed segment after the last archived one it
//   1. exports the segment's records from the warm tier into a local segment file
//      (`shard-NNN/outbox/<id>.seg`, one block in memory);
//   2. uploads the file, streaming (objstore::Upload: one put, or multipart for large files);
//   3. creates the segment's manifest entry if absent (an existing, equal entry is a retry);
//   4. applies local retention: drops the warm copy of old archived segments.
// A failed step is retried with exponential back-off; the exported file is the backlog on disk
// and is kept until its entry exists. Nothing here runs on the append path: the writer only
// publishes which segments are sealed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/retry.h"
#include "objstore/object_store.h"
#include "storage/cold/cold_options.h"
#include "storage/cold/cold_tier.h"
#include "storage/cold/segment_info.h"
#include "storage/log/shard_log.h"

namespace strata::cold {

// Bounds how many archivers export (read + compress) at once: their CPU budget.
class ExportSlots {
 public:
  explicit ExportSlots(uint32_t n) : free_(n) {}
  // Takes a slot; false if `stop` became true while waiting.
  bool Acquire(const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    while (free_ == 0) {
      if (stop.load()) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    --free_;
    return true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint32_t free_;
};

class Archiver {
 public:
  // `sync_before_export`: the warm tier may hold records not yet durable (durability=async);
  // they are synced before a segment of them is exported.
  Archiver(storage::ShardLog* shard, ColdShard* cold, objstore::ObjectStore* store,
           const ColdOptions& options, Clock* clock, bool sync_before_export,
           std::string outbox_dir, ExportSlots* slots);
  ~Archiver();
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;

  void Start();
  // Finishes the step in progress (an upload keeps retrying only until the store's deadline),
  // then stops.
  void Stop();
  void Wake();
  // Waits until every position up to `position` of this shard is archived.
  Status WaitArchived(uint64_t position, Deadline deadline);
  ArchiveShardStatus GetStatus();

 private:
  struct Exported {
    SegmentInfo info;
    std::string path;
  };
  void Loop();
  // Archives the next sealed segment; false when there is none yet.
  Result<bool> ArchiveNext();
  Result<std::optional<Exported>> ExportNext();
  Status Commit(const Exported& e);
  // Compares an existing manifest entry with the segment this store exported.
  Status CheckSameSegment(std::string_view entry_json, const SegmentInfo& mine);
  Status ApplyRetention();

  storage::ShardLog* const shard_;
  ColdShard* const cold_;
  objstore::ObjectStore* const store_;
  const ColdOptions options_;
  Clock* const clock_;
  const bool sync_before_export_;
  const std::string outbox_;
  ExportSlots* const slots_;
  std::optional<Exported> pending_;     // loop thread only
  std::atomic<bool> stop_flag_{false};  // for ExportSlots::Acquire

  std::mutex mu_;
  std::condition_variable cv_;      // the loop waits; WaitArchived waits
  bool stopping_ = false;           // GUARDED_BY(mu_)
  bool wake_ = false;               // GUARDED_BY(mu_)
  uint64_t uploaded_segments_ = 0;  // GUARDED_BY(mu_)
  uint64_t uploaded_bytes_ = 0;     // GUARDED_BY(mu_)
  double upload_seconds_ = 0;       // GUARDED_BY(mu_)
  uint64_t errors_ = 0;             // GUARDED_BY(mu_)
  std::string last_error_;          // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace strata::cold
