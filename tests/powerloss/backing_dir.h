// Backing-directory helpers for crashfs: object identity, directory listings, relative paths.
//
// crashfs (see crashfs.cc) keeps the real files in a backing directory and refers to everything
// by a path relative to that directory's root ("." is the root itself) through *at() calls on
// one root descriptor. These helpers keep no state and are safe from any thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace strata::powerloss {

// A file system object's identity: its backing (st_dev, st_ino). Stable across renames and
// shared by hard links, so crashfs keys every per-object record by it. The backing file system
// may reuse an inode number once the object is really deleted; crashfs drops its records then.
struct Ident {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const Ident&, const Ident&) = default;
  friend auto operator<=>(const Ident&, const Ident&) = default;
};

struct IdentHash {
  size_t operator()(const Ident& id) const noexcept {
    return std::hash<ino_t>()(id.ino) * 31 + std::hash<dev_t>()(id.dev);
  }
};

inline Ident IdentOf(const struct stat& st) { return Ident{st.st_dev, st.st_ino}; }

// What one directory entry names.
struct DirEntry {
  Ident ident;
  bool is_dir = false;
  friend bool operator==(const DirEntry&, const DirEntry&) = default;
};

// A directory's entries by name, without "." and "..".
using Listing = std::map<std::string, DirEntry>;

// Names in the backing root that crashfs owns. The graveyard holds removed objects whose
// removal is not durable yet; the control file is virtual (it never exists in the backing dir).
// Both are hidden from readdir through the mount and left out of every Listing of the root.
inline constexpr std::string_view kGraveyardName = ".crashfs-graveyard";
inline constexpr std::string_view kControlName = ".crashfs-control";

// The path relative to the backing root for a FUSE path ("/" -> ".", "/a/b" -> "a/b").
std::string RelPath(const char* fuse_path);

// "dir" + "name", where dir "." is the root ("." + "a" -> "a").
std::string JoinPath(const std::string& dir, std::string_view name);

// The directory holding `rel` ("a/b" -> "a", "a" -> "."). `rel` must not be ".".
std::string ParentOf(const std::string& rel);

// True if `rel` is the graveyard or anything under it.
bool IsInGraveyard(const std::string& rel);

// Lists the directory open at `dir_fd` (the descriptor's offset is left alone) into *out. With
// `is_root`, crashfs's own names are left out. Returns 0 or -errno.
int ListDirFd(int dir_fd, bool is_root, Listing* out);

// Lists directory `rel` under `root_fd`. Returns 0 or -errno.
int ListDir(int root_fd, const std::string& rel, Listing* out);

// Stats `rel` under `root_fd` without following a final symlink. Returns 0 or -errno.
int StatAt(int root_fd, const std::string& rel, struct stat* st);

// Deletes `rel` under `root_fd` and everything below it. Returns 0 or the first -errno.
int RemoveTree(int root_fd, const std::string& rel);

}  // namespace strata::powerloss
