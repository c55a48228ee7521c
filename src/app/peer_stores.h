// PeerStores: router::Peers over client::RemoteStore, one connection per member address,
// opened on first use and kept (gRPC reconnects it when the member restarts); a member that
// cannot be reached is not tried again for a second. Its calls carry the forwarding marker
// (their :authority is server::kForwardedAuthority), so the member they reach serves them itself or
// refuses them, and never forwards them again.
//
// Thread-safety: StoreOf from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/remote_store.h"
#include "router/router.h"

namespace strata::app {

class PeerStores final : public router::Peers {
 public:
  explicit PeerStores(std::string self) : self_(std::move(self)) {}
  ~PeerStores() override;
  Result<Store*> StoreOf(const router::MemberAddress& member) override;

 private:
  const std::string self_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<client::RemoteStore>> stores_;         // by address
  std::map<std::string, std::chrono::steady_clock::time_point> failed_until_;  // by address
};

}  // namespace strata::app
