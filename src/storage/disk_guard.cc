#include "storage/disk_guard.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/clock.h"
#include "env/file.h"

namespace strata::storage {

namespace {
constexpr auto kSampleInterval = std::chrono::milliseconds(100);
constexpr uint64_t kMaxBallast = 32ull << 20;
}  // namespace

DiskGuard::DiskGuard(std::string data_dir, uint64_t reserve_bytes)
    : dir_(std::move(data_dir)),
      ballast_path_(dir_ + "/RESERVE"),
      reserve_(reserve_bytes),
      ballast_bytes_(std::min(reserve_bytes / 4, kMaxBallast)) {}

DiskGuard::~DiskGuard() { Stop(); }

void DiskGuard::Start() {
  Sample();
  // A ballast from an earlier run counts as present only if it is whole (else it is rewritten).
  struct stat st;
  ballast_present_.store(ballast_bytes_ > 0 && ::stat(ballast_path_.c_str(), &st) == 0 &&
                         static_cast<uint64_t>(st.st_size) == ballast_bytes_);
  monitor_ = std::thread([this] { MonitorLoop(); });
}

void DiskGuard::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void DiskGuard::Sample() {
  auto s = env::SpaceOf(dir_);
  if (!s) return;  // keep the last sample; the error shows up where the disk is written
  free_.store(s->free_bytes, std::memory_order_release);
  total_.store(s->total_bytes, std::memory_order_release);
  sampled_at_.store(MonotonicNanos(), std::memory_order_relaxed);
}

Status DiskGuard::CheckAppend() const {
  Status st = Check();
  if (!st) refused_.fetch_add(1, std::memory_order_relaxed);
  return st;
}

Status DiskGuard::Check() const {
  if (reserve_ == 0) return OkStatus();
  // A sample at most 20 ms old: a fast writer (and RocksDB's WAL preallocation) can use the
  // reserve faster than the monitor's 100 ms. statvfs costs about a microsecond.
  const int64_t now = MonotonicNanos();
  if (now - sampled_at_.load(std::memory_order_relaxed) > 20'000'000) {
    const_cast<DiskGuard*>(this)->Sample();
  }
  const uint64_t free = free_.load(std::memory_order_acquire);
  if (free >= reserve_) return OkStatus();
  return Error(ErrorCode::kDiskFull,
               "the disk of " + dir_ + " has " + env::FormatBytes(free) + " free of " +
                   env::FormatBytes(total_.load(std::memory_order_acquire)) +
                   ", below the reserve of " + env::FormatBytes(reserve_) +
                   " kept for recovery; appends are refused until there is room: free space "
                   "there or grow the volume (or lower --disk-reserve-mb). They resume on "
                   "their own; nothing acknowledged is lost and reads keep working");
}

bool DiskGuard::HasRoom() const { return free_.load(std::memory_order_acquire) >= reserve_; }

void DiskGuard::ReportFailure(const Error& e) {
  if (e.code() != ErrorCode::kDiskFull && e.code() != ErrorCode::kIoError) return;
  if (e.code() == ErrorCode::kDiskFull) release_ballast_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void DiskGuard::KeepBallast() {
  if (ballast_bytes_ == 0) return;
  if (release_ballast_.exchange(false, std::memory_order_acq_rel) && ballast_present()) {
    ::unlink(ballast_path_.c_str());
    ballast_present_.store(false, std::memory_order_release);
    if (releases_++ % 100 == 0) {
      spdlog::warn(
          "the disk of {} is full: released the {} ballast ({}) so that recovery can "
          "write (released {} times so far)",
          dir_, env::FormatBytes(ballast_bytes_), ballast_path_, releases_);
    }
    Sample();
    return;
  }
  // Recreate it only when that leaves the reserve free.
  if (!ballast_present() && free_.load(std::memory_order_acquire) >= reserve_ + ballast_bytes_) {
    const int fd = ::open(ballast_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(ballast_bytes_));
    ::close(fd);
    if (rc != 0) {
      ::unlink(ballast_path_.c_str());
      return;
    }
    ballast_present_.store(true, std::memory_order_release);
    Sample();
  }
}

void DiskGuard::MonitorLoop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kSampleInterval, [&] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    Sample();
    KeepBallast();
  }
}

}  // namespace strata::storage
