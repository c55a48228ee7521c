#include "server/http/http_server.h"

#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "fmt/format.h"
#include "projection/api.h"

namespace strata::server {

namespace {

// A Prometheus text exposition being written: families of samples, each opened by its HELP and
// TYPE lines.
class MetricsText {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // A family with one unlabelled sample.
  template <typename T>
  void Single(const char* name, const char* type, const char* help, T value) {
    Family(name, type, help);
    out_ += fmt::format("{} {}\n", name, value);
  }
  // A family with one sample per shard, `get(row)` of every row (ShardStats, ArchiveShardStatus).
  template <typename Row, typename Get>
  void PerShard(const std::vector<Row>& rows, const char* name, const char* type, const char* help,
                Get get) {
    Family(name, type, help);
    for (const auto& row : rows) {
      out_ += fmt::format("{}{{shard=\"{}\"}} {}\n", name, row.shard, get(row));
    }
  }
  // A sample line as it is.
  void Line(const std::string& line) { out_ += line; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Per shard: the append path, the log and its indexes, RocksDB.
void ShardFamilies(MetricsText& m, const StoreStats& s) {
  auto per_shard = [&](const char* name, const char* type, const char* help, auto get) {
    m.PerShard(s.shards, name, type, help, get);
  };
  per_shard("strata_appends_total", "counter", "Appends acknowledged (written, not deduplicated).",
            [](const ShardStats& x) { return x.appends; });
  per_shard("strata_group_commits_total", "counter", "Group commits (one write + one sync each).",
            [](const ShardStats& x) { return x.groups; });
  per_shard("strata_fsyncs_total", "counter", "WAL fdatasyncs on the append path.",
            [](const ShardStats& x) { return x.fsyncs; });
  per_shard("strata_events", "gauge", "Records in the shard's log (RocksDB estimate).",
            [](const ShardStats& x) { return x.events; });
  per_shard("strata_bytes", "gauge", "Live data size of the shard (RocksDB estimate).",
            [](const ShardStats& x) { return x.bytes; });
  per_shard("strata_streams", "gauge", "Streams with a persisted head (estimate).",
            [](const ShardStats& x) { return x.streams; });
  per_shard("strata_queue_depth", "gauge", "Appends waiting in the shard's queue.",
            [](const ShardStats& x) { return x.queue_depth; });
  per_shard("strata_unindexed_events", "gauge", "Events not yet in an index run.",
            [](const ShardStats& x) { return x.unindexed_events; });
  per_shard("strata_index_runs", "gauge", "Index runs (stream + dedupe).",
            [](const ShardStats& x) { return x.index_runs; });
  per_shard("strata_last_position", "gauge", "Last $all position written by the shard.",
            [](const ShardStats& x) { return x.last_position.value(); });
  per_shard("strata_rocksdb_memtable_bytes", "gauge", "RocksDB memtable memory.",
            [](const ShardStats& x) { return x.memtable_bytes; });
  per_shard("strata_rocksdb_compaction_pending_bytes", "gauge", "Estimated bytes to compact.",
            [](const ShardStats& x) { return x.compaction_pending_bytes; });
  per_shard("strata_rocksdb_running_compactions", "gauge", "Compactions running.",
            [](const ShardStats& x) { return x.running_compactions; });
  per_shard("strata_rocksdb_write_stall_micros_total", "counter", "Time writes were stalled.",
            [](const ShardStats& x) { return x.write_stall_micros; });
}

// Whether appends are accepted, the data disk, and how far $all readers trail the shards.
void DiskAndWatermarkFamilies(MetricsText& m, const StoreStats& s) {
  m.Single("strata_writable", "gauge",
           "1 while appends are accepted; 0 while they are refused (full or failing disk).",
           s.writable ? 1 : 0);
  m.Single("strata_disk_free_bytes", "gauge", "Free bytes on the data directory's disk.",
           s.disk_free_bytes);
  m.Single("strata_disk_total_bytes", "gauge", "Size of the data directory's disk.",
           s.disk_total_bytes);
  m.Single("strata_disk_reserve_bytes", "gauge",
           "Free space kept for recovery: appends are refused below it.", s.disk_reserve_bytes);
  m.Single("strata_disk_full_refusals_total", "counter", "Appends refused for lack of disk space.",
           s.disk_full_refusals);
  uint64_t last = 0;
  for (const auto& sh : s.shards) last = std::max(last, sh.last_position.value());
  m.Single("strata_watermark", "gauge", "First $all position not yet durable.",
           s.watermark.value());
  m.Single("strata_watermark_lag", "gauge",
           "Positions written by some shard but not yet visible to $all readers.",
           last + 1 > s.watermark.value() ? last + 1 - s.watermark.value() : 0);
}

void HistogramFamily(MetricsText& m, const char* name, const char* help,
                     const LatencyHistogram::Snapshot& h) {
  m.Family(name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    cumulative += h.counts[i];
    if (i < LatencyHistogram::kBoundsUs.size()) {
      m.Line(fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                         static_cast<double>(LatencyHistogram::kBoundsUs[i]) / 1e6, cumulative));
    } else {
      m.Line(fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative));
    }
  }
  m.Line(fmt::format("{}_sum {}\n", name, static_cast<double>(h.sum_us) / 1e6));
  m.Line(fmt::format("{}_count {}\n", name, h.count));
}

// What acknowledged appends wrote, and their latency histogram.
void AppendFamilies(MetricsText& m, const StoreStats& s) {
  m.Single("strata_appended_events_total", "counter",
           "Events written by acknowledged appends (retries that were deduplicated not counted).",
           s.appended_events);
  m.Single("strata_appended_bytes_total", "counter", "Payload bytes (data + metadata) appended.",
           s.appended_bytes);
  HistogramFamily(m, "strata_append_latency_seconds",
                  "From the engine receiving an append to its acknowledgement (durable as "
                  "configured).",
                  s.append_latency);
}

// The object-store WAL (docs/wal.md), when the store acknowledges through one.
void WalFamilies(MetricsText& m, const StoreStats& s) {
  if (!s.wal) return;
  m.Single("strata_wal_objects_total", "counter", "WAL objects written to the object store.",
           s.wal_objects);
  m.Single("strata_wal_bytes_total", "counter", "Bytes of the WAL objects written.", s.wal_bytes);
  m.Single("strata_wal_events_total", "counter", "Records written to WAL objects.", s.wal_events);
  m.Single("strata_wal_put_failures_total", "counter",
           "Failed WAL PUT attempts (each retried; appends wait meanwhile).", s.wal_put_failures);
  m.Single("strata_wal_deleted_total", "counter",
           "WAL objects deleted once every record in them was archived.", s.wal_deleted);
  m.Single("strata_wal_live_objects", "gauge", "WAL objects in the object store, not yet archived.",
           s.wal_live_objects);
  HistogramFamily(m, "strata_wal_put_seconds", "Time of one successful WAL PUT.",
                  s.wal_put_latency);
}

// The read side: subscriptions, the $ce-/$et- index streams, the hot ring.
void ReadFamilies(MetricsText& m, const StoreStats& s) {
  m.Single("strata_subscriptions", "gauge", "Live catch-up/live subscriptions.", s.subscriptions);
  m.Single("strata_subscription_lag_max", "gauge",
           "Largest number of $all positions any subscription is behind the watermark.",
           s.subscription_lag_max);
  m.Single("strata_subscription_lag_sum", "gauge",
           "Positions behind the watermark, summed over subscriptions (divide by the count).",
           s.subscription_lag_sum);
  const uint64_t newest = s.watermark.value() > 0 ? s.watermark.value() - 1 : 0;
  m.Single(
      "strata_index_streams_lag_positions", "gauge",
      "$all positions the $ce-/$et- index streams are behind the watermark.",
      newest > s.index_streams_position.value() ? newest - s.index_streams_position.value() : 0);
  m.Single("strata_index_streams", "gauge", "$ce-/$et- index streams that have events.",
           s.index_streams);
  m.Single("strata_index_streams_failed", "gauge",
           "1 when the index streams stopped on an error (see the log; a restart resumes).",
           s.index_streams_failed ? 1 : 0);
  m.Single("strata_ring_hits_total", "counter", "Reads served from the hot ring.", s.ring_hits);
  m.Single("strata_ring_misses_total", "counter", "Reads that went past the hot ring.",
           s.ring_misses);
  m.Single("strata_ring_bytes", "gauge", "Hot ring arena size.", s.ring_bytes);
}

// The archivers (per shard) and the cold tier's reads and block cache.
void ArchiveFamilies(MetricsText& m, const ArchiveStatus& archive) {
  auto per_archiver = [&](const char* name, const char* type, const char* help, auto get) {
    m.PerShard(archive.shards, name, type, help, get);
  };
  using A = ArchiveShardStatus;
  per_archiver("strata_archive_backlog_bytes", "gauge",
               "Bytes of the shard's log not yet archived (RocksDB estimate; includes the open "
               "segment).",
               [](const A& a) { return a.backlog_bytes; });
  per_archiver("strata_archive_backlog_age_seconds", "gauge",
               "Age of the oldest event not yet archived.",
               [](const A& a) { return static_cast<double>(a.backlog_age_us) / 1e6; });
  per_archiver("strata_archive_segments", "gauge", "Segments in the shard's cold manifest.",
               [](const A& a) { return a.segments; });
  per_archiver("strata_archive_uploaded_bytes_total", "counter",
               "Segment bytes uploaded since start.", [](const A& a) { return a.uploaded_bytes; });
  per_archiver("strata_archive_upload_seconds_total", "counter",
               "Time spent uploading segments since start (rate = bytes / seconds).",
               [](const A& a) { return a.upload_seconds; });
  per_archiver("strata_archive_errors_total", "counter",
               "Failed archive attempts (each is retried).", [](const A& a) { return a.errors; });
  per_archiver("strata_archive_archived_upto", "gauge",
               "Last position of the shard's newest archived segment.",
               [](const A& a) { return a.archived_upto.value(); });
  per_archiver("strata_warm_floor", "gauge",
               "Positions below this are read from the cold tier (local retention).",
               [](const A& a) { return a.warm_floor.value(); });
  m.Single("strata_cold_reads_total", "counter", "Records read from the cold tier.",
           archive.cold_reads);
  m.Single("strata_cold_cache_hits_total", "counter", "Cold block cache hits.", archive.cache_hits);
  m.Single("strata_cold_cache_misses_total", "counter", "Cold block cache misses (object reads).",
           archive.cache_misses);
  m.Single("strata_cold_cache_bytes", "gauge", "Decompressed blocks held by the cold cache.",
           archive.cache_bytes);
}

}  // namespace

std::string PrometheusText(StoreOperations& store) {
  const StoreStats s = store.Stats();
  MetricsText m;
  ShardFamilies(m, s);
  DiskAndWatermarkFamilies(m, s);
  AppendFamilies(m, s);
  WalFamilies(m, s);
  ReadFamilies(m, s);
  auto archive = store.Archive();
  if (archive && archive->enabled) ArchiveFamilies(m, *archive);
  return m.Take();
}

std::string ClusterPrometheusText(const ClusterMetricsSource& c) {
  MetricsText m;
  if (c.ownership) {
    const router::OwnershipStats o = c.ownership->Stats();
    m.Single("strata_cluster_partitions_owned", "gauge",
             "Partitions this member serves now (0 while its lease is not valid).", o.owned);
    m.Single("strata_cluster_lease_valid", "gauge",
             "1 while this member's etcd lease is valid by its own (conservative) clock.",
             o.lease_valid ? 1 : 0);
    m.Single("strata_cluster_balancer", "gauge", "1 when this member runs the balancer.",
             o.balancer ? 1 : 0);
    m.Single("strata_cluster_partitions_acquired_total", "counter",
             "Partitions this member took (one etcd transaction each).", o.acquired);
    m.Single("strata_cluster_partitions_released_total", "counter",
             "Partitions this member gave up to the balancer's choice.", o.released);
    m.Single("strata_cluster_partitions_lost_total", "counter",
             "Partitions this member lost with its lease.", o.lost);
    m.Single("strata_cluster_lease_renew_failures_total", "counter",
             "Lease renewals that did not reach etcd.", o.renew_failures);
    m.Single("strata_cluster_partitions_taken_over_total", "counter",
             "Partitions this member took over from members that were down (failover).",
             o.taken_over);
    m.Single("strata_cluster_takeover_failures_total", "counter",
             "Partitions whose takeover failed here (given up for another member to try).",
             o.takeover_failures);
    m.Single("strata_cluster_partitions_taking_over", "gauge",
             "Partitions whose events this member is copying now (not served until done).",
             o.taking_over);
    m.Single("strata_cluster_last_takeover_seconds", "gauge",
             "How long the last takeover's copy took, from its start to serving.",
             o.last_takeover_seconds);
    const router::ClusterView v = c.ownership->View();
    m.Single("strata_cluster_members", "gauge", "Live members in etcd.", v.members.size());
    m.Family("strata_cluster_partition_owned_seconds", "gauge",
             "How long this member has owned each partition it serves (ownership age).");
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    for (uint32_t p = 0; p < v.owners.size(); ++p) {
      const auto& owner = v.owners[p];
      if (!owner || owner->node != c.ownership->self() || owner->since_us <= 0) continue;
      m.Line(fmt::format("strata_cluster_partition_owned_seconds{{partition=\"{}\"}} {:.1f}\n", p,
                         static_cast<double>(now_us - owner->since_us) / 1e6));
    }
  }
  if (c.router) {
    const router::RouterStats r = c.router->Stats();
    m.Single("strata_cluster_appends_served_total", "counter",
             "Appends this member served as the partition's owner.", r.served_appends);
    m.Family("strata_cluster_forwarded_total", "counter",
             "Requests this member forwarded to the partition's owner.");
    m.Line(
        fmt::format("strata_cluster_forwarded_total{{op=\"append\"}} {}\n", r.forwarded_appends));
    m.Line(
        fmt::format("strata_cluster_forwarded_total{{op=\"delete\"}} {}\n", r.forwarded_deletes));
    m.Line(fmt::format("strata_cluster_forwarded_total{{op=\"read\"}} {}\n", r.forwarded_reads));
    m.Line(fmt::format("strata_cluster_forwarded_total{{op=\"subscribe\"}} {}\n",
                       r.forwarded_subscriptions));
    m.Single("strata_cluster_unknown_outcomes_total", "counter",
             "Writes not acknowledged because the partition changed hands while they ran.",
             r.unknown_outcomes);
    m.Single("strata_cluster_move_waits_total", "counter",
             "Requests that waited for a moving partition's new owner.", r.move_waits);
  }
  return m.Take();
}

struct HttpServer::Rep {
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> ready{false};
  int port = 0;
};

namespace {
// GET /projections, GET /projections/NAME, GET /projections/NAME/get?key=K&top=N,
// GET /projections/NAME/verify?sample=N&max_lag=N&sink=S, POST /projections/NAME/ACTION.
void AddProjectionRoutes(httplib::Server& http, projection::ProjectionRuntime& rt) {
  auto reply = [](httplib::Response& res, const Result<std::string>& r) {
    if (r) {
      res.set_content(*r + "\n", "application/json");
      return;
    }
    const Error& e = r.error();
    res.status = e.code() == ErrorCode::kInvalidArgument ? 400
                 : e.code() == ErrorCode::kUnavailable   ? 503
                                                         : 500;
    if (e.message().rfind("no projection named", 0) == 0) res.status = 404;
    res.set_content(
        nlohmann::json{{"error", ErrorCodeName(e.code())}, {"message", e.message()}}.dump() + "\n",
        "application/json");
  };
  http.Get("/projections", [&rt, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, projection::CallJson(rt, "list", "", ""));
  });
  http.Get(R"(/projections/([a-z0-9_-]+))",
           [&rt, reply](const httplib::Request& req, httplib::Response& res) {
             reply(res, projection::CallJson(rt, "status", req.matches[1], ""));
           });
  http.Get(R"(/projections/([a-z0-9_-]+)/get)", [&rt, reply](const httplib::Request& req,
                                                             httplib::Response& res) {
    nlohmann::json args;
    args["keys"] = nlohmann::json::array();
    for (auto it = req.params.find("key"); it != req.params.end() && it->first == "key"; ++it) {
      args["keys"].push_back(it->second);
    }
    if (req.has_param("top"))
      args["top"] = std::strtoull(req.get_param_value("top").c_str(), nullptr, 10);
    reply(res, projection::CallJson(rt, "get", req.matches[1], args.dump()));
  });
  http.Get(R"(/projections/([a-z0-9_-]+)/verify)",
           [&rt, reply](const httplib::Request& req, httplib::Response& res) {
             nlohmann::json args = nlohmann::json::object();
             for (const char* k : {"sample", "max_lag", "seed"}) {
               if (req.has_param(k))
                 args[k] = std::strtoull(req.get_param_value(k).c_str(), nullptr, 10);
             }
             if (req.has_param("sink")) args["sink"] = req.get_param_value("sink");
             reply(res, projection::CallJson(rt, "verify", req.matches[1], args.dump()));
           });
  http.Post(R"(/projections/([a-z0-9_-]+)/(start|stop|reset|replay))",
            [&rt, reply](const httplib::Request& req, httplib::Response& res) {
              nlohmann::json args = nlohmann::json::object();
              if (req.has_param("sink")) args["sink"] = req.get_param_value("sink");
              reply(res, projection::CallJson(rt, req.matches[2], req.matches[1], args.dump()));
            });
}
}  // namespace

HttpServer::HttpServer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(StoreOperations* store,
                                                      const std::string& host, int port,
                                                      projection::ProjectionRuntime* projections,
                                                      const ClusterMetricsSource* cluster) {
  auto rep = std::make_unique<Rep>();
  Rep* r = rep.get();
  // Ready means ready for the whole API: a store that refuses appends (a full or failing disk)
  // answers 503 with the reason, while reads, subscriptions and /metrics go on.
  auto health = [r, store](const httplib::Request&, httplib::Response& res) {
    nlohmann::json j = {{"live", true}};
    bool ready = r->ready.load();
    if (ready) {
      const StoreStats s = store->Stats();
      j["writable"] = s.writable;
      if (!s.writable) {
        ready = false;
        j["reason"] = s.write_error;
      }
      j["disk_free_bytes"] = s.disk_free_bytes;
    }
    j["ready"] = ready;
    res.status = ready ? 200 : 503;
    res.set_content(j.dump() + "\n", "application/json");
  };
  r->http.Get("/health", health);
  r->http.Get("/health/ready", health);
  r->http.Get("/health/live", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"live\":true}\n", "application/json");
  });
  const ClusterMetricsSource cluster_source = cluster ? *cluster : ClusterMetricsSource{};
  r->http.Get("/metrics", [store, projections, cluster_source](const httplib::Request&,
                                                               httplib::Response& res) {
    std::string text = PrometheusText(*store);
    if (projections) text += projections->Metrics();
    if (cluster_source.ownership || cluster_source.router) {
      text += ClusterPrometheusText(cluster_source);
    }
    res.set_content(text, "text/plain; version=0.0.4");
  });
  if (projections) AddProjectionRoutes(r->http, *projections);
  if (port == 0) {
    r->port = r->http.bind_to_any_port(host);
  } else {
    r->port = r->http.bind_to_port(host, port) ? port : -1;
  }
  if (r->port <= 0) {
    return Error(ErrorCode::kIoError, "cannot listen on " + host + ":" + std::to_string(port) +
                                          " for HTTP; is the port in use? pick another with "
                                          "--http-port");
  }
  r->thread = std::thread([r] { r->http.listen_after_bind(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(rep)));
}

int HttpServer::port() const { return rep_->port; }
void HttpServer::SetReady(bool ready) { rep_->ready.store(ready); }

void HttpServer::Stop() {
  if (!rep_->thread.joinable()) return;
  rep_->http.stop();
  rep_->thread.join();
}

}  // namespace strata::server
