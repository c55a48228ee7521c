// app::Server: what `strata serve` runs, assembled in one place — the store (restored from its
// cold tier first when the data directory is empty), the snapshot schedule, the projections,
// the gRPC server (KurrentDB API + strata.v1.Admin) and the HTTP server (/health, /metrics).
//
// Start order: restore-if-empty, store, snapshots, projections, gRPC, HTTP (then ready).
// Stop order, the reverse, so nothing is served by a part that has stopped: HTTP not ready,
// gRPC drains its in-flight calls, HTTP stops, projections stop (uncommitted deltas are refolded
// at the next start), a scheduled snapshot in progress finishes, the store closes.
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

struct ServerConfig {
  StoreConfig store;
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
  std::unique_ptr<Parts> parts_;
};

}  // namespace strata::app
