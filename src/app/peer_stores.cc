#include "app/peer_stores.h"

#include "server/grpc/streams_service.h"

namespace strata::app {

PeerStores::~PeerStores() {
  std::lock_guard lock(mu_);
  for (auto& [address, store] : stores_) IgnoreError(store->Close());
}

Result<Store*> PeerStores::StoreOf(const router::MemberAddress& member) {
  if (member.advertise.empty()) {
    return Error(ErrorCode::kUnavailable,
                 "member '" + member.node + "' has no address to forward to; retry shortly");
  }
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = stores_.find(member.advertise);
    if (it != stores_.end()) return it->second.get();
    // A member that just refused a connection is not tried again at once: every request for its
    // partitions would wait for the connect timeout.
    auto failed = failed_until_.find(member.advertise);
    if (failed != failed_until_.end() && now < failed->second) {
      return Error(ErrorCode::kUnavailable, "cannot forward to member '" + member.node + "' at " +
                                                member.advertise +
                                                ": it did not answer a moment ago; retry shortly");
    }
  }
  // Connect without the lock: forwarding to the other members goes on meanwhile.
  client::RemoteOptions o;
  o.target = member.advertise;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.forwarded_by = std::string(server::kForwardedAuthority);
  auto store = client::ConnectStore(o);
  std::lock_guard lock(mu_);
  if (!store) {
    failed_until_[member.advertise] = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    return Error(ErrorCode::kUnavailable, "cannot forward to member '" + member.node + "' at " +
                                              member.advertise + ": " + store.error().message());
  }
  // try_emplace leaves `store` alone when another thread connected first.
  auto [it, added] = stores_.try_emplace(member.advertise, std::move(*store));
  if (!added) IgnoreError((*store)->Close());
  return it->second.get();
}

}  // namespace strata::app
