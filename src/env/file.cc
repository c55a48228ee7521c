#include "env/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/crc32c.h"

namespace strata::env {
namespace fs = std::filesystem;

namespace {

std::string DirOf(const std::string& path) {
  fs::path p(path);
  fs::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Closes an fd on scope exit unless released.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

constexpr std::string_view kTrailerPrefix = "#strata-meta v1 ";

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1ull << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " bytes", bytes);
  }
  return buf;
}

Result<DiskSpace> SpaceOf(const std::string& path) {
  struct statvfs v;
  if (::statvfs(path.c_str(), &v) != 0) {
    return Error(ErrorCode::kIoError, "statvfs " + path + ": " + std::strerror(errno));
  }
  DiskSpace s;
  s.free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  s.total_bytes = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
  return s;
}

Error FromErrno(int err, std::string_view what, const std::string& path) {
  if (err == ENOSPC || err == EDQUOT) {
    const std::string dir = DirOf(path);
    std::string free_text = "unknown";
    if (auto s = SpaceOf(dir)) free_text = FormatBytes(s->free_bytes);
    return Error(ErrorCode::kDiskFull,
                 std::string(what) + " " + path + ": no space left on the disk of " + dir + " (" +
                     free_text +
                     " free); free space there or grow the volume: writes resume on their "
                     "own once there is room");
  }
  return Error(ErrorCode::kIoError, std::string(what) + " " + path + ": " + std::strerror(err));
}

// ---- WritableFile

WritableFile::WritableFile(std::string path, int fd, size_t buffer_bytes, uint64_t size)
    : path_(std::move(path)), fd_(fd), buffer_bytes_(buffer_bytes), size_(size) {
  if (buffer_bytes_ > 0) buffer_.reserve(buffer_bytes_);
}

WritableFile::~WritableFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<WritableFile>> WritableFile::Open(const std::string& path, Mode mode,
                                                         size_t buffer_bytes) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
  if (mode == Mode::kTruncate) flags |= O_TRUNC;
  if (mode == Mode::kExclusive) flags |= O_EXCL;
  if (mode == Mode::kAppend) flags |= O_APPEND;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return Error(ErrorCode::kAlreadyExists, path + " already exists");
    return FromErrno(errno, "creating", path);
  }
  uint64_t size = 0;
  if (mode == Mode::kAppend) {
    struct stat st;
    if (::fstat(fd, &st) == 0) size = static_cast<uint64_t>(st.st_size);
  }
  return std::unique_ptr<WritableFile>(new WritableFile(path, fd, buffer_bytes, size));
}

Status WritableFile::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno, "writing", path_);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status WritableFile::Append(std::string_view bytes) {
  if (fd_ < 0) return Error(ErrorCode::kInternal, "append to closed file " + path_);
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() <= buffer_bytes_) {
    buffer_.append(bytes);
    return OkStatus();
  }
  STRATA_TRY(Flush());
  if (bytes.size() < buffer_bytes_) {
    buffer_.append(bytes);
    return OkStatus();
  }
  return WriteAll(bytes);
}

Status WritableFile::WriteAt(uint64_t offset, std::string_view bytes) {
  STRATA_TRY(Flush());
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno, "writing", path_);
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status WritableFile::Flush() {
  if (buffer_.empty()) return OkStatus();
  Status st = WriteAll(buffer_);
  buffer_.clear();
  return st;
}

void WritableFile::StartWriteback() {
  const uint64_t flushed = size_ - buffer_.size();
  if (fd_ < 0 || flushed <= written_back_) return;
  ::sync_file_range(fd_, static_cast<off_t>(written_back_),
                    static_cast<off_t>(flushed - written_back_), SYNC_FILE_RANGE_WRITE);
  written_back_ = flushed;
}

Status WritableFile::Sync() {
  STRATA_TRY(Flush());
  if (::fdatasync(fd_) != 0) return FromErrno(errno, "syncing", path_);
  return OkStatus();
}

Status WritableFile::Close() {
  if (fd_ < 0) return OkStatus();
  Status st = Flush();
  if (::close(fd_) != 0 && st) st = FromErrno(errno, "closing", path_);
  fd_ = -1;
  return st;
}

// ---- directories

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FromErrno(errno, "opening directory", dir);
  FdCloser closer{fd};
  if (::fsync(fd) != 0) return FromErrno(errno, "syncing directory", dir);
  return OkStatus();
}

Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return FromErrno(errno, "renaming " + from + " to", to);
  const std::string to_dir = DirOf(to), from_dir = DirOf(from);
  STRATA_TRY(SyncDir(to_dir));
  if (fs::path(from_dir).lexically_normal() != fs::path(to_dir).lexically_normal()) {
    STRATA_TRY(SyncDir(from_dir));
  }
  return OkStatus();
}

Status CreateDirs(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.empty()) return OkStatus();
  std::error_code ec;
  if (fs::is_directory(p, ec)) return OkStatus();
  fs::path parent = p.parent_path();
  if (!parent.empty() && parent != p) STRATA_TRY(CreateDirs(parent.string()));
  if (::mkdir(p.c_str(), 0755) != 0) {
    if (errno == EEXIST && fs::is_directory(p, ec)) return OkStatus();
    return FromErrno(errno, "creating directory", p.string());
  }
  return SyncDir(parent.empty() ? std::string(".") : parent.string());
}

// ---- whole files

Status ReplaceFile(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  {
    auto f = WritableFile::Open(tmp, WritableFile::Mode::kTruncate, 0);
    if (!f) return f.error();
    STRATA_TRY((*f)->Append(contents));
    STRATA_TRY((*f)->Sync());
    STRATA_TRY((*f)->Close());
  }
  return RenameDurably(tmp, path);
}

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Error(ErrorCode::kObjectNotFound, path + " does not exist");
    return FromErrno(errno, "opening", path);
  }
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, "stat", path);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Error(ErrorCode::kCorruption,
                 path + " is " + FormatBytes(st.st_size) + ", more than the " +
                     FormatBytes(max_bytes) +
                     " such a file can be; it is not the file Strata wrote");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno, "reading", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

// ---- metadata files

std::string MetaTrailer(std::string_view payload) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*slength=%zu crc32c=%08x\n",
                static_cast<int>(kTrailerPrefix.size()), kTrailerPrefix.data(), payload.size(),
                crc32c::Value(payload.data(), payload.size()));
  return buf;
}

std::optional<std::string_view> ParseMetaFile(std::string_view bytes, std::string* why,
                                              bool accept_legacy) {
  if (bytes.empty()) {
    *why = "it is empty";
    return std::nullopt;
  }
  if (bytes.back() != '\n') {
    if (accept_legacy && bytes.find(kTrailerPrefix) == std::string_view::npos) return bytes;
    *why = "it is truncated (no trailer line)";
    return std::nullopt;
  }
  const size_t line = bytes.rfind('\n', bytes.size() - 2);
  const size_t start = line == std::string_view::npos ? 0 : line + 1;
  std::string_view trailer = bytes.substr(start);
  if (!trailer.starts_with(kTrailerPrefix)) {
    if (accept_legacy && bytes.find(kTrailerPrefix) == std::string_view::npos) return bytes;
    *why = "its trailer line is missing or damaged";
    return std::nullopt;
  }
  size_t length = 0;
  unsigned crc = 0;
  char end = 0;
  const std::string t(trailer.substr(kTrailerPrefix.size()));
  if (std::sscanf(t.c_str(), "length=%zu crc32c=%8x%c", &length, &crc, &end) != 3 || end != '\n') {
    *why = "its trailer line is damaged";
    return std::nullopt;
  }
  if (length != start) {
    *why = "it holds " + std::to_string(start) + " bytes before its trailer, which says " +
           std::to_string(length);
    return std::nullopt;
  }
  std::string_view payload = bytes.substr(0, start);
  if (crc32c::Value(payload.data(), payload.size()) != crc) {
    *why = "its checksum does not match (the bytes were changed)";
    return std::nullopt;
  }
  return payload;
}

Status WriteMetaFile(const std::string& path, std::string_view payload) {
  std::string bytes(payload);
  bytes += MetaTrailer(payload);
  return ReplaceFile(path, bytes);
}

Result<std::string> ReadMetaFile(const std::string& path, std::string_view remedy,
                                 bool accept_legacy) {
  auto bytes = ReadFile(path);
  if (!bytes) return bytes.error();
  std::string why;
  auto payload = ParseMetaFile(*bytes, &why, accept_legacy);
  if (!payload) {
    return Error(ErrorCode::kCorruption, path + " is damaged: " + why + "; " + std::string(remedy));
  }
  return std::string(*payload);
}

Result<std::optional<std::string>> ReadMetaFileIfExists(const std::string& path,
                                                        std::string_view remedy,
                                                        bool accept_legacy) {
  auto r = ReadMetaFile(path, remedy, accept_legacy);
  if (!r) {
    if (r.error().code() == ErrorCode::kObjectNotFound) return std::optional<std::string>();
    return r.error();
  }
  return std::optional<std::string>(std::move(*r));
}

}  // namespace strata::env
