// DiskGuard: watches the free space of a store's disk and decides whether appends may proceed,
// so that a full disk refuses appends with a clear `disk-full` error instead of failing deep in
// RocksDB, and a recovery always finds room for what it must write (docs/durability.md, "Full
// and failing disks").
//
// - A monitor thread samples statvfs of the data directory every 100 ms.
// - Appends are refused (CheckAppend) while the free space is below `reserve` bytes: the reserve
//   stays free for what recovery writes (RocksDB's flush at resume, index runs, STATE, manifests).
// - A ballast file `<data>/RESERVE` (a quarter of the reserve, at most 32 MiB) is kept allocated
//   while there is room. When a component hits ENOSPC anyway (another process filled the disk),
//   ReportFailure deletes it, so recovery has room even then; it is recreated once free space is
//   back above the reserve.
// - HasRoom() is what the shard writers ask before resuming a RocksDB instance after a write
//   error, and what background work (merges) asks before writing.
//
// Thread-safety: every method may be called from any thread; the monitor thread owns the ballast.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/error.h"

namespace strata::storage {

class DiskGuard {
 public:
  DiskGuard(std::string data_dir, uint64_t reserve_bytes);
  ~DiskGuard();
  DiskGuard(const DiskGuard&) = delete;
  DiskGuard& operator=(const DiskGuard&) = delete;

  // Samples once and starts the monitor thread.
  void Start();
  void Stop();

  // OK, or kDiskFull saying how much is free, the reserve, and what to do.
  Status Check() const;
  // Check(), counting a refusal (refused()).
  Status CheckAppend() const;
  // Free space at or above the reserve (and the monitor could sample it).
  bool HasRoom() const;
  // A write somewhere failed with kDiskFull or kIoError: resample now, and on a full disk give
  // the ballast back so that recovery can write. Other errors are ignored.
  void ReportFailure(const Error& e);

  uint64_t free_bytes() const { return free_.load(std::memory_order_acquire); }
  uint64_t total_bytes() const { return total_.load(std::memory_order_acquire); }
  uint64_t reserve_bytes() const { return reserve_; }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  bool ballast_present() const { return ballast_present_.load(std::memory_order_acquire); }

 private:
  void Sample();
  void MonitorLoop();
  void KeepBallast();  // monitor thread

  const std::string dir_;
  const std::string ballast_path_;
  const uint64_t reserve_;
  const uint64_t ballast_bytes_;
  std::atomic<uint64_t> free_{UINT64_MAX};
  std::atomic<uint64_t> total_{0};
  std::atomic<int64_t> sampled_at_{0};  // MonotonicNanos of the last sample
  uint64_t releases_ = 0;               // monitor thread
  std::atomic<bool> ballast_present_{false};
  std::atomic<bool> release_ballast_{false};
  mutable std::atomic<uint64_t> refused_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool wake_ = false;      // GUARDED_BY(mu_)
  std::thread monitor_;
};

}  // namespace strata::storage
