#include "power_cut.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backing_dir.h"

namespace strata::powerloss {
namespace {

// One run of the cut; see power_cut.h for the steps.
class Cutter {
 public:
  Cutter(int root_fd, NamespaceLog& ns, ContentLog& content, std::mt19937_64* tear_rng)
      : root_fd_(root_fd), ns_(ns), content_(content), tear_rng_(tear_rng) {}

  CutReport Run() {
    const std::string grave(kGraveyardName);
    ScanDir(".", ns_.Root(), /*in_tree=*/true);
    struct stat st;
    if (StatAt(root_fd_, grave, &st) == 0) ScanDir(grave, Ident{}, /*in_tree=*/false);
    survivors_.insert(ns_.Root());
    PlanDurable(ns_.Root(), ".");
    CountEntries();
    stage_ = JoinPath(grave, "stage");
    mkdirat(root_fd_, grave.c_str(), 0700);  // normally there already
    if (mkdirat(root_fd_, stage_.c_str(), 0700) != 0) {
      Fail("mkdir", stage_, errno);
      return report_;  // nothing moved yet: the backing directory is left as it was
    }
    MoveOut();
    RestoreContent();
    Rebuild();
    Cleanup();
    ns_.Clear();
    content_.Clear();
    return report_;
  }

 private:
  struct Placement {
    Ident parent;
    std::string name;
    std::string path;
    DirEntry entry;
  };
  struct Staged {
    std::string path;
    bool is_dir = false;
  };

  void Fail(const char* what, const std::string& path, int err) {
    fprintf(stderr, "crashfs: cut: %s %s: %s\n", what, path.c_str(), strerror(err));
    ++report_.errors;
  }

  // Records where every object under `rel` is now and, below the root, the current listings.
  // Objects are appended to post_order_ after everything below them.
  void ScanDir(const std::string& rel, Ident id, bool in_tree) {
    Listing listing;
    if (int err = ListDir(root_fd_, rel, &listing); err != 0) {
      Fail("list", rel, -err);
      return;
    }
    for (const auto& [name, entry] : listing) {
      std::string path = JoinPath(rel, name);
      where_.try_emplace(entry.ident, path);
      if (entry.is_dir) ScanDir(path, entry.ident, in_tree);
      post_order_.emplace_back(std::move(path), entry);
    }
    if (in_tree) tree_dirs_.emplace(id, std::move(listing));
  }

  // Appends to plan_, parents before children, every durable name reachable from `dir`.
  void PlanDurable(Ident dir, const std::string& rel) {
    const Listing* listing = ns_.DurableListing(dir);
    if (listing == nullptr) {  // unchanged since crashfs started: durable = current
      auto it = tree_dirs_.find(dir);
      if (it == tree_dirs_.end()) {
        Fail("find the unchanged directory", rel, ENOENT);
        return;
      }
      listing = &it->second;
    }
    for (const auto& [name, entry] : *listing) {
      std::string path = JoinPath(rel, name);
      if (!where_.contains(entry.ident)) {
        Fail("find the durable object", path, ENOENT);
        continue;
      }
      if (entry.is_dir && survivors_.contains(entry.ident)) {
        ++report_.dir_aliases_skipped;
        continue;
      }
      survivors_.insert(entry.ident);
      plan_.push_back(Placement{dir, name, path, entry});
      if (entry.is_dir) PlanDurable(entry.ident, path);
    }
  }

  void CountEntries() {
    using Name = std::tuple<Ident, std::string, Ident>;
    std::set<Name> before, after;
    for (const auto& [dir, listing] : tree_dirs_) {
      for (const auto& [name, entry] : listing) before.emplace(dir, name, entry.ident);
    }
    for (const auto& p : plan_) after.emplace(p.parent, p.name, p.entry.ident);
    for (const auto& n : before) report_.dropped_entries += !after.contains(n);
    for (const auto& n : after) report_.restored_entries += !before.contains(n);
  }

  // Moves one name of every survivor into the stage and deletes everything else.
  void MoveOut() {
    for (const auto& [path, entry] : post_order_) {
      if (survivors_.contains(entry.ident) && !staged_.contains(entry.ident)) {
        std::string to = JoinPath(stage_, std::to_string(staged_.size()));
        if (renameat(root_fd_, path.c_str(), root_fd_, to.c_str()) != 0) {
          Fail("stage", path, errno);
          continue;
        }
        staged_.emplace(entry.ident, Staged{std::move(to), entry.is_dir});
      } else if (unlinkat(root_fd_, path.c_str(), entry.is_dir ? AT_REMOVEDIR : 0) != 0) {
        Fail("delete", path, errno);
      }
    }
  }

  void RestoreContent() {
    for (Ident id : content_.Tracked()) {
      auto it = staged_.find(id);
      if (it == staged_.end() || it->second.is_dir) continue;
      const std::string& path = it->second.path;
      int fd = openat(root_fd_, path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        if (errno != ELOOP) Fail("open", path, errno);  // ELOOP: a symlink, no content
        continue;
      }
      ContentLog::RestoreResult r = content_.Restore(fd, id, tear_rng_);
      close(fd);
      if (r.error != 0) Fail("restore", path, -r.error);
      report_.restored_files += r.changed;
      report_.torn_files += r.torn;
      report_.dropped_bytes += r.dropped_bytes;
    }
  }

  void Rebuild() {
    for (const auto& p : plan_) {
      auto it = staged_.find(p.entry.ident);
      if (it == staged_.end()) continue;  // its staging failed, reported then
      const char* from = it->second.path.c_str();
      int rc = p.entry.is_dir ? renameat(root_fd_, from, root_fd_, p.path.c_str())
                              : linkat(root_fd_, from, root_fd_, p.path.c_str(), 0);
      if (rc != 0) Fail("put back", p.path, errno);
    }
  }

  void Cleanup() {
    for (const auto& [id, staged] : staged_) {
      if (!staged.is_dir && unlinkat(root_fd_, staged.path.c_str(), 0) != 0) {
        Fail("unstage", staged.path, errno);
      }
    }
    const std::string grave(kGraveyardName);
    if (int err = RemoveTree(root_fd_, grave); err != 0) Fail("remove", grave, -err);
  }

  const int root_fd_;
  NamespaceLog& ns_;
  ContentLog& content_;
  std::mt19937_64* const tear_rng_;
  CutReport report_;

  std::unordered_map<Ident, std::string, IdentHash> where_;  // one current path of each object
  std::unordered_map<Ident, Listing, IdentHash> tree_dirs_;  // current listings in the tree
  std::vector<std::pair<std::string, DirEntry>> post_order_;
  std::vector<Placement> plan_;
  std::unordered_set<Ident, IdentHash> survivors_;
  std::string stage_;
  std::unordered_map<Ident, Staged, IdentHash> staged_;
};

}  // namespace

CutReport CutPower(int root_fd, NamespaceLog& ns, ContentLog& content, std::mt19937_64* tear_rng) {
  return Cutter(root_fd, ns, content, tear_rng).Run();
}

}  // namespace strata::powerloss
