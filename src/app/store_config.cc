#include "app/store_config.h"

#include <filesystem>

#include "client/remote_store.h"
#include "storage/store_description.h"

namespace strata::app {
namespace {

// --cold: the flag, else the URL the store recorded, else a directory next to the data.
Result<std::string> ResolveColdUrl(const StoreConfig& c) {
  if (!c.cold.empty()) return c.cold == "none" ? std::string() : c.cold;
  auto recorded = storage::RecordedColdUrl(c.data_dir);
  if (!recorded) return recorded.error();
  if (*recorded) return **recorded;
  std::error_code ec;
  std::string abs = std::filesystem::absolute(c.data_dir, ec).lexically_normal().string();
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  return "file://" + abs + "-cold";
}

}  // namespace

Result<StoreOptions> ToStoreOptions(const StoreConfig& c) {
  StoreOptions o;
  o.data_dir = c.data_dir;
  o.shards = c.shards;
  o.durability = c.durability == "async" ? Durability::kAsync : Durability::kSync;
  o.warm.write_buffer_size = c.write_buffer_mb << 20;
  o.warm.max_write_buffer_number = c.max_write_buffers;
  o.warm.memtable_budget = c.memtable_budget_mb << 20;
  o.warm.block_cache_bytes = c.block_cache_mb << 20;
  o.hot.ring_bytes = c.ring_mb << 20;
  o.hot.positions = c.positions == "clock" ? PositionScheme::kClock : PositionScheme::kDense;
  o.idempotency_window = std::chrono::seconds(static_cast<int64_t>(c.idempotency_hours * 3600));
  o.index_streams = c.index_streams;
  o.disk_reserve_bytes = static_cast<uint64_t>(c.disk_reserve_mb) << 20;
  o.segment_max_age = std::chrono::microseconds(static_cast<int64_t>(c.segment_seconds * 1e6));
  o.segment_max_bytes = static_cast<uint64_t>(c.segment_mb) << 20;
  auto url = ResolveColdUrl(c);
  if (!url) return url.error();
  o.cold.url = *url;
  o.cold.archive = c.archive;
  o.cold.s3.endpoint = c.s3_endpoint;
  o.cold.s3.region = c.s3_region;
  o.cold.s3.virtual_host = c.s3_virtual_host;
  o.cold.local_retention =
      std::chrono::seconds(static_cast<int64_t>(c.local_retention_hours * 3600));
  o.cold.local_retention_bytes = static_cast<uint64_t>(c.local_retention_gb * (1ull << 30));
  o.cold.block_cache_bytes = c.cold_cache_mb << 20;
  o.cold.zstd_level = c.cold_zstd_level;
  o.cold.export_threads = c.archive_threads;
  o.cold.wal = c.durability == "object-store";
  o.cold.wal_interval = std::chrono::milliseconds(c.wal_interval_ms);
  if (o.cold.wal && o.cold.url.rfind("s3://", 0) != 0 && o.cold.url.rfind("file://", 0) != 0) {
    return Error(ErrorCode::kInvalidConfig,
                 "--durability object-store needs a cold tier to write its WAL to: give --cold "
                 "s3://BUCKET/PREFIX");
  }
  STRATA_TRY(o.Validate());
  return o;
}

StoreHandle::StoreHandle(std::unique_ptr<LocalStore> local)
    : operations_(local.get()), local_(local.get()) {
  if (!local_) return;
  ownership_ = std::make_unique<router::SingleNodeOwnership>(kNodeId, local_->partitions());
  router_ = std::make_unique<router::Router>(local_, ownership_.get());
  front_ = router_.get();
  owned_ = std::move(local);
}

StoreHandle::StoreHandle(std::unique_ptr<Store> remote, StoreOperations* operations)
    : owned_(std::move(remote)), front_(owned_.get()), operations_(operations) {}

StoreHandle::StoreHandle(StoreHandle&&) noexcept = default;
StoreHandle& StoreHandle::operator=(StoreHandle&&) noexcept = default;
StoreHandle::~StoreHandle() = default;

Result<StoreHandle> OpenStore(const StoreConfig& c, bool create) {
  if (!c.server.empty()) {
    client::RemoteOptions ro;
    ro.target = c.server;
    ro.connections = c.connections;
    auto remote = client::ConnectStore(ro);
    if (!remote) return remote.error();
    StoreOperations* ops = remote->get();
    return StoreHandle(std::unique_ptr<Store>(std::move(*remote)), ops);
  }
  auto options = ToStoreOptions(c);
  if (!options) return options.error();
  options->create_if_missing = create;
  auto local = LocalStore::Open(*options);
  if (!local) return local.error();
  return StoreHandle(std::move(*local));
}

}  // namespace strata::app
