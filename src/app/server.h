// app::Server: what `strata serve` runs, assembled in one place — the store (restored from its
// cold tier first when the data directory is empty), the snapshot schedule, the projections,
// the gRPC server (KurrentDB API + strata.v1.Admin) and the HTTP server (/health, /metrics).
//
// Start order: restore-if-empty, store, ownership (joining the cluster, if any) and the router,
// snapshots, projections, gRPC, HTTP (then ready).
// Stop order, the reverse, so nothing is served by a part that has stopped: HTTP not ready,
// gRPC drains its in-flight calls, HTTP stops, projections stop (uncommitted deltas are refolded
// at the next start), a scheduled snapshot in progress finishes, the store closes, the node
// leaves its cluster.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/store_config.h"
#include "base/error.h"
#include "projection/spec.h"

namespace strata::app {

// Joining a cluster (docs/cluster.md); `etcd` empty: a single node.
struct ClusterConfig {
  std::string etcd;             // etcd://HOST:PORT[,HOST:PORT...]
  std::string name = "strata";  // etcd keys under /strata/<name>/
  std::string node_id;
  std::string advertise;  // host:port others reach this node's gRPC at (default host:grpc_port)
  std::string role = "data";
  int lease_seconds = 10;
};

struct ServerConfig {
  StoreConfig store;
  ClusterConfig cluster;
  std::string host = "127.0.0.1";
  int grpc_port = 2113;                    // 0: any free port
  int http_port = 2114;                    // 0: any free port
  double snapshot_interval_minutes = 360;  // 0: never
  uint32_t snapshot_keep = 3;
  bool restore_if_empty = true;
  std::vector<projection::ProjectionSpec> projections;
};

class Server {
 public:
  // Progress lines for the operator (the restore, the addresses); may be empty.
  using Say = std::function<void(const std::string& line)>;

  static Result<std::unique_ptr<Server>> Start(ServerConfig config, Say say = nullptr);
  ~Server();  // Stop(), ignoring its error

  int grpc_port() const;
  int http_port() const;
  const StoreOptions& options() const;
  // What an operator needs to connect, check and watch it: several lines.
  std::string Banner() const;
  // Stops everything in the order above. Idempotent; the error is the store's close.
  Status Stop();

 private:
  struct Parts;
  explicit Server(std::unique_ptr<Parts> parts);
  // The ownership (one node, or a cluster member on etcd) and the routers in front of the store.
  static Status StartRouting(Parts& p, const Say& say);
  std::unique_ptr<Parts> parts_;
};

}  // namespace strata::app
