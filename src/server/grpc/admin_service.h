// strata.v1.Admin: Strata's own admin calls (engine figures, tier status), next to the
// KurrentDB services. Thread-safety: stateless apart from the borrowed StoreOperations.
#pragma once

#include <chrono>
#include <string>

#include "admin.grpc.pb.h"
#include "projection/runtime.h"
#include "storage/operations.h"

namespace strata::server {

class AdminService final : public strata::v1::Admin::Service {
 public:
  AdminService(StoreOperations* store, std::string data_dir,
               projection::ProjectionRuntime* projections)
      : store_(store), data_dir_(std::move(data_dir)), projections_(projections) {}

  grpc::Status GetStats(grpc::ServerContext*, const strata::v1::GetStatsRequest*,
                        strata::v1::Stats* out) override;
  grpc::Status GetTiers(grpc::ServerContext*, const strata::v1::GetTiersRequest*,
                        strata::v1::Tiers* out) override;
  grpc::Status GetArchive(grpc::ServerContext*, const strata::v1::GetArchiveRequest*,
                          strata::v1::Archive* out) override;
  grpc::Status ListSegments(grpc::ServerContext*, const strata::v1::ListSegmentsRequest*,
                            strata::v1::Segments* out) override;
  grpc::Status ArchiveAll(grpc::ServerContext*, const strata::v1::ArchiveAllRequest*,
                          strata::v1::ArchiveAllResponse* out) override;
  grpc::Status Snapshot(grpc::ServerContext*, const strata::v1::SnapshotRequest*,
                        strata::v1::SnapshotResult* out) override;
  grpc::Status Projection(grpc::ServerContext*, const strata::v1::ProjectionRequest*,
                          strata::v1::ProjectionResponse* out) override;
  grpc::Status Check(grpc::ServerContext*, const strata::v1::CheckRequest* in,
                     strata::v1::CheckResponse* out) override;

 private:
  StoreOperations* store_;
  std::string data_dir_;
  projection::ProjectionRuntime* projections_;  // may be null (no projections)
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace strata::server
