// The power cut: reverts the backing directory to exactly its durable state.
//
// Durable state: the tree reached from the root through durable listings (NamespaceLog), with
// each regular file at its durable content (ContentLog). The cut moves every object that
// survives into a staging directory, deletes the rest (new entries, graveyard objects no
// durable listing names), restores the survivors' content, and then rebuilds the tree top-down
// from the durable listings by renaming directories and hard-linking files back into place, so
// identities (inode numbers), hard links and the content of every durable name come back.
//
// Approximation: the strict per-directory model can make one directory durable under two names
// (renamed, and only one side synced). A directory has one name, so the cut keeps the first it
// meets (depth-first from the root, names in order) and counts the rest in dir_aliases_skipped.
//
// Thread-safety: CutPower must run with no other operation on the logs or the backing directory
// in flight; afterwards both logs are empty and the backing directory is a plain directory again.
#pragma once

#include <cstdint>
#include <random>

#include "content_log.h"
#include "namespace_log.h"

namespace strata::powerloss {

struct CutReport {
  uint64_t dropped_bytes = 0;     // bytes cut off surviving files plus original bytes put back
  uint64_t dropped_entries = 0;   // names present before the cut and not after
  uint64_t restored_entries = 0;  // names absent before the cut and back after
  uint64_t restored_files = 0;    // surviving files whose content was reverted
  uint64_t torn_files = 0;        // files that kept a torn prefix of their last write (--tear)
  uint64_t dir_aliases_skipped = 0;
  uint64_t errors = 0;  // backing syscalls that failed (each is also reported on stderr)
};

// Reverts the backing directory open at `root_fd`. With `tear_rng` (--tear), files keep a torn
// prefix of their last unsynced extending write; without it every unsynced byte is dropped.
CutReport CutPower(int root_fd, NamespaceLog& ns, ContentLog& content, std::mt19937_64* tear_rng);

}  // namespace strata::powerloss
