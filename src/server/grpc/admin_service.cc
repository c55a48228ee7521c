#include "server/grpc/admin_service.h"

namespace strata::server {

grpc::Status AdminService::GetStats(grpc::ServerContext*, const strata::v1::GetStatsRequest*,
                                    strata::v1::Stats* out) {
  const StoreStats s = store_->Stats();
  out->set_version(STRATA_VERSION);
  out->set_data_dir(data_dir_);
  out->set_watermark(s.watermark.value());
  out->set_appended_events(s.appended_events);
  out->set_appended_bytes(s.appended_bytes);
  for (uint64_t b : LatencyHistogram::kBoundsUs) out->add_append_latency_bounds_us(b);
  for (uint64_t c : s.append_latency.counts) out->add_append_latency_counts(c);
  out->set_append_latency_sum_us(s.append_latency.sum_us);
  out->set_subscriptions(s.subscriptions);
  out->set_subscription_lag_max(s.subscription_lag_max);
  out->set_ring_hits(s.ring_hits);
  out->set_ring_misses(s.ring_misses);
  out->set_uptime_seconds(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count()));
  for (const ShardStats& sh : s.shards) {
    auto* o = out->add_shards();
    o->set_shard(sh.shard);
    o->set_events(sh.events);
    o->set_bytes(sh.bytes);
    o->set_streams(sh.streams);
    o->set_last_position(sh.last_position.value());
    o->set_indexed_upto(sh.indexed_upto.value());
    o->set_index_runs(sh.index_runs);
    o->set_index_entries(sh.index_entries);
    o->set_unindexed_events(sh.unindexed_events);
    o->set_group_commits(sh.groups);
    o->set_fsyncs(sh.fsyncs);
    o->set_appends(sh.appends);
    o->set_queue_depth(sh.queue_depth);
    o->set_memtable_bytes(sh.memtable_bytes);
    o->set_compaction_pending_bytes(sh.compaction_pending_bytes);
    o->set_running_compactions(sh.running_compactions);
    o->set_write_stall_micros(sh.write_stall_micros);
    o->set_write_stopped(sh.write_stopped);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetTiers(grpc::ServerContext*, const strata::v1::GetTiersRequest*,
                                    strata::v1::Tiers* out) {
  const StoreStats s = store_->Stats();
  auto* hot = out->add_tiers();
  hot->set_name("hot");
  hot->set_configured(true);
  hot->set_description("memory ring of the most recent events");
  hot->set_bytes(s.ring_bytes);
  hot->set_hits(s.ring_hits);
  hot->set_misses(s.ring_misses);
  auto* warm = out->add_tiers();
  warm->set_name("warm");
  warm->set_configured(true);
  warm->set_description(std::to_string(s.shards.size()) + " RocksDB shards in " + data_dir_);
  uint64_t bytes = 0, events = 0;
  for (const ShardStats& sh : s.shards) {
    bytes += sh.bytes;
    events += sh.events;
  }
  warm->set_bytes(bytes);
  warm->set_events(events);
  auto* cold = out->add_tiers();
  cold->set_name("cold");
  cold->set_configured(false);
  cold->set_description("object storage; not built yet: every event stays in the warm tier");
  return grpc::Status::OK;
}

}  // namespace strata::server
