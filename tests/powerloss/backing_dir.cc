#include "backing_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strata::powerloss {

std::string RelPath(const char* fuse_path) {
  if (fuse_path == nullptr) return "";
  while (*fuse_path == '/') ++fuse_path;
  return *fuse_path == '\0' ? "." : fuse_path;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir == ".") return std::string(name);
  std::string out = dir;
  out += '/';
  out += name;
  return out;
}

std::string ParentOf(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "." : rel.substr(0, slash);
}

bool IsInGraveyard(const std::string& rel) {
  return rel.starts_with(kGraveyardName) &&
         (rel.size() == kGraveyardName.size() || rel[kGraveyardName.size()] == '/');
}

int ListDirFd(int dir_fd, bool is_root, Listing* out) {
  out->clear();
  // A private descriptor: a DIR stream owns its descriptor and its offset.
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    int err = -errno;
    close(fd);
    return err;
  }
  int err = 0;
  errno = 0;
  while (struct dirent* d = readdir(dir)) {
    std::string_view name = d->d_name;
    if (name == "." || name == "..") continue;
    if (is_root && (name == kGraveyardName || name == kControlName)) continue;
    struct stat st;
    if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // raced with a removal outside crashfs's locks
      err = -errno;
      break;
    }
    out->emplace(std::string(name), DirEntry{IdentOf(st), S_ISDIR(st.st_mode)});
    errno = 0;
  }
  if (err == 0 && errno != 0) err = -errno;
  closedir(dir);
  return err;
}

int ListDir(int root_fd, const std::string& rel, Listing* out) {
  int fd = openat(root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  int err = ListDirFd(fd, rel == ".", out);
  close(fd);
  return err;
}

int StatAt(int root_fd, const std::string& rel, struct stat* st) {
  return fstatat(root_fd, rel.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int RemoveTree(int root_fd, const std::string& rel) {
  struct stat st;
  if (int err = StatAt(root_fd, rel, &st); err != 0) return err == -ENOENT ? 0 : err;
  if (!S_ISDIR(st.st_mode)) return unlinkat(root_fd, rel.c_str(), 0) == 0 ? 0 : -errno;
  Listing listing;
  int first_err = ListDir(root_fd, rel, &listing);
  for (const auto& [name, entry] : listing) {
    int err = RemoveTree(root_fd, JoinPath(rel, name));
    if (first_err == 0) first_err = err;
  }
  if (unlinkat(root_fd, rel.c_str(), AT_REMOVEDIR) != 0 && first_err == 0) first_err = -errno;
  return first_err;
}

}  // namespace strata::powerloss
