// The cold tier's options: part of StoreOptions (storage/options.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace strata {

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
  // The object-store WAL (docs/wal.md): an append is acknowledged only once its records are in a
  // WAL object here too, so it survives the loss of the node and its disk. Needs a cold tier.
  bool wal = false;
  // The WAL's commit interval: at most one PUT per interval; an append waits about half of it
  // plus one PUT.
  std::chrono::milliseconds wal_interval{10};
  // On close, how long a failing WAL PUT is retried before its appends fail (outcome unknown).
  std::chrono::milliseconds wal_close_grace{10'000};
  // Segments exported (read + compressed) at once across all shards: the archivers' CPU budget.
  // 0: half the cores, at least 1. Uploads are not limited by this.
  uint32_t export_threads = 0;
};

}  // namespace strata
