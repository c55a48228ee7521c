// ClusterView: the cluster's state as etcd holds it (docs/cluster.md, "etcd keys"), read in one
// range request, and the key names. Every member reads it; only the helpers here know how keys
// and values are spelled.
//
// Thread-safety: plain values; ReadClusterView may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "router/etcd/etcd_client.h"

namespace strata::router {

inline constexpr std::string_view kRoleData = "data";
inline constexpr std::string_view kRoleRouter = "router";

struct MemberInfo {
  std::string id;
  std::string advertise;  // host:port of its gRPC API
  std::string role;       // kRoleData or kRoleRouter
  int64_t started_us = 0;
  int64_t lease = 0;
};

struct PartitionOwner {
  std::string node;
  int64_t token = 0;     // fencing token: the revision of the transaction that made this owner
  int64_t since_us = 0;  // when it took the partition (its clock)
  int64_t lease = 0;
};

struct ClusterView {
  int64_t revision = 0;  // etcd's revision when the view was read
  std::map<std::string, MemberInfo> members;
  std::string balancer;                               // the member that balances, or empty
  int64_t balancer_rev = 0;                           // mod_revision of the balancer key
  std::vector<std::optional<PartitionOwner>> owners;  // by partition; nullopt: no owner now
  std::vector<std::string> desired;                   // by partition; empty: none written
  // By partition: the member whose store holds its events (empty: none yet), and the key's
  // mod_revision. A written partition stays with that member while it lives; when it dies, a
  // survivor takes the partition over from its object store (docs/cluster.md, "Failover").
  std::vector<std::string> written;
  std::vector<int64_t> written_rev;
  // By member (live or not): the object store its store writes (its --cold URL), where a
  // survivor reads the partitions it held. Absent: they cannot be taken over.
  std::map<std::string, std::string> stores;
  std::set<std::string> draining;  // node ids being drained

  bool IsLive(const std::string& node) const { return members.count(node) > 0; }
  // A written partition whose member is down and whose events a survivor can read.
  bool CanTakeOver(uint32_t partition) const;
  // A live data member that is not draining: may be given partitions.
  bool IsEligible(const std::string& node) const;
};

// Key names under /strata/<cluster>/.
class ClusterKeys {
 public:
  explicit ClusterKeys(const std::string& cluster) : root_("/strata/" + cluster + "/") {}
  const std::string& root() const { return root_; }
  std::string member(const std::string& id) const { return root_ + "members/" + id; }
  std::string balancer() const { return root_ + "balancer"; }
  std::string owner(uint32_t partition) const { return root_ + "owners/" + Number(partition); }
  std::string desired(uint32_t partition) const { return root_ + "desired/" + Number(partition); }
  std::string drain(const std::string& id) const { return root_ + "drain/" + id; }
  std::string written(uint32_t partition) const { return root_ + "written/" + Number(partition); }
  std::string store(const std::string& id) const { return root_ + "stores/" + id; }

 private:
  static std::string Number(uint32_t p);
  std::string root_;
};

std::string EncodeMember(const MemberInfo& m);
std::string EncodeOwner(const PartitionOwner& o);
std::string EncodeStore(const std::string& cold_url);

// Reads every key of the cluster in one request. Values it cannot parse are logged and read
// as what is safe: a member without an address, an owner named "?" (so nobody takes the
// partition before that key's lease expires).
Result<ClusterView> ReadClusterView(etcd::EtcdClient& etcd, const ClusterKeys& keys,
                                    uint32_t partitions);

}  // namespace strata::router
