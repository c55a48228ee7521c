// ContentLog: which bytes of which files are not durable yet, and how to put the durable
// ones back at a power cut.
//
// Model (strict POSIX): a file's content is durable as of its last fsync/fdatasync; everything
// written, truncated or hole-punched since is not. Per file (by Ident) the log keeps the durable
// size and, for every byte below it that has been changed since the last sync, the original
// byte (an undo record taken the first time the range is dirtied). Bytes beyond the durable size
// need no record: a cut truncates them away. So memory is bounded by what is unsynced, and a sync
// costs one fstat, never a copy.
//
// Invariant: a byte below the durable size that no undo record covers holds its durable value in
// the backing file. A file without a record is entirely durable.
//
// Thread-safety: every method may be called from any thread. Each file's record has its own
// mutex, held across the backing syscall that changes the file, so capturing the original bytes,
// making the change and syncing are atomic with respect to one another for that file; different
// files proceed in parallel. Restore() and Clear() are for the power cut, which runs with no
// other operation in flight.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "backing_dir.h"

namespace strata::powerloss {

class ContentLog {
 public:
  // pwrite()s `size` bytes at `offset`, or at the end of the file if `append` (O_APPEND), to the
  // backing file open read-write at `fd`. Returns the bytes written or -errno. Not durable.
  ssize_t Write(int fd, Ident id, const char* buf, size_t size, off_t offset, bool append);

  // ftruncate()s the file at `fd` to `size`. Returns 0 or -errno. Not durable.
  int Truncate(int fd, Ident id, off_t size);

  // fallocate()s with `mode`, recording the bytes a punch, zero, collapse or insert changes.
  // Returns 0 or -errno. Not durable (preallocation changes no content, so nothing to undo).
  int Fallocate(int fd, Ident id, int mode, off_t offset, off_t length);

  // fsync/fdatasync: the file's current content becomes its durable content. Returns 0 or -errno.
  int Sync(int fd, Ident id);

  // The object `id` is gone for good (its last link was removed) or `id` names a brand-new object:
  // whatever is recorded under it is stale.
  void Forget(Ident id);

  struct Stats {
    uint64_t unsynced_bytes = 0;  // bytes written, truncated or punched since their file's sync
    uint64_t undo_bytes = 0;      // original bytes held in memory to undo overwrites
    uint64_t dirty_files = 0;     // files with unsynced changes
  };
  Stats GetStats() const;

  // For the cut: every file with a record.
  std::vector<Ident> Tracked() const;

  struct RestoreResult {
    bool changed = false;        // the file was not at its durable content
    bool torn = false;           // a prefix of its last unsynced extending write was kept
    uint64_t dropped_bytes = 0;  // bytes cut off its end plus original bytes put back
    int error = 0;               // 0, or the -errno of a syscall that failed (best effort)
  };
  // For the cut: puts the file at `fd` (open read-write) back to its durable content. With
  // `tear_rng`, a file whose last unsynced write extended it past its durable size keeps a
  // random proper prefix of that write (the range between the durable size and that write, if
  // any, reads as zeros); all other unsynced data is dropped either way.
  RestoreResult Restore(int fd, Ident id, std::mt19937_64* tear_rng);

  // For the cut: forgets everything.
  void Clear();

 private:
  struct Extent {
    off_t offset = 0;
    off_t length = 0;
  };
  struct Record {
    std::mutex mu;
    // The members below are GUARDED_BY(mu).
    bool initialized = false;  // durable_size was read from the file
    off_t durable_size = 0;
    std::map<off_t, std::string> undo;  // disjoint, non-adjacent ranges below durable_size
    uint64_t undo_bytes = 0;
    uint64_t unsynced_bytes = 0;
    std::optional<Extent> last_extend;  // the last write ending past durable_size
  };

  // The record for `id`, created (uninitialized) if absent.
  std::shared_ptr<Record> Acquire(Ident id);
  std::shared_ptr<Record> Find(Ident id) const;
  // Initializes `rec` from the file at `fd` if needed. Returns 1 if the file is tracked, 0 if it
  // has no links left (its content can never matter again; the record is dropped), or -errno.
  int Prepare(int fd, Ident id, Record& rec);
  // Saves the original bytes of [begin, end) clipped to the durable size, where not saved yet.
  static int CaptureUndo(int fd, Record& rec, off_t begin, off_t end);
  static void InsertUndo(Record& rec, off_t at, std::string bytes);

  mutable std::mutex mu_;
  std::unordered_map<Ident, std::shared_ptr<Record>, IdentHash> records_;  // GUARDED_BY(mu_)
};

}  // namespace strata::powerloss
