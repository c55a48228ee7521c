// The warm tier's options (RocksDB): part of StoreOptions (storage/options.h).
#pragma once

#include <cstddef>

namespace strata {

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

}  // namespace strata
