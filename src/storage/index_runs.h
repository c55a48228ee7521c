// IndexRuns: a shard's stream index and dedupe index as immutable sorted runs of fixed-size
// entries (in the spirit of KurrentDB's PTables), instead of random-key RocksDB inserts.
//
// The indexer collects entries in memory, sorts them, and writes one run per kind per flush
// (WriteRuns). A merger thread merges runs of similar size (Merge) so lookups stay at
// O(log N) runs, and drops dedupe entries older than the idempotency window. The manifest (the
// list of live runs) is persisted by the caller in RocksDB together with the indexer checkpoint;
// files not in the manifest are deleted on Load. Format: docs/index-runs.md.
//
// Thread-safety: lookups from any thread (they take a snapshot of the run set); WriteRuns from
// the indexer thread; Merge from the merger thread; manifest changes are serialised by
// `manifest_mu()`, which the caller holds while persisting the manifest and publishing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/uuid.h"
#include "model/types.h"

namespace strata::storage {

// 24 bytes, sorted by (number, revision).
struct StreamIndexEntry {
  uint64_t number;
  uint64_t revision;
  uint64_t position;
};

static_assert(sizeof(StreamIndexEntry) == 24);

// 48 bytes, sorted by (number, id).
struct DedupeIndexEntry {
  uint64_t number;
  Uuid id;
  uint64_t revision;
  uint64_t position;
  int64_t recorded_ts;
};

static_assert(sizeof(DedupeIndexEntry) == 48);

enum class RunKind : uint32_t { kStream = 1, kDedupe = 2 };

class Run;

class IndexRuns {
 public:
  IndexRuns(std::string dir, Clock* clock, int64_t dedupe_window_us);
  ~IndexRuns();

  // Opens the runs of the manifest (verifying their checksums) and deletes any other run file.
  Status Load(std::string_view manifest);
  std::string EncodeManifest() const;  // of the published set

  // Sorts and writes one run per non-empty input; the new runs are not visible until Publish.
  struct Pending {
    std::vector<std::shared_ptr<Run>> runs;
  };
  Result<Pending> WriteRuns(std::vector<StreamIndexEntry>& streams,
                            std::vector<DedupeIndexEntry>& dedupe);
  // The manifest that publishing `p` would give (persist it, then Publish).
  std::string ManifestWith(const Pending& p) const;
  void Publish(const Pending& p);
  // Removes the files of runs that were written but will not be published (persisting the
  // manifest failed), so a retried flush on a full disk does not leave them behind.
  void Discard(const Pending& p);

  // Merges two runs of one kind if two have similar sizes, or drops an expired dedupe run.
  // Returns false when there is nothing to do. `persist` is called with the new manifest under
  // manifest_mu() before the change is published; if it fails nothing changes.
  Result<bool> MergeOnce(const std::function<Status(const std::string& manifest)>& persist);

  // Positions of revisions [from, to] of stream `number` found in the runs, sorted by revision.
  std::vector<std::pair<uint64_t, uint64_t>> FindStream(uint64_t number, uint64_t from,
                                                        uint64_t to) const;
  std::optional<DedupeIndexEntry> FindDedupe(uint64_t number, const Uuid& id) const;

  // ---- strata check
  // The (kind, sequence) of each run a manifest names; kCorruption naming `dir` if malformed.
  static Result<std::vector<std::pair<RunKind, uint64_t>>> ParseManifest(std::string_view manifest,
                                                                         const std::string& dir);
  static std::string RunPath(const std::string& dir, RunKind kind, uint64_t seq);
  // Checks a run file as Load does (header, size, entries checksum).
  static Status VerifyFile(const std::string& path, RunKind kind);
  // Checks every published run again through its mapping: visit(path, first and last position
  // it indexes, the result).
  void VerifyLive(const std::function<void(const std::string& path, uint64_t first, uint64_t last,
                                           const Status& st)>& visit) const;

  size_t run_count() const;
  uint64_t entry_count(RunKind kind) const;
  std::mutex& manifest_mu() { return manifest_mu_; }
  // Paths of the published runs' files (hold manifest_mu() for a set that matches the
  // persisted manifest).
  std::vector<std::string> LiveFiles() const;

 private:
  using RunSet = std::vector<std::shared_ptr<Run>>;
  std::shared_ptr<const RunSet> Snapshot() const;
  std::string PathOf(RunKind kind, uint64_t seq) const;
  template <class E, class Less>
  Result<std::shared_ptr<Run>> WriteRun(RunKind kind, std::vector<E>& entries, Less less);
  static std::string Encode(const RunSet& set);
  // MergeOnce: writes the merge of `inputs` (one kind; expired dedupe entries dropped) as a new
  // synced run file, not yet in the manifest.
  Result<std::shared_ptr<Run>> WriteMergedRun(const RunSet& inputs, int64_t expire_before);

  const std::string dir_;
  Clock* const clock_;
  const int64_t window_us_;
  mutable std::mutex set_mu_;  // guards set_ (the pointer, not the runs)
  std::shared_ptr<const RunSet> set_;
  std::mutex manifest_mu_;
  std::atomic<uint64_t> next_seq_{1};
};

}  // namespace strata::storage
