#include "content_log.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace strata::powerloss {
namespace {

// pread()s exactly [offset, offset + size) into buf; bytes past the end of the file read as
// zeros (the invariant says they cannot be needed, but a short read must not abort a write).
int PreadFull(int fd, char* buf, size_t size, off_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, buf + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) {
      std::fill(buf + done, buf + size, '\0');
      break;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

int PwriteFull(int fd, const char* buf, size_t size, off_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, buf + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

std::shared_ptr<ContentLog::Record> ContentLog::Acquire(Ident id) {
  std::lock_guard lock(mu_);
  auto& slot = records_[id];
  if (!slot) slot = std::make_shared<Record>();
  return slot;
}

std::shared_ptr<ContentLog::Record> ContentLog::Find(Ident id) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : it->second;
}

int ContentLog::Prepare(int fd, Ident id, Record& rec) {
  if (rec.initialized) return 1;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (st.st_nlink == 0) {
    Forget(id);
    return 0;
  }
  rec.initialized = true;
  rec.durable_size = st.st_size;
  return 1;
}

void ContentLog::InsertUndo(Record& rec, off_t at, std::string bytes) {
  rec.undo_bytes += bytes.size();
  auto next = rec.undo.lower_bound(at);
  auto here = next;
  if (next != rec.undo.begin()) {
    auto prev = std::prev(next);
    if (prev->first + static_cast<off_t>(prev->second.size()) == at) {
      prev->second += bytes;
      here = prev;
    }
  }
  if (here == next) here = rec.undo.emplace_hint(next, at, std::move(bytes));
  if (next != rec.undo.end() &&
      here->first + static_cast<off_t>(here->second.size()) == next->first) {
    here->second += next->second;
    rec.undo.erase(next);
  }
}

int ContentLog::CaptureUndo(int fd, Record& rec, off_t begin, off_t end) {
  end = std::min(end, rec.durable_size);
  off_t pos = std::max<off_t>(begin, 0);
  while (pos < end) {
    auto next = rec.undo.upper_bound(pos);  // the first range starting after pos
    if (next != rec.undo.begin()) {
      auto cur = std::prev(next);
      off_t cur_end = cur->first + static_cast<off_t>(cur->second.size());
      if (cur_end > pos) {  // pos is already saved
        pos = cur_end;
        continue;
      }
    }
    off_t gap_end = next == rec.undo.end() ? end : std::min(end, next->first);
    std::string bytes(static_cast<size_t>(gap_end - pos), '\0');
    if (int err = PreadFull(fd, bytes.data(), bytes.size(), pos); err != 0) return err;
    InsertUndo(rec, pos, std::move(bytes));
    pos = gap_end;
  }
  return 0;
}

ssize_t ContentLog::Write(int fd, Ident id, const char* buf, size_t size, off_t offset,
                          bool append) {
  auto rec = Acquire(id);
  std::lock_guard lock(rec->mu);
  int tracked = Prepare(fd, id, *rec);
  if (tracked < 0) return tracked;
  if (append) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    offset = st.st_size;
  }
  if (tracked == 1) {
    int err = CaptureUndo(fd, *rec, offset, offset + static_cast<off_t>(size));
    if (err != 0) return err;
  }
  ssize_t n;
  do {
    n = pwrite(fd, buf, size, offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (tracked == 1) {
    rec->unsynced_bytes += static_cast<uint64_t>(n);
    if (offset + n > rec->durable_size) rec->last_extend = Extent{offset, n};
  }
  return n;
}

int ContentLog::Truncate(int fd, Ident id, off_t size) {
  auto rec = Acquire(id);
  std::lock_guard lock(rec->mu);
  int tracked = Prepare(fd, id, *rec);
  if (tracked < 0) return tracked;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (tracked == 1) {
    // Shrinking destroys [size, st_size); growing zero-fills [st_size, size), whose durable bytes
    // (if below the durable size) were saved when an earlier truncate destroyed them.
    off_t lo = std::min(size, st.st_size), hi = std::max(size, st.st_size);
    if (int err = CaptureUndo(fd, *rec, lo, hi); err != 0) return err;
  }
  if (ftruncate(fd, size) != 0) return -errno;
  if (tracked == 1) rec->unsynced_bytes += static_cast<uint64_t>(std::abs(size - st.st_size));
  return 0;
}

int ContentLog::Fallocate(int fd, Ident id, int mode, off_t offset, off_t length) {
  auto rec = Acquire(id);
  std::lock_guard lock(rec->mu);
  int tracked = Prepare(fd, id, *rec);
  if (tracked < 0) return tracked;
  if (tracked == 1) {
    off_t end = offset + length;
    if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) end = rec->durable_size;
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
                FALLOC_FL_INSERT_RANGE)) {
      if (int err = CaptureUndo(fd, *rec, offset, end); err != 0) return err;
      rec->unsynced_bytes += static_cast<uint64_t>(length);
    }
  }
  return fallocate(fd, mode, offset, length) == 0 ? 0 : -errno;
}

int ContentLog::Sync(int fd, Ident id) {
  auto rec = Find(id);
  if (!rec) return 0;  // nothing written since crashfs started: already durable
  std::lock_guard lock(rec->mu);
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  rec->initialized = true;
  rec->durable_size = st.st_size;
  rec->undo.clear();
  rec->undo_bytes = 0;
  rec->unsynced_bytes = 0;
  rec->last_extend.reset();
  return 0;
}

void ContentLog::Forget(Ident id) {
  std::lock_guard lock(mu_);
  records_.erase(id);
}

ContentLog::Stats ContentLog::GetStats() const {
  std::vector<std::shared_ptr<Record>> recs;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, rec] : records_) recs.push_back(rec);
  }
  Stats stats;
  for (const auto& rec : recs) {
    std::lock_guard lock(rec->mu);
    stats.unsynced_bytes += rec->unsynced_bytes;
    stats.undo_bytes += rec->undo_bytes;
    if (rec->unsynced_bytes > 0 || rec->undo_bytes > 0) ++stats.dirty_files;
  }
  return stats;
}

std::vector<Ident> ContentLog::Tracked() const {
  std::lock_guard lock(mu_);
  std::vector<Ident> out;
  for (const auto& [id, rec] : records_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

ContentLog::RestoreResult ContentLog::Restore(int fd, Ident id, std::mt19937_64* tear_rng) {
  RestoreResult result;
  auto rec = Find(id);
  if (!rec) return result;
  std::lock_guard lock(rec->mu);
  struct stat st;
  if (!rec->initialized) return result;
  if (fstat(fd, &st) != 0) {
    result.error = -errno;
    return result;
  }
  if (rec->undo.empty() && st.st_size == rec->durable_size) return result;
  result.changed = true;
  off_t final_size = rec->durable_size;
  std::string kept;  // the surviving prefix of a torn write, from max(offset, durable_size)
  off_t kept_at = 0;
  if (tear_rng && rec->last_extend && rec->last_extend->length >= 2) {
    const Extent& w = *rec->last_extend;
    off_t prefix = std::uniform_int_distribution<off_t>(1, w.length - 1)(*tear_rng);
    off_t tear_end = std::min(st.st_size, w.offset + prefix);
    kept_at = std::max(w.offset, rec->durable_size);
    if (tear_end > kept_at) {
      kept.resize(static_cast<size_t>(tear_end - kept_at));
      if (PreadFull(fd, kept.data(), kept.size(), kept_at) == 0) {
        final_size = tear_end;
        result.torn = true;
      } else {
        kept.clear();
      }
    }
  }
  if (st.st_size > final_size) result.dropped_bytes += st.st_size - final_size;
  if (!kept.empty() && kept_at > rec->durable_size) {
    result.dropped_bytes += kept_at - rec->durable_size;  // the gap before the torn write
  }
  // Back to the durable size first (zeros past it), then the kept prefix, then the originals.
  if (ftruncate(fd, rec->durable_size) != 0) {
    result.error = -errno;
    return result;
  }
  if (!kept.empty()) result.error = PwriteFull(fd, kept.data(), kept.size(), kept_at);
  for (const auto& [at, bytes] : rec->undo) {
    if (int err = PwriteFull(fd, bytes.data(), bytes.size(), at); err != 0) result.error = err;
    result.dropped_bytes += bytes.size();
  }
  return result;
}

void ContentLog::Clear() {
  std::lock_guard lock(mu_);
  records_.clear();
}

}  // namespace strata::powerloss
