// StoreOptions: every knob of the node-local store, with the defaults of DESIGN.md.
// Validate() reports an out-of-range value as kInvalidConfig naming the key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "storage/cold/cold_options.h"
#include "storage/hot/hot_options.h"
#include "storage/warm/warm_options.h"

namespace strata {

enum class Durability : uint8_t {
  // An append is acknowledged only after its records are fsynced (WAL fdatasync). Default.
  kSync,
  // An append is acknowledged once its records are written to the OS (WAL write(2)); a
  // background sync runs every `async_sync_interval`. A process crash loses nothing; a power
  // loss or kernel crash can lose the appends of the last interval (docs/durability.md).
  kAsync,
};

struct StoreOptions {
  std::string data_dir = "./data";
  uint32_t shards = 4;       // fixed when the store is created
  uint32_t partitions = 64;  // fixed when the store is created; partition = hash(stream) mod P
  Durability durability = Durability::kSync;
  std::chrono::milliseconds async_sync_interval{100};

  size_t max_event_bytes = 16u << 20;   // one event (type + content type + metadata + data)
  size_t max_append_bytes = 64u << 20;  // one append request
  std::chrono::seconds idempotency_window{7 * 24 * 3600};

  // Back-pressure: per-shard queue bounds. A full queue makes the caller wait up to its
  // deadline, then fail with kServerBusy.
  size_t max_queued_appends = 65536;
  size_t max_queued_bytes = 256u << 20;
  size_t max_group_events = 16384;  // events per group commit at most
  size_t max_unindexed_bytes = 256u
                               << 20;  // per shard: records handed to the indexer, not yet read
  // The indexer writes a sorted index run after this many events (per shard) or this long.
  size_t index_flush_events = 262144;
  std::chrono::milliseconds index_flush_interval{5000};
  // Per shard: events not yet in an index run. The writer waits for the indexer past this.
  size_t max_unindexed_events = 1u << 20;
  // Per shard: stream heads kept in memory; past this, heads whose state is persisted are dropped
  // (they are read back from the warm tier when needed).
  size_t max_cached_streams = 1'000'000;

  // Keep the $ce-<category> and $et-<type> index streams (docs/index-streams.md). Off: reading
  // them fails with kInvalidArgument; turned on again, the index catches up from where it was.
  bool index_streams = true;

  // Free space kept on the data directory's disk for recovery (docs/durability.md): appends are
  // refused with kDiskFull below it, and resume on their own above it. 0: refuse only once a
  // write actually fails for lack of space.
  uint64_t disk_reserve_bytes = 256ull << 20;

  std::chrono::microseconds segment_max_age{10'000'000};
  uint64_t segment_max_bytes = 512ull << 20;

  WarmOptions warm;
  HotOptions hot;
  ColdOptions cold;
  Clock* clock = Clock::Real();
  bool create_if_missing = true;

  Status Validate() const;
};

}  // namespace strata
