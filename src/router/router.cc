#include "router/router.h"

#include <chrono>
#include <thread>

#include "model/partition.h"
#include "model/stream_name.h"

namespace strata::router {

Result<Router::Route> Router::RouteOf(std::string_view stream) {
  Route route;
  route.partition = PartitionOf(stream, ownership_->partitions());
  auto lease = ownership_->OwnerOf(route.partition);
  // A partition in the middle of a move has no owner for a moment (one release, one acquire):
  // wait for the new one rather than fail the request.
  const auto until = std::chrono::steady_clock::now() + kMoveWait;
  if (!lease && lease.error().code() == ErrorCode::kUnavailable) Count(move_waits_);
  while (!lease && lease.error().code() == ErrorCode::kUnavailable && ownership_->MayChange() &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    lease = ownership_->OwnerOf(route.partition);
  }
  if (!lease) return lease.error();
  route.lease = *lease;
  if (lease->node == ownership_->self()) return route;
  if (peers_) {
    for (const auto& m : ownership_->Members()) {
      if (m.node != lease->node) continue;
      auto peer = peers_->StoreOf(m);
      if (!peer) return peer.error();
      route.remote = *peer;
      return route;
    }
  }
  return Error(ErrorCode::kNotOwner, "stream '" + std::string(stream) + "' is in partition " +
                                         std::to_string(route.partition) + ", owned by node '" +
                                         lease->node + "' (this is '" + ownership_->self() +
                                         "'); send the request to that node");
}

RouterStats Router::Stats() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return {get(served_appends_),  get(forwarded_appends_),       get(forwarded_deletes_),
          get(forwarded_reads_), get(forwarded_subscriptions_), get(unknown_outcomes_),
          get(move_waits_)};
}

Error Router::LostOwnership(const Route& route, std::string_view stream) const {
  return Error(ErrorCode::kNotOwner,
               "node '" + ownership_->self() + "' lost partition " +
                   std::to_string(route.partition) + " (of stream '" + std::string(stream) +
                   "') while the write was in flight, so its outcome is unknown; retry it (an "
                   "append with the same event ids is not written twice)");
}

void Router::AppendAsync(AppendRequest request, AppendCallback done) {
  // $ce-/$et- index streams are views of the node's whole log, like $all: not partitioned.
  if (IsIndexStream(request.stream))
    return local_->AppendAsync(std::move(request), std::move(done));
  auto route = RouteOf(request.stream);
  if (!route) return done(route.error());
  if (route->remote) {
    Count(forwarded_appends_);
    return route->remote->AppendAsync(std::move(request), std::move(done));
  }
  if (!ownership_->MayChange()) return local_->AppendAsync(std::move(request), std::move(done));
  if (auto st = ownership_->BeforeFirstWrite(route->partition); !st) return done(st.error());
  Count(served_appends_);
  std::string stream = request.stream;
  local_->AppendAsync(std::move(request), [this, r = *route, stream = std::move(stream),
                                           done = std::move(done)](Result<AppendResult> result) {
    if (result && !ownership_->Holds(r.partition, r.lease.fencing_token)) {
      unknown_outcomes_.fetch_add(1, std::memory_order_relaxed);
      return done(LostOwnership(r, stream));
    }
    done(std::move(result));
  });
}

Result<DeleteResult> Router::Delete(DeleteRequest request) {
  if (IsIndexStream(request.stream)) return local_->Delete(std::move(request));
  auto route = RouteOf(request.stream);
  if (!route) return route.error();
  if (route->remote) {
    Count(forwarded_deletes_);
    return route->remote->Delete(std::move(request));
  }
  if (ownership_->MayChange()) STRATA_TRY(ownership_->BeforeFirstWrite(route->partition));
  std::string stream = request.stream;
  auto result = local_->Delete(std::move(request));
  if (result && ownership_->MayChange() &&
      !ownership_->Holds(route->partition, route->lease.fencing_token)) {
    unknown_outcomes_.fetch_add(1, std::memory_order_relaxed);
    return LostOwnership(*route, stream);
  }
  return result;
}

Result<ReadStreamResult> Router::ReadStream(const ReadStreamRequest& request) {
  if (IsIndexStream(request.stream)) return local_->ReadStream(request);
  auto route = RouteOf(request.stream);
  if (!route) return route.error();
  if (route->remote) {
    Count(forwarded_reads_);
    return route->remote->ReadStream(request);
  }
  return local_->ReadStream(request);
}

Result<std::unique_ptr<Subscription>> Router::Subscribe(
    SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) {
  if (request.all || IsIndexStream(request.stream)) {
    return local_->Subscribe(std::move(request), std::move(handler));
  }
  auto route = RouteOf(request.stream);
  if (!route) return route.error();
  if (route->remote) {
    Count(forwarded_subscriptions_);
    return route->remote->Subscribe(std::move(request), std::move(handler));
  }
  return local_->Subscribe(std::move(request), std::move(handler));
}

}  // namespace strata::router
