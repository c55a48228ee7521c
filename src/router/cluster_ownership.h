// ClusterOwnership: partition ownership in a cluster, on etcd (docs/cluster.md, "Ownership
// protocol"). The node joins with a lease it keeps alive, takes the partitions the balancer
// wants it to have with one transaction each (the transaction's revision is the fencing token),
// gives up the ones wanted elsewhere, and, when it holds `balancer`, plans the rounds itself
// (PlanBalance).
//
// The safety rule: the node treats its lease as valid only until the moment the last successful
// renewal was *sent* plus the TTL minus a margin. etcd counts the TTL from when it received the
// renewal, which is later, so this node stops serving its partitions before etcd can let another
// node take them. Holds() is the check an append makes after it is durable and before it is
// acknowledged.
//
// Threads: one background thread (Start .. Stop) renews the lease, reads the cluster's keys every
// tick, balances and acquires/releases; OwnerOf, Holds, Members and View may be called from any
// thread (they read a snapshot under a mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "router/balance.h"
#include "router/cluster_view.h"
#include "router/etcd/etcd_client.h"
#include "router/ownership.h"

namespace strata::router {

struct ClusterOptions {
  std::string cluster = "strata";  // etcd keys live under /strata/<cluster>/
  std::string node_id;
  std::string advertise;  // host:port clients and other nodes reach this node's gRPC API at
  std::string role = std::string(kRoleData);
  std::chrono::seconds lease_ttl{10};
  std::chrono::milliseconds tick{250};            // how often the cluster's keys are read
  std::chrono::milliseconds balance_every{1000};  // the balancer's round
  uint32_t partitions = 64;
  BalanceOptions balance;
};

// Counters for /metrics and `strata cluster status`.
struct OwnershipStats {
  uint64_t acquired = 0, released = 0, lost = 0;  // partitions taken, given up, lost with a lease
  uint64_t renew_failures = 0;
  uint32_t owned = 0;  // partitions served now (none while the lease is not valid)
  bool lease_valid = false;
  bool balancer = false;
};

class ClusterOwnership final : public Ownership {
 public:
  // Joins: grants a lease and registers the member. When a member with this id is still live
  // (a previous process whose lease has not expired yet), waits for it to go for up to one TTL,
  // then fails with kConflict.
  static Result<std::unique_ptr<ClusterOwnership>> Join(ClusterOptions options,
                                                        std::unique_ptr<etcd::EtcdClient> etcd);
  ~ClusterOwnership() override;
  // Leaves: gives up every partition, deletes the member key and revokes the lease, so the
  // others take over at once rather than after the TTL. Idempotent.
  void Leave();

  const std::string& self() const override { return options_.node_id; }
  uint32_t partitions() const override { return options_.partitions; }
  // The owner as of the last tick. This node's own partitions count only while its lease is
  // valid; a partition with no owner is kUnavailable (it is moving: retry shortly).
  Result<Lease> OwnerOf(uint32_t partition) override;
  // True when this node owns `partition` under `token` now, with a valid lease.
  bool Holds(uint32_t partition, uint64_t token) const override;
  // Records `written/<p>` = this node in etcd (once per partition and process): the partition
  // then stays with this node (docs/cluster.md). kConflict if another node wrote it first.
  Status BeforeFirstWrite(uint32_t partition) override;
  std::vector<MemberAddress> Members() const override;
  bool MayChange() const override { return true; }

  // The last view read from etcd.
  ClusterView View() const;
  OwnershipStats Stats() const;

  // Fault injection (tests only): the node can no longer reach etcd (no renewal, no read, no
  // transaction) but goes on serving as if nothing happened, as a partitioned or paused node
  // would; only its own lease arithmetic can stop it.
  void CutOffFromEtcdForTest(bool cut) { cut_off_.store(cut); }
  // Fault injection (tests only): stops the background thread without leaving, as a killed
  // process would; its keys stay until the lease expires in etcd. The object is dead after it.
  void CrashForTest();

 private:
  ClusterOwnership(ClusterOptions options, std::unique_ptr<etcd::EtcdClient> etcd);
  Status JoinOnce();
  void Run();
  void Tick();
  void Renew(std::chrono::steady_clock::time_point now);
  void Balance(const ClusterView& view);
  void AcquireAndRelease(const ClusterView& view);
  bool LeaseValid(std::chrono::steady_clock::time_point now) const;
  bool RecordedHere(uint32_t partition) const;

  const ClusterOptions options_;
  const ClusterKeys keys_;
  std::unique_ptr<etcd::EtcdClient> etcd_;

  mutable std::mutex mu_;
  ClusterView view_;             // GUARDED_BY(mu_)
  std::vector<int64_t> tokens_;  // by partition, 0: not ours. GUARDED_BY(mu_)
  std::vector<bool> recorded_;   // by partition: written/<p> names this node. GUARDED_BY(mu_)
  int64_t lease_ = 0;            // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point valid_until_;  // GUARDED_BY(mu_)
  OwnershipStats stats_;                               // GUARDED_BY(mu_)

  // Background thread only.
  std::chrono::steady_clock::time_point last_renew_, last_balance_, last_renew_warning_;
  std::vector<std::chrono::steady_clock::time_point> unowned_since_;

  std::atomic<bool> cut_off_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // GUARDED_BY(stop_mu_)
  bool left_ = false;
  std::thread thread_;
};

}  // namespace strata::router
