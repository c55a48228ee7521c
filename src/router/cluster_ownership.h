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
// Failover (docs/cluster.md, "Failover"): when a member that holds partitions dies, the balancer
// gives them to survivors. A survivor takes the owner key of such a partition (only once the dead
// member's key is gone from etcd), runs `take_over` to copy the partition's events from the dead
// member's object store into its own store, and only then records the partition as written by
// itself and serves it. Until then its requests are refused with kUnavailable.
//
// Threads: one background thread (Start .. Stop) renews the lease, reads the cluster's keys every
// tick, balances and acquires/releases; a second one runs the takeovers (they may take seconds);
// OwnerOf, Holds, Members and View may be called from any thread (they read a snapshot under a
// mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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

// Copies `partitions`' events from the store of `from` (a member that is down), which writes
// to the object store at `url`, into this node's store; true once every one of them is here.
using TakeOver = std::function<Status(const std::vector<uint32_t>& partitions,
                                      const std::string& from, const std::string& url)>;

struct ClusterOptions {
  std::string cluster = "strata";  // etcd keys live under /strata/<cluster>/
  std::string node_id;
  // The object store this member's store writes every acknowledged event to before it is
  // acknowledged (its --cold URL, with the object-store WAL), published as stores/<id> so that
  // survivors can take its partitions over when it dies. Empty: they wait for it to return.
  std::string cold_url;
  TakeOver take_over;     // null: this member takes no partition over
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
  uint64_t taken_over = 0, takeover_failures = 0;  // partitions taken over from dead members
  double last_takeover_seconds = 0;                // the last takeover's copy, start to end
  uint32_t taking_over = 0;                        // partitions being taken over now
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
  // Whether this member may try to take `partition` over now (it did not fail to lately).
  bool MayTakeOver(uint32_t partition) const;

  // Takeovers: partitions whose owner key this member holds while it copies their events.
  struct TakeOverJob {
    std::string from, url;
    std::vector<std::pair<uint32_t, int64_t>> partitions;  // with the owner key's token
  };
  void RunTakeOvers();
  void TakeOverOnce(const TakeOverJob& job);
  // Gives the job's partitions up (their owner keys go) after a failed copy.
  void AbandonTakeOver(const TakeOverJob& job, const Error& why);

  const ClusterOptions options_;
  const ClusterKeys keys_;
  std::unique_ptr<etcd::EtcdClient> etcd_;

  mutable std::mutex mu_;
  ClusterView view_;             // GUARDED_BY(mu_)
  std::vector<int64_t> tokens_;  // by partition, 0: not ours. GUARDED_BY(mu_)
  std::vector<bool> recorded_;   // by partition: written/<p> names this node. GUARDED_BY(mu_)
  // By partition: the token of the owner key held while taking it over (0: none). Such a
  // partition is not served (tokens_ stays 0) until its events are here. GUARDED_BY(mu_)
  std::vector<int64_t> taking_over_;
  std::vector<std::chrono::steady_clock::time_point> takeover_failed_;  // GUARDED_BY(mu_)
  int64_t lease_ = 0;                                                   // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point valid_until_;                   // GUARDED_BY(mu_)
  OwnershipStats stats_;                                                // GUARDED_BY(mu_)

  // Background thread only.
  std::chrono::steady_clock::time_point last_renew_, last_balance_, last_renew_warning_;
  std::vector<std::chrono::steady_clock::time_point> unowned_since_;

  std::atomic<bool> cut_off_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // GUARDED_BY(stop_mu_)
  bool left_ = false;
  std::deque<TakeOverJob> takeovers_;  // GUARDED_BY(stop_mu_)
  std::thread thread_;
  std::thread takeover_thread_;
};

}  // namespace strata::router
