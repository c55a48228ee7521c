#include "router/router.h"

#include "model/partition.h"
#include "model/stream_name.h"

namespace strata::router {

Status Router::CheckOwned(std::string_view stream) {
  // $ce-/$et- index streams are views of the node's whole log, like $all: not partitioned.
  if (IsIndexStream(stream)) return OkStatus();
  const uint32_t partition = PartitionOf(stream, ownership_->partitions());
  auto lease = ownership_->OwnerOf(partition);
  if (!lease) return lease.error();
  if (lease->node == ownership_->self()) return OkStatus();
  return Error(ErrorCode::kNotOwner, "stream '" + std::string(stream) + "' is in partition " +
                                         std::to_string(partition) + ", owned by node '" +
                                         lease->node + "' (this is '" + ownership_->self() +
                                         "'); send the request to that node");
}

void Router::AppendAsync(AppendRequest request, AppendCallback done) {
  if (auto st = CheckOwned(request.stream); !st) return done(st.error());
  local_->AppendAsync(std::move(request), std::move(done));
}

Result<DeleteResult> Router::Delete(DeleteRequest request) {
  STRATA_TRY(CheckOwned(request.stream));
  return local_->Delete(std::move(request));
}

Result<ReadStreamResult> Router::ReadStream(const ReadStreamRequest& request) {
  STRATA_TRY(CheckOwned(request.stream));
  return local_->ReadStream(request);
}

Result<std::unique_ptr<Subscription>> Router::Subscribe(
    SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) {
  if (!request.all) STRATA_TRY(CheckOwned(request.stream));
  return local_->Subscribe(std::move(request), std::move(handler));
}

}  // namespace strata::router
