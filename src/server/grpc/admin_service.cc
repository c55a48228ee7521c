#include "server/grpc/admin_service.h"

#include "projection/api.h"
#include "server/grpc/wire.h"
#include "wire/admin.h"

namespace strata::server {

grpc::Status AdminService::GetStats(grpc::ServerContext*, const strata::v1::GetStatsRequest*,
                                    strata::v1::Stats* out) {
  wire::ToProto(store_->Stats(), out);
  out->set_version(STRATA_VERSION);
  out->set_data_dir(data_dir_);
  out->set_uptime_seconds(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count()));
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
  wire::ToProto(*a, out);
  return grpc::Status::OK;
}

grpc::Status AdminService::ListSegments(grpc::ServerContext* ctx,
                                        const strata::v1::ListSegmentsRequest*,
                                        strata::v1::Segments* out) {
  auto segs = store_->ListSegments();
  if (!segs) return ToStatus(segs.error(), ctx);
  wire::ToProto(*segs, out);
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
  wire::ToProto(*info, out);
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
  wire::ToProto(*r, out);
  return grpc::Status::OK;
}

}  // namespace strata::server
