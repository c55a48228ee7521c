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
#include "objstore/object_store.h"

namespace strata {

enum class Durability : uint8_t {
  // An append is acknowledged only after its records are fsynced (WAL fdatasync). Default.
  kSync,
  // An append is acknowledged once its records are written to the OS (WAL write(2)); a
  // background sync runs every `async_sync_interval`. A process crash loses nothing; a power
  // loss or kernel crash can lose the appends of the last interval (docs/durability.md).
  kAsync,
};

struct WarmOptions {
  // From the field report (../shared/seeds): 128 MiB memtables, 4 of them, zstd, leveled.
  size_t write_buffer_size = 128u << 20;       // events column family
  size_t index_write_buffer_size = 64u << 20;  // streams, dedupe, heads, time column families
  int max_write_buffer_number = 4;
  size_t memtable_budget = 1u << 30;      // shared by all shards (WriteBufferManager)
  size_t block_cache_bytes = 256u << 20;  // shared by all shards
  int zstd_level = 3;
  int max_background_jobs = 2;
};

struct HotOptions {
  size_t ring_bytes = 128u << 20;           // arena for event bytes
  size_t ring_slots = 1u << 19;             // positions held at most (rounded up to a power of two)
  std::chrono::milliseconds max_age{5000};  // older events are read from the warm tier
};

// The cold tier (docs/cold-tier.md): sealed segments archived to an object store.
struct ColdOptions {
  std::string url;  // file:///path or s3://bucket/prefix; empty: no cold tier
  objstore::S3Config s3;
  // Use this store instead of opening `url` (tests inject faults this way).
  std::shared_ptr<objstore::ObjectStore> store;
  bool archive = true;  // run the archivers (false: only read what is archived)
  // A segment leaves the warm tier once it is archived and either its newest event is older
  // than `local_retention` or the shard's warm log is larger than `local_retention_bytes`
  // (0: no byte limit). The newest archived segment of each shard always stays.
  std::chrono::seconds local_retention{7 * 24 * 3600};
  uint64_t local_retention_bytes = 0;
  size_t block_cache_bytes = 64u << 20;  // decompressed cold blocks, shared by all shards
  uint64_t upload_part_bytes = 16u << 20;
  std::chrono::milliseconds retry_min{200}, retry_max{30'000};  // archiver back-off
  int zstd_level = 3;
  // Segments exported (read + compressed) at once across all shards: the archivers' CPU budget.
  // 0: half the cores, at least 1. Uploads are not limited by this.
  uint32_t export_threads = 0;
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
