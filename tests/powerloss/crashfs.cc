// crashfs: a passthrough FUSE file system for power-loss tests. It remembers what has not been
// made durable and, on command, "cuts the power": the backing directory reverts to exactly its
// durable state and every later operation fails with EIO, as if the disk had gone away.
//
//   crashfs [--seed N] [--tear] [--trace] BACKING MOUNTPOINT
//
// runs in the foreground until unmounted (`fusermount3 -u MOUNTPOINT`), mounted with
// auto_unmount, no writeback cache and zero entry/attribute timeouts, so that every write(2),
// fsync(2) and namespace change reaches crashfs before the system call returns.
//
// Durability model (strict POSIX, like a fresh ext4 without auto_da_alloc luck):
//  - Everything present in BACKING when crashfs starts is durable.
//  - File contents (content_log.h): write, truncate, hole punching are durable only once the file
//    is fsynced or fdatasynced (either flag); then all of its current content is. Files are known
//    by the backing (st_dev, st_ino), so renames and hard links keep their durable state.
//  - Directory entries (namespace_log.h): create, mknod, mkdir, symlink, link, unlink, rmdir and
//    rename (flags 0, RENAME_NOREPLACE, RENAME_EXCHANGE) are durable only once their directory is
//    fsynced (FUSE fsyncdir); a rename's two sides become durable separately. A file whose name
//    is not durable vanishes at a cut even if its content was synced; a durable name whose file
//    was never synced comes back with the durable content (empty if never synced).
//  - Metadata (mode, owner, times) is passed through and not modelled: it survives a cut.
//  - Cut (power_cut.h): `echo cut > MOUNTPOINT/.crashfs-control` reverts BACKING before the write
//    returns. With --tear, each file whose last unsynced write extended it keeps a random proper
//    prefix of that write (seeded by --seed); all other unsynced data is dropped.
//  - crashfs never fsyncs the backing directory itself: it models the power cut of the mounted
//    disk, not of the machine it runs on.
//
// The control file MOUNTPOINT/.crashfs-control (hidden from readdir) reads as stats lines
// (`state: live|cut`, unsynced_bytes, unsynced_dir_ops, ..., and after a cut what was dropped);
// writing `cut` cuts the power. The graveyard BACKING/.crashfs-graveyard is invisible through the
// mount. With --trace, every namespace change and sync is logged to stderr.
//
// Thread-safety: libfuse runs operations on several threads. Every operation except those on the
// control file and release/releasedir (which must always close their descriptors) enters a Gate
// (gate.h) that the cut closes: the cut waits for admitted operations to finish and runs alone.
// While live, file contents are guarded per file by ContentLog and namespace changes are
// serialized by NamespaceLog; reads and getattr touch neither.

// The libfuse 3 high-level API (path based, fuse_config in init) with the 3.12 loop config.
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "backing_dir.h"
#include "content_log.h"
#include "gate.h"
#include "namespace_log.h"
#include "power_cut.h"

namespace strata::powerloss {
namespace {

struct Options {
  uint64_t seed = 1;
  bool tear = false;
  bool trace = false;
  std::string backing;
  std::string mountpoint;
};

// The whole file system; owned by main, shared by every libfuse thread.
struct Crashfs {
  Crashfs(int fd, const Options& o)
      : root_fd(fd), options(o), rng(o.seed), ns(fd, &content), started(time(nullptr)) {}

  const int root_fd;
  const Options options;
  std::mt19937_64 rng;  // used by the cut only
  Gate gate;
  ContentLog content;
  NamespaceLog ns;
  const time_t started;

  std::mutex report_mu;
  // GUARDED_BY(report_mu): what the cut found and did.
  std::optional<CutReport> report;
  ContentLog::Stats content_at_cut;
  NamespaceLog::Stats ns_at_cut;
};

Crashfs& Fs() { return *static_cast<Crashfs*>(fuse_get_context()->private_data); }

// What fi->fh points at.
struct Handle {
  enum class Kind { kFile, kDir, kControl };
  Kind kind = Kind::kFile;
  int fd = -1;
  Ident ident;
  bool append = false;  // opened O_APPEND: writes land at the end
  DIR* dir = nullptr;   // kDir: owns fd
};

Handle* HandleOf(const fuse_file_info* fi) {
  return fi == nullptr ? nullptr : reinterpret_cast<Handle*>(fi->fh);
}

// The open regular file behind `fi`, if any.
Handle* FileOf(const fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  return h != nullptr && h->kind == Handle::Kind::kFile ? h : nullptr;
}

enum class PathKind { kNormal, kControl, kHidden };

PathKind Classify(const char* path) {
  if (path == nullptr) return PathKind::kNormal;
  std::string rel = RelPath(path);
  if (rel == kControlName) return PathKind::kControl;
  if (IsInGraveyard(rel)) return PathKind::kHidden;
  return PathKind::kNormal;
}

// For operations that remove or rename away the existing `path`: 0, or the error for crashfs's
// own names (the control file cannot be removed; the graveyard does not exist).
int CheckOldName(const char* path) {
  switch (Classify(path)) {
    case PathKind::kControl:
      return -EPERM;
    case PathKind::kHidden:
      return -ENOENT;
    default:
      return 0;
  }
}

// For operations that create `path`: 0, or EPERM for crashfs's own names.
int CheckNewName(const char* path) { return Classify(path) == PathKind::kNormal ? 0 : -EPERM; }

void Trace(const char* op, const char* a, const char* b = nullptr, int rc = 0, unsigned flags = 0) {
  if (!Fs().options.trace) return;
  fprintf(stderr, "crashfs: %s %s%s%s flags=%u -> %d\n", op, a ? a : "(null)", b ? " " : "",
          b ? b : "", flags, rc);
}

// ---- The control file ----------------------------------------------------------------------

void AppendStat(std::string* out, const char* name, uint64_t value) {
  *out += name;
  *out += ": ";
  *out += std::to_string(value);
  *out += '\n';
}

std::string ControlText(Crashfs& fs) {
  std::string out;
  std::lock_guard lock(fs.report_mu);
  const bool cut = fs.report.has_value();
  out += cut ? "state: cut\n" : "state: live\n";
  ContentLog::Stats c = cut ? fs.content_at_cut : fs.content.GetStats();
  NamespaceLog::Stats n = cut ? fs.ns_at_cut : fs.ns.GetStats();
  AppendStat(&out, "unsynced_bytes", c.unsynced_bytes);
  AppendStat(&out, "undo_bytes", c.undo_bytes);
  AppendStat(&out, "dirty_files", c.dirty_files);
  AppendStat(&out, "unsynced_dir_ops", n.unsynced_dir_ops);
  AppendStat(&out, "graveyard_entries", n.graveyard_entries);
  AppendStat(&out, "dirs_tracked", n.dirs_tracked);
  AppendStat(&out, "seed", fs.options.seed);
  AppendStat(&out, "tear", fs.options.tear);
  if (cut) {
    const CutReport& r = *fs.report;
    AppendStat(&out, "dropped_bytes", r.dropped_bytes);
    AppendStat(&out, "dropped_entries", r.dropped_entries);
    AppendStat(&out, "restored_entries", r.restored_entries);
    AppendStat(&out, "restored_files", r.restored_files);
    AppendStat(&out, "torn_files", r.torn_files);
    AppendStat(&out, "dir_aliases_skipped", r.dir_aliases_skipped);
    AppendStat(&out, "cut_errors", r.errors);
  }
  return out;
}

void CutNow(Crashfs& fs) {
  fs.gate.Close([&fs] {
    ContentLog::Stats c = fs.content.GetStats();
    NamespaceLog::Stats n = fs.ns.GetStats();
    CutReport r = CutPower(fs.root_fd, fs.ns, fs.content, fs.options.tear ? &fs.rng : nullptr);
    {
      std::lock_guard lock(fs.report_mu);
      fs.report = r;
      fs.content_at_cut = c;
      fs.ns_at_cut = n;
    }
    fprintf(stderr,
            "crashfs: power cut (seed %llu%s): %llu unsynced bytes, %llu unsynced dir ops; "
            "dropped %llu bytes and %llu entries, restored %llu entries, reverted %llu files, "
            "tore %llu, %llu errors\n",
            static_cast<unsigned long long>(fs.options.seed), fs.options.tear ? ", tear" : "",
            static_cast<unsigned long long>(c.unsynced_bytes),
            static_cast<unsigned long long>(n.unsynced_dir_ops),
            static_cast<unsigned long long>(r.dropped_bytes),
            static_cast<unsigned long long>(r.dropped_entries),
            static_cast<unsigned long long>(r.restored_entries),
            static_cast<unsigned long long>(r.restored_files),
            static_cast<unsigned long long>(r.torn_files),
            static_cast<unsigned long long>(r.errors));
  });
}

int ControlGetattr(struct stat* st) {
  *st = {};
  st->st_mode = S_IFREG | 0666;
  st->st_nlink = 1;
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_ino = 0x7ffffffffffffff0ULL;  // no clash with backing inode numbers in practice
  st->st_atime = st->st_mtime = st->st_ctime = Fs().started;
  return 0;
}

int ControlOpen(fuse_file_info* fi) {
  auto* h = new Handle;
  h->kind = Handle::Kind::kControl;
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->direct_io = 1;  // reads and writes bypass the page cache: the size is not the content
  return 0;
}

int ControlRead(char* buf, size_t size, off_t off) {
  std::string text = ControlText(Fs());
  if (off >= static_cast<off_t>(text.size())) return 0;
  size_t n = std::min(size, text.size() - static_cast<size_t>(off));
  memcpy(buf, text.data() + off, n);
  return static_cast<int>(n);
}

int ControlWrite(const char* buf, size_t size) {
  std::string_view cmd(buf, size);
  while (!cmd.empty() && isspace(static_cast<unsigned char>(cmd.back()))) cmd.remove_suffix(1);
  while (!cmd.empty() && isspace(static_cast<unsigned char>(cmd.front()))) cmd.remove_prefix(1);
  if (cmd != "cut") return -EINVAL;
  CutNow(Fs());
  return static_cast<int>(size);
}

// ---- Files ------------------------------------------------------------------------------------

// The flags for the backing descriptor: crashfs itself creates, truncates and appends, and it
// reads the bytes a write overwrites, so write-only opens become read-write.
int BackingFlags(int flags) {
  int f = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECT | O_NOCTTY);
  if ((f & O_ACCMODE) == O_WRONLY) f = (f & ~O_ACCMODE) | O_RDWR;
  return f | O_NOFOLLOW | O_CLOEXEC;
}

int FinishOpen(Crashfs& fs, int fd, fuse_file_info* fi, bool truncate) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  if (truncate && S_ISREG(st.st_mode) && (fi->flags & O_ACCMODE) != O_RDONLY) {
    if (int err = fs.content.Truncate(fd, IdentOf(st), 0); err != 0) {
      close(fd);
      return err;
    }
  }
  auto* h = new Handle{Handle::Kind::kFile, fd, IdentOf(st), (fi->flags & O_APPEND) != 0};
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->keep_cache = 0;
  fi->direct_io = 0;  // page cache on, so mmap works
  return 0;
}

int Getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return ControlGetattr(st);
  Admission admitted(Fs().gate);
  if (!admitted) return -EIO;
  if (Handle* h = FileOf(fi)) return fstat(h->fd, st) == 0 ? 0 : -errno;
  if (kind == PathKind::kHidden || path == nullptr) return -ENOENT;
  return StatAt(Fs().root_fd, RelPath(path), st);
}

int Open(const char* path, fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return ControlOpen(fi);
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (kind == PathKind::kHidden) return -ENOENT;
  int fd = openat(fs.root_fd, RelPath(path).c_str(), BackingFlags(fi->flags));
  if (fd < 0) return -errno;
  if (fi->flags & O_TRUNC) Trace("open O_TRUNC", path);
  return FinishOpen(fs, fd, fi, (fi->flags & O_TRUNC) != 0);
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  if (Classify(path) == PathKind::kControl) return ControlOpen(fi);
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckNewName(path); err != 0) return err;
  int fd = -1;
  bool created = false;
  int err = fs.ns.Create(RelPath(path), BackingFlags(fi->flags), (fi->flags & O_EXCL) != 0, mode,
                         &fd, &created);
  Trace("create", path, nullptr, err);
  if (err != 0) return err;
  return FinishOpen(fs, fd, fi, !created && (fi->flags & O_TRUNC) != 0);
}

int Read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->kind == Handle::Kind::kControl) return ControlRead(buf, size, off);
  Admission admitted(Fs().gate);
  if (!admitted) return -EIO;
  ssize_t n;
  do {
    n = pread(h->fd, buf, size, off);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : static_cast<int>(n);
}

int Write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->kind == Handle::Kind::kControl) return ControlWrite(buf, size);
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  return static_cast<int>(fs.content.Write(h->fd, h->ident, buf, size, off, h->append));
}

int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  Trace("truncate", path, std::to_string(size).c_str(), 0, FileOf(fi) != nullptr);
  if (Handle* h = FileOf(fi)) return fs.content.Truncate(h->fd, h->ident, size);
  if (kind == PathKind::kHidden || path == nullptr) return -ENOENT;
  int fd = openat(fs.root_fd, RelPath(path).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  int err = fstat(fd, &st) == 0 ? fs.content.Truncate(fd, IdentOf(st), size) : -errno;
  close(fd);
  return err;
}

int Fsync(const char* path, int datasync, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->kind == Handle::Kind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  int err = fs.content.Sync(h->fd, h->ident);
  Trace(datasync ? "fdatasync" : "fsync", path, nullptr, err);
  return err;
}

int Flush(const char*, fuse_file_info* fi) {
  if (HandleOf(fi)->kind == Handle::Kind::kControl) return 0;
  Admission admitted(Fs().gate);
  return admitted ? 0 : -EIO;
}

int Release(const char*, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->fd >= 0) close(h->fd);
  delete h;
  return 0;
}

int Fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  Handle* h = FileOf(fi);
  if (h == nullptr) return -EBADF;
  return fs.content.Fallocate(h->fd, h->ident, mode, off, len);
}

// ---- Directories and names --------------------------------------------------------------------

int Opendir(const char* path, fuse_file_info* fi) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (Classify(path) != PathKind::kNormal) return -ENOENT;
  int fd =
      openat(fs.root_fd, RelPath(path).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  DIR* dir = fstat(fd, &st) == 0 ? fdopendir(fd) : nullptr;
  if (dir == nullptr) {
    int err = -errno;
    close(fd);
    return err;
  }
  fi->fh = reinterpret_cast<uint64_t>(new Handle{Handle::Kind::kDir, fd, IdentOf(st), false, dir});
  return 0;
}

int Releasedir(const char*, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  closedir(h->dir);
  delete h;
  return 0;
}

int Readdir(const char*, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info* fi,
            fuse_readdir_flags) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  Handle* h = HandleOf(fi);
  const bool is_root = h->ident == fs.ns.Root();
  rewinddir(h->dir);
  errno = 0;
  while (struct dirent* d = readdir(h->dir)) {
    std::string_view name = d->d_name;
    if (is_root && (name == kGraveyardName || name == kControlName)) continue;
    struct stat st = {};
    st.st_ino = d->d_ino;
    st.st_mode = DTTOIF(d->d_type);
    if (filler(buf, d->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
    errno = 0;
  }
  return -errno;
}

int Fsyncdir(const char* path, int, fuse_file_info* fi) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  int err = fs.ns.SyncDir(HandleOf(fi)->fd);
  Trace("fsyncdir", path, nullptr, err);
  return err;
}

int Mkdir(const char* path, mode_t mode) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckNewName(path); err != 0) return err;
  int err = fs.ns.Mkdir(RelPath(path), mode);
  Trace("mkdir", path, nullptr, err);
  return err;
}

int Mknod(const char* path, mode_t mode, dev_t rdev) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckNewName(path); err != 0) return err;
  int err = fs.ns.Mknod(RelPath(path), mode, rdev);
  Trace("mknod", path, nullptr, err);
  return err;
}

int Symlink(const char* target, const char* path) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckNewName(path); err != 0) return err;
  int err = fs.ns.Symlink(target, RelPath(path));
  Trace("symlink", path, target, err);
  return err;
}

int Link(const char* from, const char* to) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckOldName(from); err != 0) return err;
  if (int err = CheckNewName(to); err != 0) return err;
  int err = fs.ns.Link(RelPath(from), RelPath(to));
  Trace("link", from, to, err);
  return err;
}

int Unlink(const char* path) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckOldName(path); err != 0) return err;
  int err = fs.ns.Unlink(RelPath(path));
  Trace("unlink", path, nullptr, err);
  return err;
}

int Rmdir(const char* path) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckOldName(path); err != 0) return err;
  int err = fs.ns.Rmdir(RelPath(path));
  Trace("rmdir", path, nullptr, err);
  return err;
}

int Rename(const char* from, const char* to, unsigned int flags) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (int err = CheckOldName(from); err != 0) return err;
  if (int err = CheckNewName(to); err != 0) return err;
  int err = fs.ns.Rename(RelPath(from), RelPath(to), flags);
  Trace("rename", from, to, err, flags);
  return err;
}

int Readlink(const char* path, char* buf, size_t size) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (Classify(path) != PathKind::kNormal) return -ENOENT;
  ssize_t n = readlinkat(fs.root_fd, RelPath(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

// ---- Metadata (passed through, not modelled) -------------------------------------------------

int Chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (Handle* h = FileOf(fi)) return fchmod(h->fd, mode) == 0 ? 0 : -errno;
  if (kind == PathKind::kHidden || path == nullptr) return -ENOENT;
  return fchmodat(fs.root_fd, RelPath(path).c_str(), mode, 0) == 0 ? 0 : -errno;
}

int Chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (Handle* h = FileOf(fi)) return fchown(h->fd, uid, gid) == 0 ? 0 : -errno;
  if (kind == PathKind::kHidden || path == nullptr) return -ENOENT;
  int rc = fchownat(fs.root_fd, RelPath(path).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

int Utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (Handle* h = FileOf(fi)) return futimens(h->fd, tv) == 0 ? 0 : -errno;
  if (kind == PathKind::kHidden || path == nullptr) return -ENOENT;
  int rc = utimensat(fs.root_fd, RelPath(path).c_str(), tv, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

int Access(const char* path, int mask) {
  PathKind kind = Classify(path);
  if (kind == PathKind::kControl) return 0;
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  if (kind == PathKind::kHidden) return -ENOENT;
  return faccessat(fs.root_fd, RelPath(path).c_str(), mask, 0) == 0 ? 0 : -errno;
}

int Statfs(const char*, struct statvfs* st) {
  Crashfs& fs = Fs();
  Admission admitted(fs.gate);
  if (!admitted) return -EIO;
  return fstatvfs(fs.root_fd, st) == 0 ? 0 : -errno;
}

// ---- Life cycle -------------------------------------------------------------------------------

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // every write(2) must reach crashfs as it happens
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->use_ino = 1;
  cfg->hard_remove = 1;  // no .fuse_hidden renames: unlink is unlink, open files keep their fd
  cfg->nullpath_ok = 1;  // so operations on unlinked open files reach us (with their handle)
  cfg->kernel_cache = 0;
  cfg->auto_cache = 0;
  cfg->direct_io = 0;
  return fuse_get_context()->private_data;
}

void Destroy(void* data) {
  auto* fs = static_cast<Crashfs*>(data);
  if (fs->gate.Live()) fs->ns.Finish();  // a clean unmount: the current namespace stands
}

fuse_operations Operations() {
  fuse_operations ops = {};
  ops.getattr = Getattr;
  ops.readlink = Readlink;
  ops.mknod = Mknod;
  ops.mkdir = Mkdir;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.chmod = Chmod;
  ops.chown = Chown;
  ops.truncate = Truncate;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.statfs = Statfs;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = Opendir;
  ops.readdir = Readdir;
  ops.releasedir = Releasedir;
  ops.fsyncdir = Fsyncdir;
  ops.init = Init;
  ops.destroy = Destroy;
  ops.access = Access;
  ops.create = Create;
  ops.utimens = Utimens;
  ops.fallocate = Fallocate;
  // No lock, xattr or copy_file_range ops: libfuse answers ENOSYS and the kernel falls back
  // (local locks; a read/write copy).
  return ops;
}

// ---- main -------------------------------------------------------------------------------------

bool ParseArgs(int argc, char** argv, Options* opts) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--tear") {
      opts->tear = true;
    } else if (arg == "--trace") {
      opts->trace = true;
    } else if (arg == "--seed" && i + 1 < argc) {
      char* end = nullptr;
      opts->seed = strtoull(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0') return false;
    } else if (arg.starts_with("-")) {
      return false;
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() != 2) return false;
  opts->backing = positional[0];
  opts->mountpoint = positional[1];
  return true;
}

// Mounts `fs` on `mountpoint` and serves it on several threads until it is unmounted or a
// signal (SIGINT, SIGTERM, SIGHUP) arrives. Returns the exit status.
int Serve(Crashfs& fs, const char* argv0, const std::string& mountpoint) {
  std::vector<std::string> args = {argv0, "-o", "auto_unmount,fsname=crashfs,subtype=crashfs"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_operations ops = Operations();
  fuse* f = fuse_new(&fargs, &ops, sizeof(ops), &fs);
  if (f == nullptr) return 1;
  int rc = 1;
  if (fuse_mount(f, mountpoint.c_str()) == 0) {
    fuse_session* se = fuse_get_session(f);
    if (fuse_set_signal_handlers(se) == 0) {
      fuse_loop_config* loop = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(loop, 16);
      rc = fuse_loop_mt(f, loop) == 0 ? 0 : 1;
      fuse_loop_cfg_destroy(loop);
      fuse_remove_signal_handlers(se);
    }
    fuse_unmount(f);
  }
  fuse_destroy(f);
  fuse_opt_free_args(&fargs);
  return rc;
}

int Main(int argc, char** argv) {
  Options opts;
  if (!ParseArgs(argc, argv, &opts)) {
    fprintf(stderr, "usage: crashfs [--seed N] [--tear] [--trace] BACKING MOUNTPOINT\n");
    return 2;
  }
  char* backing = realpath(opts.backing.c_str(), nullptr);
  char* mountpoint = realpath(opts.mountpoint.c_str(), nullptr);
  if (backing == nullptr || mountpoint == nullptr) {
    fprintf(stderr, "crashfs: %s: %s\n", backing ? opts.mountpoint.c_str() : opts.backing.c_str(),
            strerror(errno));
    return 1;
  }
  std::string b = backing, m = mountpoint;
  free(backing);
  free(mountpoint);
  if (m == b || m.starts_with(b + "/") || b.starts_with(m + "/")) {
    fprintf(stderr, "crashfs: BACKING and MOUNTPOINT must not contain each other\n");
    return 2;
  }
  int root_fd = open(b.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    fprintf(stderr, "crashfs: %s: %s\n", b.c_str(), strerror(errno));
    return 1;
  }
  Crashfs fs(root_fd, opts);
  if (int err = fs.ns.Start(); err != 0) {
    fprintf(stderr, "crashfs: cannot make the graveyard in %s: %s\n", b.c_str(), strerror(-err));
    return 1;
  }
  int rc = Serve(fs, argv[0], m);
  close(root_fd);
  return rc;
}

}  // namespace
}  // namespace strata::powerloss

int main(int argc, char** argv) { return strata::powerloss::Main(argc, argv); }
