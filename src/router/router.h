// Router: the Store every request goes through on its way to a shard. A stream's requests
// (append, delete, read, subscribe) belong to the partition PartitionOf(stream)
// (model/partition.h). When this node owns it (Ownership), the request is served here; else it
// is forwarded to the owner through Peers, or, without peers (a single node, or a request that
// was itself forwarded here), it fails with kNotOwner naming the owner, and nothing is written.
// $all and the $ce-/$et- index streams are views of the node's own log and pass through (one
// $all for the whole cluster is a later step: docs/cluster.md).
//
// Fencing: when ownership may change (a cluster), an append or delete served here is
// acknowledged only if this node still holds the partition, under the same fencing token, once
// the write is durable; otherwise the caller gets kNotOwner saying the outcome is unknown (a
// retry with the same event ids is deduplicated).
//
// Thread-safety: as Store. The router borrows the store, the ownership and the peers; they
// outlive it.
#pragma once

#include <atomic>
#include <chrono>

#include "router/ownership.h"
#include "storage/store.h"

namespace strata::router {

// The other members' Stores, for forwarding (app::Server implements it over client::RemoteStore,
// marking its calls as forwarded so that the owner does not forward them again).
class Peers {
 public:
  virtual ~Peers() = default;
  // A Store that reaches `member`, or kUnavailable. Valid until the Peers object goes.
  virtual Result<Store*> StoreOf(const MemberAddress& member) = 0;
};

// What a cluster member's router did (counted only when ownership may change: a single node's
// router counts nothing, so its append path is as it was).
struct RouterStats {
  uint64_t served_appends = 0;  // appends served by this member as the owner
  uint64_t forwarded_appends = 0, forwarded_deletes = 0, forwarded_reads = 0,
           forwarded_subscriptions = 0;
  uint64_t unknown_outcomes = 0;  // writes not acknowledged: the partition changed hands
  uint64_t move_waits = 0;        // requests that waited for a partition's new owner
};

class Router : public Store {
 public:
  Router(Store* local, Ownership* ownership, Peers* peers = nullptr)
      : local_(local), ownership_(ownership), peers_(peers) {}

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

  // Where a stream's requests go: here (with the lease they are served under), or a peer.
  struct Route {
    uint32_t partition = 0;
    Lease lease;              // the owner's
    Store* remote = nullptr;  // set when the owner is another node
  };
  // kNotOwner (naming the owner) when another node owns it and there is no way to forward; the
  // ownership's error (kUnavailable) when nobody has owned it for kMoveWait (a partition being
  // moved has no owner for a moment; the calling thread waits that long at most).
  Result<Route> RouteOf(std::string_view stream);
  static constexpr std::chrono::milliseconds kMoveWait{1500};

  RouterStats Stats() const;

 private:
  Error LostOwnership(const Route& route, std::string_view stream) const;

  void Count(std::atomic<uint64_t>& counter) {
    if (ownership_->MayChange()) counter.fetch_add(1, std::memory_order_relaxed);
  }

  Store* local_;
  Ownership* ownership_;
  Peers* peers_;
  std::atomic<uint64_t> served_appends_{0}, forwarded_appends_{0}, forwarded_deletes_{0},
      forwarded_reads_{0}, forwarded_subscriptions_{0}, unknown_outcomes_{0}, move_waits_{0};
};

}  // namespace strata::router
