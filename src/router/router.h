// Router: the Store every request goes through on its way to a shard. A stream's requests
// (append, delete, read, subscribe) go to the partition PartitionOf(stream) (model/partition.h)
// and are served here only when this node owns it (Ownership); otherwise they fail with
// kNotOwner naming the owner, and nothing is written. $all and the $ce-/$et- index streams are
// views of the node's own log and pass through. One node owns everything today, so the router only
// checks; the cluster adds forwarding and the fencing of deposed owners behind the same seam.
//
// Thread-safety: as Store. The router borrows the store and the ownership; both outlive it.
#pragma once

#include "router/ownership.h"
#include "storage/store.h"

namespace strata::router {

class Router : public Store {
 public:
  Router(Store* local, Ownership* ownership) : local_(local), ownership_(ownership) {}

  void AppendAsync(AppendRequest request, AppendCallback done) override;
  Result<DeleteResult> Delete(DeleteRequest request) override;
  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override;
  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override {
    return local_->ReadAll(request);
  }
  Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) override;
  Position Watermark() const override { return local_->Watermark(); }
  Status Close() override { return local_->Close(); }

  // OkStatus when this node owns `stream`'s partition; else kNotOwner (or the ownership's
  // error), naming the stream, its partition and its owner.
  Status CheckOwned(std::string_view stream);

 private:
  Store* local_;
  Ownership* ownership_;
};

}  // namespace strata::router
