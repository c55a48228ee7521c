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
  std::lock_guard lock(mu_);
  auto it = stores_.find(member.advertise);
  if (it != stores_.end()) return it->second.get();
  client::RemoteOptions o;
  o.target = member.advertise;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.user_agent = std::string(server::kForwardedUserAgent) + "/" + self_;
  auto store = client::ConnectStore(o);
  if (!store) {
    return Error(ErrorCode::kUnavailable, "cannot forward to member '" + member.node + "' at " +
                                              member.advertise + ": " + store.error().message());
  }
  Store* out = store->get();
  stores_.emplace(member.advertise, std::move(*store));
  return out;
}

}  // namespace strata::app
