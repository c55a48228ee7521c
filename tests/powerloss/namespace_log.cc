#include "namespace_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_set>
#include <vector>

namespace strata::powerloss {
namespace {

int Renameat2(int root_fd, const std::string& from, const std::string& to, unsigned int flags) {
  int rc = flags == 0 ? renameat(root_fd, from.c_str(), root_fd, to.c_str())
                      : renameat2(root_fd, from.c_str(), root_fd, to.c_str(), flags);
  return rc == 0 ? 0 : -errno;
}

}  // namespace

int NamespaceLog::Start() {
  std::lock_guard lock(mu_);
  struct stat st;
  if (fstat(root_fd_, &st) != 0) return -errno;
  root_ = IdentOf(st);
  const std::string grave(kGraveyardName);
  if (int err = RemoveTree(root_fd_, grave); err != 0) return err;
  return mkdirat(root_fd_, grave.c_str(), 0700) == 0 ? 0 : -errno;
}

int NamespaceLog::Finish() {
  std::lock_guard lock(mu_);
  graveyard_.clear();
  return RemoveTree(root_fd_, std::string(kGraveyardName));
}

int NamespaceLog::EnsureListing(const std::string& dir_rel, Ident* dir) {
  struct stat st;
  if (int err = StatAt(root_fd_, dir_rel, &st); err != 0) return err;
  if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
  *dir = IdentOf(st);
  if (listings_.contains(*dir)) return 0;
  Listing listing;
  if (int err = ListDir(root_fd_, dir_rel, &listing); err != 0) return err;
  SetListing(*dir, std::move(listing));
  return 0;
}

void NamespaceLog::SetListing(Ident dir, Listing listing) {
  for (const auto& [name, entry] : listing) ++refs_[entry.ident];
  auto it = listings_.find(dir);
  if (it != listings_.end()) {
    for (const auto& [name, entry] : it->second) {
      if (--refs_[entry.ident] == 0) refs_.erase(entry.ident);
    }
    it->second = std::move(listing);
  } else {
    listings_.emplace(dir, std::move(listing));
  }
}

void NamespaceLog::DropListing(Ident dir) {
  SetListing(dir, {});
  listings_.erase(dir);
  pending_.erase(dir);
}

bool NamespaceLog::NeedsGrave(Ident id) const {
  return refs_.contains(id) && !graveyard_.contains(id);
}

std::string NamespaceLog::NewGravePath() {
  return JoinPath(std::string(kGraveyardName), std::to_string(next_grave_++));
}

int NamespaceLog::Create(const std::string& rel, int backing_flags, bool exclusive, mode_t mode,
                         int* fd, bool* created) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  int f = openat(root_fd_, rel.c_str(), backing_flags | O_CREAT | O_EXCL, mode);
  *created = f >= 0;
  if (f < 0) {
    if (errno != EEXIST || exclusive) return -errno;
    f = openat(root_fd_, rel.c_str(), backing_flags);
    if (f < 0) return -errno;
  }
  if (*created) {
    struct stat st;
    if (fstat(f, &st) == 0) content_->Forget(IdentOf(st));  // a reused inode number
    Touch(parent);
  }
  *fd = f;
  return 0;
}

int NamespaceLog::Mknod(const std::string& rel, mode_t mode, dev_t rdev) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  if (mknodat(root_fd_, rel.c_str(), mode, rdev) != 0) return -errno;
  struct stat st;
  if (StatAt(root_fd_, rel, &st) == 0) content_->Forget(IdentOf(st));
  Touch(parent);
  return 0;
}

int NamespaceLog::Mkdir(const std::string& rel, mode_t mode) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  if (mkdirat(root_fd_, rel.c_str(), mode) != 0) return -errno;
  struct stat st;
  if (StatAt(root_fd_, rel, &st) == 0) SetListing(IdentOf(st), {});  // durably empty
  Touch(parent);
  return 0;
}

int NamespaceLog::Symlink(const char* target, const std::string& rel) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  if (symlinkat(target, root_fd_, rel.c_str()) != 0) return -errno;
  struct stat st;
  if (StatAt(root_fd_, rel, &st) == 0) content_->Forget(IdentOf(st));
  Touch(parent);
  return 0;
}

int NamespaceLog::Link(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(to), &parent); err != 0) return err;
  if (linkat(root_fd_, from.c_str(), root_fd_, to.c_str(), 0) != 0) return -errno;
  Touch(parent);
  return 0;
}

int NamespaceLog::Unlink(const std::string& rel) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  struct stat st;
  if (int err = StatAt(root_fd_, rel, &st); err != 0) return err;
  if (S_ISDIR(st.st_mode)) return -EISDIR;
  const Ident id = IdentOf(st);
  if (NeedsGrave(id)) {
    std::string grave = NewGravePath();
    if (int err = Renameat2(root_fd_, rel, grave, 0); err != 0) return err;
    graveyard_.emplace(id, std::move(grave));
  } else {
    if (unlinkat(root_fd_, rel.c_str(), 0) != 0) return -errno;
    if (st.st_nlink == 1) content_->Forget(id);
  }
  Touch(parent);
  return 0;
}

int NamespaceLog::Rmdir(const std::string& rel) {
  std::lock_guard lock(mu_);
  Ident parent;
  if (int err = EnsureListing(ParentOf(rel), &parent); err != 0) return err;
  struct stat st;
  if (int err = StatAt(root_fd_, rel, &st); err != 0) return err;
  if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
  const Ident id = IdentOf(st);
  if (NeedsGrave(id)) {
    Listing now;
    if (int err = ListDir(root_fd_, rel, &now); err != 0) return err;
    if (!now.empty()) return -ENOTEMPTY;
    Ident self;
    if (int err = EnsureListing(rel, &self); err != 0) return err;
    std::string grave = NewGravePath();
    if (int err = Renameat2(root_fd_, rel, grave, 0); err != 0) return err;
    graveyard_.emplace(id, std::move(grave));
  } else {
    if (unlinkat(root_fd_, rel.c_str(), AT_REMOVEDIR) != 0) return -errno;
    DropListing(id);  // may free graveyard objects only its durable listing named
    if (!graveyard_.empty()) CollectGarbage();
  }
  Touch(parent);
  return 0;
}

int NamespaceLog::Rename(const std::string& from, const std::string& to, unsigned int flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return -EINVAL;
  std::lock_guard lock(mu_);
  Ident from_dir, to_dir;
  if (int err = EnsureListing(ParentOf(from), &from_dir); err != 0) return err;
  if (int err = EnsureListing(ParentOf(to), &to_dir); err != 0) return err;
  struct stat src, dst;
  if (int err = StatAt(root_fd_, from, &src); err != 0) return err;
  int dst_err = StatAt(root_fd_, to, &dst);
  if (dst_err != 0 && dst_err != -ENOENT) return dst_err;
  int err;
  if (flags & RENAME_EXCHANGE) {
    err = Renameat2(root_fd_, from, to, RENAME_EXCHANGE);
  } else if (dst_err == -ENOENT) {
    err = Renameat2(root_fd_, from, to, 0);  // mu_ makes the absence check and this atomic
  } else if (flags & RENAME_NOREPLACE) {
    err = -EEXIST;
  } else if (IdentOf(src) == IdentOf(dst)) {
    return Renameat2(root_fd_, from, to, 0);  // two names of one object: rename does nothing
  } else {
    err = RenameOver(from, to, src, dst);
  }
  if (err != 0) return err;
  Touch(from_dir);
  if (to_dir != from_dir) Touch(to_dir);
  return 0;
}

int NamespaceLog::RenameOver(const std::string& from, const std::string& to, const struct stat& src,
                             const struct stat& dst) {
  const Ident victim = IdentOf(dst);
  if (S_ISDIR(src.st_mode) && !S_ISDIR(dst.st_mode)) return -ENOTDIR;
  if (!S_ISDIR(src.st_mode) && S_ISDIR(dst.st_mode)) return -EISDIR;
  if (!NeedsGrave(victim)) {
    if (int err = Renameat2(root_fd_, from, to, 0); err != 0) return err;
    if (S_ISDIR(dst.st_mode)) {
      DropListing(victim);
      if (!graveyard_.empty()) CollectGarbage();
    } else if (dst.st_nlink == 1) {
      content_->Forget(victim);
    }
    return 0;
  }
  std::string grave = NewGravePath();
  if (!S_ISDIR(dst.st_mode)) {
    // Keep the replaced file by a second name, then replace it atomically.
    if (linkat(root_fd_, to.c_str(), root_fd_, grave.c_str(), 0) != 0) return -errno;
    if (int err = Renameat2(root_fd_, from, to, 0); err != 0) {
      unlinkat(root_fd_, grave.c_str(), 0);
      return err;
    }
  } else {
    // A directory cannot have a second name: move the (empty) victim away first. Lookups
    // through the mount may see `to` missing for that moment; namespace changes cannot.
    Listing now;
    if (int err = ListDir(root_fd_, to, &now); err != 0) return err;
    if (!now.empty()) return -ENOTEMPTY;
    Ident self;
    if (int err = EnsureListing(to, &self); err != 0) return err;
    if (int err = Renameat2(root_fd_, to, grave, 0); err != 0) return err;
    if (int err = Renameat2(root_fd_, from, to, 0); err != 0) {
      Renameat2(root_fd_, grave, to, 0);
      return err;
    }
  }
  graveyard_.emplace(victim, std::move(grave));
  return 0;
}

int NamespaceLog::SyncDir(int dir_fd) {
  std::lock_guard lock(mu_);
  struct stat st;
  if (fstat(dir_fd, &st) != 0) return -errno;
  if (st.st_nlink == 0) return 0;  // removed for good: nothing of it can come back
  const Ident id = IdentOf(st);
  Listing listing;
  if (int err = ListDirFd(dir_fd, id == root_, &listing); err != 0) return err;
  SetListing(id, std::move(listing));
  pending_.erase(id);
  if (!graveyard_.empty()) CollectGarbage();
  return 0;
}

void NamespaceLog::CollectGarbage() {
  // Live: whatever a durable listing of a directory that is still in the tree names, and, through
  // graveyard directories so named, their durable listings in turn.
  std::unordered_set<Ident, IdentHash> live;
  std::vector<Ident> todo;
  for (const auto& [dir, listing] : listings_) {
    if (!graveyard_.contains(dir)) todo.push_back(dir);
  }
  while (!todo.empty()) {
    Ident dir = todo.back();
    todo.pop_back();
    auto it = listings_.find(dir);
    if (it == listings_.end()) continue;
    for (const auto& [name, entry] : it->second) {
      if (live.insert(entry.ident).second && entry.is_dir) todo.push_back(entry.ident);
    }
  }
  std::vector<std::pair<Ident, std::string>> dead;
  for (const auto& [id, path] : graveyard_) {
    if (!live.contains(id)) dead.emplace_back(id, path);
  }
  for (const auto& [id, path] : dead) {
    struct stat st;
    bool exists = StatAt(root_fd_, path, &st) == 0;
    if (RemoveTree(root_fd_, path) != 0) {
      fprintf(stderr, "crashfs: cannot delete %s from the graveyard\n", path.c_str());
    }
    if (exists && S_ISDIR(st.st_mode)) DropListing(id);
    if (exists && !S_ISDIR(st.st_mode) && st.st_nlink == 1) content_->Forget(id);
    graveyard_.erase(id);
  }
}

NamespaceLog::Stats NamespaceLog::GetStats() const {
  std::lock_guard lock(mu_);
  Stats stats;
  for (const auto& [dir, n] : pending_) stats.unsynced_dir_ops += n;
  stats.graveyard_entries = graveyard_.size();
  stats.dirs_tracked = listings_.size();
  return stats;
}

const Listing* NamespaceLog::DurableListing(Ident dir) const {
  auto it = listings_.find(dir);
  return it == listings_.end() ? nullptr : &it->second;
}

void NamespaceLog::Clear() {
  std::lock_guard lock(mu_);
  listings_.clear();
  refs_.clear();
  graveyard_.clear();
  pending_.clear();
}

}  // namespace strata::powerloss
