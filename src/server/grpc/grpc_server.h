// GrpcServer: the KurrentDB v1 client API (Streams, ServerFeatures, Gossip) and Strata's own
// strata.v1.Admin over a Store and its StoreOperations, on HTTP/2 plaintext. Owns the gRPC server;
// both are borrowed and must outlive it. Thread-safety: Start/Shutdown from one thread; calls run
// on gRPC's threads.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "projection/runtime.h"
#include "router/ownership.h"
#include "storage/operations.h"
#include "storage/store.h"

namespace strata::server {

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 2113;                       // 0: any free port (see GrpcServer::port())
  size_t max_message_bytes = 64u << 20;  // clients send up to 17 MiB messages
  std::string data_dir;                  // reported by the admin service
  projection::ProjectionRuntime* projections = nullptr;  // served by the admin service, if any
  // A cluster member: serves the calls other members forwarded here (they must not be
  // forwarded again; null: `store` serves them), and lists the members in Gossip/Read.
  Store* forwarded = nullptr;
  router::Ownership* ownership = nullptr;
};

class GrpcServer {
 public:
  static Result<std::unique_ptr<GrpcServer>> Start(Store* store, StoreOperations* operations,
                                                   const GrpcOptions& options);
  ~GrpcServer();
  int port() const;
  // Stops accepting calls, lets in-flight ones finish until `deadline_ms`, then cancels the rest.
  void Shutdown(int deadline_ms = 5000);
  void Wait();

 private:
  struct Rep;
  explicit GrpcServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace strata::server
