// HttpServer: /health (liveness and readiness), /metrics (Prometheus text format) for a Store,
// and the projections' JSON API (/projections…, docs/projections.md) when a runtime is given.
// cpp-httplib stays inside this directory. Thread-safety: Start/Stop from one thread; requests are
// served on the server's own threads.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "projection/runtime.h"
#include "router/cluster_ownership.h"
#include "router/router.h"
#include "storage/operations.h"

namespace strata::server {

// What a cluster member adds to /metrics. Both outlive the server.
struct ClusterMetricsSource {
  const router::Router* router = nullptr;
  const router::ClusterOwnership* ownership = nullptr;
};

class HttpServer {
 public:
  // port 0: any free port.
  // `cluster` (a cluster member; may be null): its router's and ownership's figures join
  // /metrics.
  static Result<std::unique_ptr<HttpServer>> Start(
      StoreOperations* store, const std::string& host, int port,
      projection::ProjectionRuntime* projections = nullptr,
      const ClusterMetricsSource* cluster = nullptr);
  ~HttpServer();
  int port() const;
  void SetReady(bool ready);  // readiness: false while starting or shutting down
  void Stop();

 private:
  struct Rep;
  explicit HttpServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// The store's figures in Prometheus text exposition format.
std::string PrometheusText(StoreOperations& store);
// A cluster member's figures (partitions, lease, moves, forwarding), same format.
std::string ClusterPrometheusText(const ClusterMetricsSource& cluster);

}  // namespace strata::server
