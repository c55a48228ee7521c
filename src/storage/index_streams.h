// IndexStreams: the $ce-<category> and $et-<type> streams, kept as secondary indexes in the warm
// tier (docs/index-streams.md) instead of as copied link events.
//
// One follower thread reads $all in position order up to the durable watermark and gives each
// event of a user stream a revision in its category's stream ("user-42" -> "$ce-user", when the
// name has a '-' after its first character) and in its type's stream ("$et-Deposited", unless
// the type starts with '$'). Tombstones and events of '$' streams are not indexed. Because
// revisions are handed out in $all order by one thread, they are gapless and the same after any
// restart, and a subscription can continue counting from $all where the index ends.
//
// Entries (index number, revision, position) collect in memory and are written as sorted runs
// (index_runs.h) every 4 x index_flush_events entries or index_flush_interval; STATE (checkpoint,
// the name table and the run manifest) is replaced atomically after each flush or merge. Recovery
// resumes from the checkpoint; a STATE that cannot be read or names a missing run (for example
// after a snapshot restore, which does not carry this directory) is discarded and the index is
// rebuilt from $all in the background.
//
// The position field of an entry carries the shard in its top 8 bits, so a read knows where the
// record lives without asking every shard.
//
// Thread-safety: Head/Positions from any thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "model/record.h"
#include "storage/disk_guard.h"
#include "storage/index_runs.h"
#include "storage/options.h"

namespace strata::storage {

inline constexpr int kIndexShardShift = 56;
inline uint64_t TagPosition(uint32_t shard, uint64_t position) {
  return (uint64_t{shard} << kIndexShardShift) | position;
}
inline uint64_t UntagPosition(uint64_t tagged) {
  return tagged & ((uint64_t{1} << kIndexShardShift) - 1);
}
inline uint32_t ShardOfTag(uint64_t tagged) {
  return static_cast<uint32_t>(tagged >> kIndexShardShift);
}

// Calls add(name) for each index stream the record belongs to ("$ce-…", "$et-…"); the rules of
// the header comment. Used by the indexer and by subscriptions that continue from $all.
void ForEachIndexStream(
    std::string_view stream, std::string_view type, RecordKind kind,
    const std::function<void(std::string_view prefix, std::string_view key)>& add);
// Whether the record belongs in index stream `name`.
bool InIndexStream(std::string_view name, const RecordView& v);

class IndexStreams {
 public:
  // What the indexer needs from the store.
  struct Source {
    std::function<Position()> watermark;
    std::function<Status(Position from, Position to,
                         const std::function<bool(const RecordView&)>& visit)>
        scan;
    std::function<uint32_t(std::string_view stream)> shard_of;
    std::function<void(Position above, std::chrono::milliseconds max_wait)> wait;
    DiskGuard* disk = nullptr;  // flushes on a full disk are retried; merges wait for room
  };

  IndexStreams(std::string dir, const StoreOptions& options, Source source);
  ~IndexStreams();  // stops the threads
  IndexStreams(const IndexStreams&) = delete;
  IndexStreams& operator=(const IndexStreams&) = delete;

  // Reads STATE and opens its runs; anything unreadable starts the index over. Before Start.
  Status Load();
  void Start();
  void Stop();

  // A consistent view of one index stream: `count` events (revisions 0..count-1) are indexed,
  // and they are all the stream's events at positions up to `checkpoint`.
  struct Head {
    bool known = false;  // the name has had at least one event
    uint64_t count = 0;
    uint64_t checkpoint = 0;
  };
  Head GetHead(std::string_view name) const;
  // Every position up to this is indexed.
  uint64_t checkpoint() const { return indexed_.load(std::memory_order_acquire); }
  // Waits until every position up to `position` is indexed, at most `max_wait`; false if not.
  bool WaitFor(uint64_t position, std::chrono::milliseconds max_wait);
  // Tagged positions of revisions [lo, hi] of index stream `name` (all below the count of a Head
  // taken before), in revision order.
  Result<std::vector<uint64_t>> Positions(std::string_view name, uint64_t lo, uint64_t hi) const;

  struct Stats {
    uint64_t checkpoint = 0;  // every event up to this position is indexed
    uint64_t streams = 0;     // index streams with events
    uint64_t unflushed = 0;   // entries in memory, not yet in a run
    bool failed = false;
  };
  Stats GetStats() const;

  // ---- strata check
  // The run manifest in `dir`/STATE, or kCorruption when STATE is damaged.
  static Result<std::string> VerifyStateFile(const std::string& dir);
  const std::string& dir() const { return dir_; }
  const IndexRuns& runs() const { return runs_; }

 private:
  struct Name {
    uint64_t number = 0;
    uint64_t count = 0;             // revisions handed out
    uint64_t pending_first = 0;     // revision of pending[0]
    std::vector<uint64_t> pending;  // tagged positions not yet in a run
  };
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameMap = std::unordered_map<std::string, Name, NameHash, std::equal_to<>>;
  struct ParsedState {
    uint64_t checkpoint = 0, next_number = 1;
    std::string manifest;
    NameMap names;
    std::string flushed_names;  // the encoded name table, as written
  };
  static std::optional<ParsedState> ParseState(std::string_view bytes);

  void FollowLoop();
  void MergeLoop();
  void Index(const RecordView& v);  // under mu_ exclusive
  Status Flush();
  // STATE with `manifest` and the last flushed checkpoint and names (under manifest_mu()).
  Status WriteState(const std::string& manifest);
  void StartOver(const std::string& why);

  const std::string dir_;
  const StoreOptions options_;
  const Source source_;
  IndexRuns runs_;

  mutable std::shared_mutex mu_;
  NameMap names_;                         // key: prefix + name ("$ce-user"), GUARDED_BY(mu_)
  uint64_t checkpoint_ = 0;               // GUARDED_BY(mu_)
  std::atomic<uint64_t> next_number_{1};  // changed by the follower only
  uint64_t unflushed_ = 0;                // GUARDED_BY(mu_)
  std::string scratch_;                   // follower only
  std::chrono::steady_clock::time_point last_flush_;

  std::string
      flushed_names_;  // encoded name table of the last flush, GUARDED_BY(runs_.manifest_mu())
  uint64_t flushed_checkpoint_ = 0;  // GUARDED_BY(runs_.manifest_mu())

  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::condition_variable progress_cv_;  // with stop_mu_: the checkpoint moved
  std::atomic<uint64_t> indexed_{0};     // checkpoint_, for WaitFor
  std::thread follower_, merger_;
};

}  // namespace strata::storage
