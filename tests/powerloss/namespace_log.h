// NamespaceLog: which directory entries are durable, and the graveyard that keeps removed
// objects whose removal is not durable yet.
//
// Model (strict POSIX): creating, linking, removing or renaming an entry changes its directory,
// and the change is durable only once that directory is fsynced (a rename changes two
// directories; each side becomes durable with its own directory's fsync). A new directory is an
// entry of its parent like any other and starts out durably empty.
//
// The log keeps, for each directory changed since crashfs started (by Ident), its durable
// listing: a snapshot taken just before its first change and replaced at each fsyncdir. A
// directory without one is unchanged, so its durable listing is its current one. An object that
// a change removes from the namespace while some durable listing still names it is moved (or,
// when a rename replaces it, hard-linked) into BACKING/.crashfs-graveyard/<n> rather than
// deleted, so a cut can put it back with its content; it is deleted for real once no durable
// listing can bring it back (garbage collection after each fsyncdir).
//
// Thread-safety: every public method takes mu_ and holds it across the backing syscalls it
// makes, so namespace changes are serialized with one another and with directory syncs (file
// writes and fsyncs, the hot path, never come here). DurableListing(), Root() and Clear() are
// for the power cut, which runs with no other operation in flight.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backing_dir.h"
#include "content_log.h"

namespace strata::powerloss {

class NamespaceLog {
 public:
  // `root_fd` is the backing root, open for the life of this object; `content` outlives it.
  NamespaceLog(int root_fd, ContentLog* content) : root_fd_(root_fd), content_(content) {}

  // Makes an empty graveyard, deleting one left by an earlier run: everything present in the
  // backing directory when crashfs starts is durable. Returns 0 or -errno.
  int Start();

  // Removes the graveyard at a clean unmount: the current namespace stands. Returns 0 or -errno.
  int Finish();

  // Each of these makes the change in the backing directory and returns 0 or -errno; the
  // change is not durable until its directory (both, for Rename) is synced.
  //
  // Create opens `rel` with `backing_flags` (which must carry no O_CREAT, O_EXCL or O_TRUNC),
  // creating it with `mode` if absent; if it exists and `exclusive` is false it is just opened.
  // Sets *fd and *created.
  int Create(const std::string& rel, int backing_flags, bool exclusive, mode_t mode, int* fd,
             bool* created);
  int Mknod(const std::string& rel, mode_t mode, dev_t rdev);
  int Mkdir(const std::string& rel, mode_t mode);
  int Symlink(const char* target, const std::string& rel);
  int Link(const std::string& from, const std::string& to);
  int Unlink(const std::string& rel);
  int Rmdir(const std::string& rel);
  // `flags`: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  int Rename(const std::string& from, const std::string& to, unsigned int flags);

  // fsyncdir: the current entries of the directory open at `dir_fd` become durable. Returns 0
  // or -errno.
  int SyncDir(int dir_fd);

  struct Stats {
    uint64_t unsynced_dir_ops = 0;   // changes since their directory's last sync (rename: 2)
    uint64_t graveyard_entries = 0;  // removed objects a cut could still bring back
    uint64_t dirs_tracked = 0;       // directories with a durable listing of their own
  };
  Stats GetStats() const;

  // For the cut. The root directory's identity.
  Ident Root() const { return root_; }
  // For the cut. The durable listing of `dir`, or nullptr if it is unchanged since crashfs
  // started (its durable listing is its current one).
  const Listing* DurableListing(Ident dir) const;
  // For the cut. Forgets everything (the graveyard directory itself is the cut's to remove).
  void Clear();

 private:
  // Snapshots directory `dir_rel`'s listing as durable unless it has one; sets *dir.
  int EnsureListing(const std::string& dir_rel, Ident* dir);
  void SetListing(Ident dir, Listing listing);
  void DropListing(Ident dir);
  // A durable listing names `id` and the graveyard does not hold it yet.
  bool NeedsGrave(Ident id) const;
  std::string NewGravePath();
  // Rename onto the existing `to` (src, dst: their stats), keeping the replaced object in the
  // graveyard if a durable listing names it.
  int RenameOver(const std::string& from, const std::string& to, const struct stat& src,
                 const struct stat& dst);
  // Deletes graveyard objects that no durable listing of a live directory can bring back.
  void CollectGarbage();
  void Touch(Ident dir) { ++pending_[dir]; }

  const int root_fd_;
  ContentLog* const content_;
  Ident root_;

  mutable std::mutex mu_;
  std::unordered_map<Ident, Listing, IdentHash> listings_;  // GUARDED_BY(mu_)
  std::unordered_map<Ident, uint64_t, IdentHash> refs_;     // GUARDED_BY(mu_): names in listings_
  std::unordered_map<Ident, std::string, IdentHash> graveyard_;  // GUARDED_BY(mu_): object -> path
  std::unordered_map<Ident, uint64_t, IdentHash> pending_;       // GUARDED_BY(mu_): per directory
  uint64_t next_grave_ = 0;                                      // GUARDED_BY(mu_)
};

}  // namespace strata::powerloss
