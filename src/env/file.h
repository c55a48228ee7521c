// The one file seam: every file Strata writes outside RocksDB goes through here (leveldb's
// Env/WritableFile are the model), so that durability and error reporting are decided once.
//
// - WritableFile: a buffered sequential writer. "Appended" means handed to the kernel (write(2))
//   only after Flush; durable only after Sync (fdatasync). Callers that need a file to appear
//   atomically write it under a temporary name and call RenameDurably.
// - ReplaceFile / WriteMetaFile: a whole file replaced atomically and durably (temporary name,
//   fdatasync, rename, fsync of the directory), as leveldb's SetCurrentFile does.
// - ReadMetaFile: reads a file written by WriteMetaFile and checks its length and CRC32C; a
//   truncated, empty or garbled file is kCorruption naming the file and what to do.
//
// Errors: ENOSPC and EDQUOT are kDiskFull and name the directory and its free space; other
// failures are kIoError naming the path. Nothing here throws.
//
// Thread-safety: free functions are safe from any thread; a WritableFile belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace strata::env {

// The Error for an errno of an operation on `path` ("writing index run …").
Error FromErrno(int err, std::string_view what, const std::string& path);

// Free and total bytes of the filesystem holding `path` (statvfs; available to unprivileged
// users, as df shows it).
struct DiskSpace {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};
Result<DiskSpace> SpaceOf(const std::string& path);
// "12.5 MiB"
std::string FormatBytes(uint64_t bytes);

class WritableFile {
 public:
  enum class Mode {
    kTruncate,   // create or truncate
    kExclusive,  // create; kAlreadyExists if the path exists
    kAppend,     // create or append at the end (O_APPEND)
  };
  // buffer_bytes 0: every Append goes to the kernel at once (an ack log that must survive a
  // SIGKILL right after Append returns).
  static Result<std::unique_ptr<WritableFile>> Open(const std::string& path, Mode mode,
                                                    size_t buffer_bytes = 1 << 20);
  ~WritableFile();  // closes without syncing
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  Status Append(std::string_view bytes);
  // Writes `bytes` at `offset` (below size()); for headers filled in at the end.
  Status WriteAt(uint64_t offset, std::string_view bytes);
  Status Flush();  // buffered bytes to the kernel
  Status Sync();   // Flush, then fdatasync: everything appended is durable
  // Asks the kernel to start writing back what has been flushed (sync_file_range), so that a
  // later Sync does not stall other writers' fsyncs behind a burst of dirty pages.
  void StartWriteback();
  Status Close();  // Flush and close (no sync)
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  WritableFile(std::string path, int fd, size_t buffer_bytes, uint64_t size);
  Status WriteAll(std::string_view bytes);

  const std::string path_;
  int fd_;
  const size_t buffer_bytes_;
  std::string buffer_;
  uint64_t size_;              // bytes appended, flushed or not
  uint64_t written_back_ = 0;  // StartWriteback's progress
};

// fsyncs a directory, so that entries created, renamed or removed in it are durable.
Status SyncDir(const std::string& dir);
// Renames `from` over `to` and fsyncs the directory of `to` (and of `from`, if another).
Status RenameDurably(const std::string& from, const std::string& to);
// mkdir -p, fsyncing the parent of every directory it creates.
Status CreateDirs(const std::string& path);

// Replaces `path` with `contents` atomically and durably (path.tmp, fdatasync, rename, fsync of
// the directory). After a crash the file holds either the old or the new contents.
Status ReplaceFile(const std::string& path, std::string_view contents);

// The whole file; kObjectNotFound when it does not exist. max_bytes guards against reading a
// huge file by mistake (kCorruption beyond it).
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = 64 << 20);

// Metadata files: the payload followed by a one-line trailer (docs/file-seam.md)
//   #strata-meta v1 length=<decimal payload bytes> crc32c=<8 hex digits>\n
// so that a text payload (JSON) stays readable with cat.
Status WriteMetaFile(const std::string& path, std::string_view payload);
// The payload; kCorruption (naming the file, why, and `remedy`) for an empty, truncated or
// garbled file; kObjectNotFound when it does not exist. With accept_legacy, a file without any
// trailer (written before the trailer existed) is returned whole, for the caller to validate.
Result<std::string> ReadMetaFile(const std::string& path, std::string_view remedy,
                                 bool accept_legacy = false);
// The same, nullopt when the file does not exist.
Result<std::optional<std::string>> ReadMetaFileIfExists(const std::string& path,
                                                        std::string_view remedy,
                                                        bool accept_legacy = false);
// The trailer for `payload` (WriteMetaFile appends it; exposed for tests and strata check).
std::string MetaTrailer(std::string_view payload);
// Checks a whole meta file's bytes; the payload, or why it is not valid (no error code).
std::optional<std::string_view> ParseMetaFile(std::string_view bytes, std::string* why,
                                              bool accept_legacy = false);

}  // namespace strata::env
