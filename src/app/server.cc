#include "app/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "app/peer_stores.h"
#include "objstore/object_store.h"
#include "projection/runtime.h"
#include "router/cluster_ownership.h"
#include "router/router.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"
#include "storage/adopt.h"
#include "storage/snapshot.h"

namespace strata::app {
namespace {

// Takes a snapshot every `interval` (and keeps the newest `keep`) until destroyed.
class SnapshotScheduler {
 public:
  SnapshotScheduler(StoreOperations* store, const StoreOptions& options,
                    std::chrono::milliseconds interval, uint32_t keep)
      : store_(store), options_(options), interval_(interval), keep_(keep) {
    if (interval_.count() > 0 && !options_.cold.url.empty()) {
      thread_ = std::thread([this] { Loop(); });
    }
  }
  ~SnapshotScheduler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    while (true) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, interval_, [&] { return stop_; })) return;
      }
      auto info = store_->Snapshot(nullptr);
      if (!info) {
        spdlog::warn("scheduled snapshot failed (the next one resumes it): {}",
                     info.error().ToString());
        continue;
      }
      auto os = objstore::Open(options_.cold.url, options_.cold.s3);
      if (os) {
        auto pruned = PruneSnapshots(**os, keep_);
        if (!pruned) spdlog::warn("pruning old snapshots failed: {}", pruned.error().ToString());
      }
    }
  }
  StoreOperations* store_;
  StoreOptions options_;
  std::chrono::milliseconds interval_;
  uint32_t keep_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// An empty data directory whose cold tier holds a store: rebuild it from there first.
Status RestoreIfEmpty(const StoreOptions& options, const Server::Say& say) {
  if (options.cold.url.empty() ||
      std::filesystem::exists(std::filesystem::path(options.data_dir) / "STRATA")) {
    return OkStatus();
  }
  auto restorable = HasRestorableStore(options.cold.url, options.cold.s3);
  if (!restorable) return restorable.error();
  if (!*restorable) return OkStatus();
  say(fmt::format("strata: {} holds no store; restoring it from {}", options.data_dir,
                  options.cold.url));
  RestoreOptions ro;
  ro.from = options.cold.url;
  ro.s3 = options.cold.s3;
  ro.data_dir = options.data_dir;
  auto r = RestoreStore(ro);
  if (!r) return r.error();
  say(
      fmt::format("strata: restored {} ({} bytes), {} archived segments ({} events) and {} "
                  "records of the object-store WAL ({} objects) in {:.1f} s",
                  r->snapshot.empty() ? std::string("no snapshot") : "snapshot " + r->snapshot,
                  r->bytes, r->segments, r->events, r->wal_events, r->wal_objects, r->seconds));
  return OkStatus();
}

// Copies partitions of a member that is down from its object store into `store`.
router::TakeOver TakeOverInto(LocalStore& store, const objstore::S3Config& s3) {
  return [&store, s3](const std::vector<uint32_t>& partitions, const std::string& from,
                      const std::string& url) -> Status {
    auto os = objstore::Open(url, s3);
    if (!os) return os.error();
    auto r = storage::AdoptPartitions(store, **os, partitions, store.partitions());
    if (!r) return r.error();
    spdlog::info(
        "cluster: copied {} partitions of '{}' from {}: {} events of {} streams ({} written "
        "here, {} here already); read {} bytes ({} segments, {} WAL objects) in {:.2f} s, "
        "{:.2f} s in all",
        partitions.size(), from, url, r->events, r->streams, r->written, r->deduplicated, r->bytes,
        r->segments, r->wal_objects, r->read_seconds, r->seconds);
    return OkStatus();
  };
}

}  // namespace

struct Server::Parts {
  ServerConfig config;
  StoreOptions options;
  // Declared in start order; Stop() tears them down in reverse.
  std::unique_ptr<LocalStore> store;
  std::unique_ptr<router::Ownership> ownership;
  router::ClusterOwnership* cluster = nullptr;  // ownership, when in a cluster
  std::unique_ptr<PeerStores> peers;
  std::unique_ptr<router::Router> router;  // what the servers serve: every request goes through it
  std::unique_ptr<router::Router> forwarded;  // serves requests other members forwarded here
  std::unique_ptr<SnapshotScheduler> snapshots;
  std::unique_ptr<projection::ProjectionRuntime> projections;
  std::unique_ptr<server::GrpcServer> grpc;
  std::unique_ptr<server::HttpServer> http;
  bool stopped = false;
};

Result<std::unique_ptr<Server>> Server::Start(ServerConfig config, Say say) {
  if (!say) say = [](const std::string&) {};
  auto p = std::make_unique<Parts>();
  p->config = std::move(config);
  const ServerConfig& c = p->config;
  StoreConfig sc = c.store;
  sc.archive = true;
  auto options = ToStoreOptions(sc);
  if (!options) return options.error();
  p->options = *options;
  if (c.restore_if_empty) STRATA_TRY(RestoreIfEmpty(p->options, say));
  StoreOptions open = p->options;
  open.create_if_missing = true;
  auto store = LocalStore::Open(open);
  if (!store) return store.error();
  p->store = std::move(*store);
  STRATA_TRY(StartRouting(*p, say));
  p->snapshots = std::make_unique<SnapshotScheduler>(
      p->store.get(), p->options,
      std::chrono::milliseconds(static_cast<int64_t>(c.snapshot_interval_minutes * 60'000)),
      c.snapshot_keep);
  auto projections = projection::ProjectionRuntime::Start(p->store.get(), c.projections);
  if (!projections) return projections.error();
  p->projections = std::move(*projections);
  server::GrpcOptions go;
  go.host = c.host;
  go.port = c.grpc_port;
  go.data_dir = p->options.data_dir;
  go.projections = p->projections.get();
  go.forwarded = p->forwarded.get();
  go.ownership = p->ownership.get();
  auto grpc = server::GrpcServer::Start(p->router.get(), p->store.get(), go);
  if (!grpc) return grpc.error();
  p->grpc = std::move(*grpc);
  server::ClusterMetricsSource cluster{p->router.get(), p->cluster};
  auto http = server::HttpServer::Start(p->store.get(), c.host, c.http_port, p->projections.get(),
                                        p->cluster ? &cluster : nullptr);
  if (!http) return http.error();
  p->http = std::move(*http);
  p->http->SetReady(true);
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

Status Server::StartRouting(Parts& p, const Say& say) {
  const ClusterConfig& c = p.config.cluster;
  if (c.etcd.empty()) {
    p.ownership = std::make_unique<router::SingleNodeOwnership>(kNodeId, p.store->partitions());
    p.router = std::make_unique<router::Router>(p.store.get(), p.ownership.get());
    return OkStatus();
  }
  auto endpoints = router::etcd::ParseEtcdUrl(c.etcd);
  if (!endpoints) return endpoints.error();
  router::ClusterOptions o;
  o.cluster = c.name;
  o.node_id = c.node_id;
  o.role = c.role;
  o.lease_ttl = std::chrono::seconds(c.lease_seconds);
  o.partitions = p.store->partitions();
  o.advertise = c.advertise;
  if (o.advertise.empty()) {
    if (p.config.grpc_port == 0) {
      return Error(ErrorCode::kInvalidConfig,
                   "a cluster member needs an address the others can reach: pass --advertise "
                   "HOST:PORT, or a fixed --grpc-port");
    }
    o.advertise = p.config.host + ":" + std::to_string(p.config.grpc_port);
  }
  // With the object-store WAL every acknowledged event is in the member's --cold prefix, so
  // survivors can take its partitions over from there when it dies (docs/cluster.md).
  if (p.options.cold.wal && !p.options.cold.url.empty()) o.cold_url = p.options.cold.url;
  if (o.role == router::kRoleData) o.take_over = TakeOverInto(*p.store, p.options.cold.s3);
  auto etcd = router::etcd::EtcdClient::Create({*endpoints, std::chrono::milliseconds(2000)});
  if (!etcd) return etcd.error();
  say("joining cluster '" + c.name + "' through " + c.etcd + " as '" + c.node_id + "' (" + c.role +
      ", " + o.advertise + ")");
  auto member = router::ClusterOwnership::Join(o, std::move(*etcd));
  if (!member) return member.error();
  p.cluster = member->get();
  p.ownership = std::move(*member);
  p.peers = std::make_unique<PeerStores>(c.node_id);
  p.router = std::make_unique<router::Router>(p.store.get(), p.ownership.get(), p.peers.get());
  p.forwarded = std::make_unique<router::Router>(p.store.get(), p.ownership.get());
  return OkStatus();
}

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Server::~Server() { IgnoreError(Stop()); }

int Server::grpc_port() const { return parts_->grpc->port(); }
int Server::http_port() const { return parts_->http->port(); }
const StoreOptions& Server::options() const { return parts_->options; }

std::string Server::Banner() const {
  const ServerConfig& c = parts_->config;
  const std::string& h = c.host;
  const int g = grpc_port(), w = http_port();
  std::string out = fmt::format(
      "strata serving {} on {}:{} (gRPC, KurrentDB client protocol, plaintext)\n"
      "  connect with: kurrentdb://{}:{}?tls=false\n"
      "  health: http://{}:{}/health   metrics: http://{}:{}/metrics\n",
      parts_->options.data_dir, h, g, h, g, h, w, h, w);
  const std::string& url = parts_->options.cold.url;
  out += url.empty()
             ? std::string("  cold tier: none (--cold none): every event stays local\n")
             : fmt::format("  cold tier: {} (strata archive status --server {}:{})\n", url, h, g);
  if (!c.projections.empty()) {
    out += fmt::format(
        "  projections: {} (strata projection list --server {}:{}; http://{}:{}/projections)\n",
        c.projections.size(), h, g, h, w);
  }
  return out;
}

Status Server::Stop() {
  Parts& p = *parts_;
  if (p.stopped) return OkStatus();
  p.stopped = true;
  p.http->SetReady(false);
  p.grpc->Shutdown(5000);
  p.http->Stop();
  p.projections.reset();  // uncommitted deltas are refolded at the next start
  p.snapshots.reset();    // a scheduled snapshot in progress finishes first
  Status closed = p.store->Close();
  if (p.cluster) p.cluster->Leave();  // after the last acknowledgement
  return closed;
}

}  // namespace strata::app
