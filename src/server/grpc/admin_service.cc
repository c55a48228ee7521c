#include "server/grpc/admin_service.h"

#include "projection/api.h"
#include "server/grpc/wire.h"

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
  out->set_write_error(s.writable ? "" : s.write_error);
  out->set_disk_free_bytes(s.disk_free_bytes);
  out->set_disk_total_bytes(s.disk_total_bytes);
  out->set_disk_reserve_bytes(s.disk_reserve_bytes);
  out->set_disk_full_refusals(s.disk_full_refusals);
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
  auto archive = store_->Archive();
  if (archive && archive->enabled) {
    cold->set_configured(true);
    uint64_t segments = 0, events = 0;
    auto segs = store_->ListSegments();
    if (segs) {
      uint64_t cold_bytes = 0;
      for (const auto& sg : *segs) {
        ++segments;
        events += sg.events;
        cold_bytes += sg.bytes;
      }
      cold->set_bytes(cold_bytes);
    }
    cold->set_events(events);
    cold->set_hits(archive->cache_hits);
    cold->set_misses(archive->cache_misses);
    cold->set_description(std::to_string(segments) + " archived segments in " + archive->url);
  } else {
    cold->set_configured(false);
    cold->set_description("not configured (--cold none): every event stays in the warm tier");
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetArchive(grpc::ServerContext* ctx,
                                      const strata::v1::GetArchiveRequest*,
                                      strata::v1::Archive* out) {
  auto a = store_->Archive();
  if (!a) return ToStatus(a.error(), ctx);
  out->set_enabled(a->enabled);
  out->set_url(a->url);
  out->set_cold_reads(a->cold_reads);
  out->set_cache_hits(a->cache_hits);
  out->set_cache_misses(a->cache_misses);
  out->set_cache_bytes(a->cache_bytes);
  for (const auto& s : a->shards) {
    auto* o = out->add_shards();
    o->set_shard(s.shard);
    o->set_segments(s.segments);
    o->set_archived_upto(s.archived_upto.value());
    o->set_warm_floor(s.warm_floor.value());
    o->set_backlog_bytes(s.backlog_bytes);
    o->set_backlog_age_us(s.backlog_age_us);
    o->set_uploaded_segments(s.uploaded_segments);
    o->set_uploaded_bytes(s.uploaded_bytes);
    o->set_upload_seconds(s.upload_seconds);
    o->set_errors(s.errors);
    o->set_last_error(s.last_error);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListSegments(grpc::ServerContext* ctx,
                                        const strata::v1::ListSegmentsRequest*,
                                        strata::v1::Segments* out) {
  auto segs = store_->ListSegments();
  if (!segs) return ToStatus(segs.error(), ctx);
  for (const auto& s : *segs) {
    auto* o = out->add_segments();
    o->set_shard(s.shard);
    o->set_segment_id(s.segment_id);
    o->set_first_position(s.first_position.value());
    o->set_last_position(s.last_position.value());
    o->set_min_source_ts(s.min_source_ts);
    o->set_max_source_ts(s.max_source_ts);
    o->set_max_recorded_ts(s.max_recorded_ts);
    o->set_events(s.events);
    o->set_bytes(s.bytes);
    o->set_key(s.key);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ArchiveAll(grpc::ServerContext* ctx,
                                      const strata::v1::ArchiveAllRequest*,
                                      strata::v1::ArchiveAllResponse*) {
  // The call's deadline, converted to the steady clock; an hour when the caller set none.
  auto remaining = ctx->deadline() - std::chrono::system_clock::now();
  if (remaining > std::chrono::hours(1)) remaining = std::chrono::hours(1);
  auto st = store_->ArchiveAll(
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining));
  if (!st) return ToStatus(st.error(), ctx);
  return grpc::Status::OK;
}

grpc::Status AdminService::Snapshot(grpc::ServerContext* ctx, const strata::v1::SnapshotRequest*,
                                    strata::v1::SnapshotResult* out) {
  auto info = store_->Snapshot(nullptr);
  if (!info) return ToStatus(info.error(), ctx);
  out->set_id(info->id);
  out->set_bytes(info->bytes);
  out->set_files(info->files);
  out->set_reused_files(info->reused_files);
  out->set_seconds(info->seconds);
  return grpc::Status::OK;
}

grpc::Status AdminService::Projection(grpc::ServerContext* ctx,
                                      const strata::v1::ProjectionRequest* in,
                                      strata::v1::ProjectionResponse* out) {
  if (!projections_) {
    return ToStatus(Error(ErrorCode::kInvalidArgument,
                          "this server runs no projections; declare them with --projection or "
                          "[[projection]] in its config"),
                    ctx);
  }
  auto r = projection::CallJson(*projections_, in->action(), in->name(), in->args_json());
  if (!r) return ToStatus(r.error(), ctx);
  out->set_json(std::move(*r));
  return grpc::Status::OK;
}

grpc::Status AdminService::Check(grpc::ServerContext* ctx, const strata::v1::CheckRequest* in,
                                 strata::v1::CheckResponse* out) {
  CheckOptions o;
  o.cold = in->cold();
  auto r = store_->Check(o);
  if (!r) return ToStatus(r.error(), ctx, "");
  out->set_json(r->ToJson());
  return grpc::Status::OK;
}

}  // namespace strata::server
