// What opens a store, in the terms of its flags and config file: the settings every command
// shares (`--data`, `--server`, `--cold`, tuning), the StoreOptions they mean, and the store
// they name — a LocalStore over a data directory or a RemoteStore over a running server.
//
//   app::StoreConfig c;  c.data_dir = "./data";
//   auto handle = app::OpenStore(c, /*create=*/true);
//   handle->Append(…);  handle->operations().Stats();
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "router/router.h"
#include "storage/local_store.h"
#include "storage/operations.h"
#include "storage/store.h"

namespace strata::app {

struct StoreConfig {
  std::string data_dir = "./data";
  uint32_t shards = 0;              // 0: the store's own (4 for a new store)
  std::string durability = "sync";  // sync | async | object-store
  uint32_t wal_interval_ms = 10;    // with object-store
  std::string positions = "dense";  // dense | clock (hot/hot_options.h)
  // Tuning (defaults from StoreOptions; see docs/warm-layout.md).
  size_t write_buffer_mb = 128;
  int max_write_buffers = 4;
  size_t memtable_budget_mb = 1024;
  size_t block_cache_mb = 256;
  size_t ring_mb = 128;
  double idempotency_hours = 7 * 24;
  bool index_streams = true;
  size_t disk_reserve_mb = 256;
  // Work against a running `strata serve` instead of a data directory.
  std::string server;
  uint32_t connections = 1;
  // Cold tier (docs/cold-tier.md). cold: a URL, "none", or empty for the URL the store was last
  // opened with (recorded in its STRATA), else file://<data>-cold.
  std::string cold;
  std::string s3_endpoint, s3_region;
  bool s3_virtual_host = false;
  double segment_seconds = 10;
  size_t segment_mb = 512;
  double local_retention_hours = 7 * 24;
  double local_retention_gb = 0;
  size_t cold_cache_mb = 64;
  int cold_zstd_level = 3;
  uint32_t archive_threads = 0;
  // Whether the store runs the archivers (serve does; one-shot commands only read cold).
  bool archive = false;
};

// This node's id in the router's ownership (one node owns everything).
inline constexpr const char* kNodeId = "local";

// The options the config means, the cold URL resolved; kInvalidConfig for a bad value.
Result<StoreOptions> ToStoreOptions(const StoreConfig& config);

// An open store of either kind: the event API, its operations, and (local only) the scans.
// A local store's requests go through the router (router/router.h), as a server's do.
class StoreHandle {
 public:
  StoreHandle() = default;  // empty
  explicit StoreHandle(std::unique_ptr<LocalStore> local);
  StoreHandle(std::unique_ptr<Store> remote, StoreOperations* operations);
  StoreHandle(StoreHandle&&) noexcept;
  StoreHandle& operator=(StoreHandle&&) noexcept;
  ~StoreHandle();

  Store& store() { return *front_; }
  Store* operator->() { return front_; }
  StoreOperations& operations() { return *operations_; }
  LocalStore* local() { return local_; }  // nullptr: a remote store
  explicit operator bool() const { return owned_ != nullptr; }

 private:
  std::unique_ptr<Store> owned_;
  std::unique_ptr<router::Ownership> ownership_;  // local only
  std::unique_ptr<router::Router> router_;        // local only
  Store* front_ = nullptr;                        // the router, or the remote store
  StoreOperations* operations_ = nullptr;
  LocalStore* local_ = nullptr;
};

// The store the config names: the server of `server`, else the data directory (created only if
// `create`).
Result<StoreHandle> OpenStore(const StoreConfig& config, bool create);

}  // namespace strata::app
