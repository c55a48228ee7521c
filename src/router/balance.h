// PlanBalance: one round of the balancer (docs/cluster.md, "Ownership protocol"): which
// partitions get a new desired owner. A pure function of the cluster's state, so it is tested
// without etcd.
//
// A partition with no live owner gets one at once (its writes wait for it). Every other change
// is bounded: at most max_moves partitions per round leave a live owner, whether to even out the
// load (a join) or to empty a draining member, so a rebalance is gradual and never stalls the
// partitions that stay put. A partition that is already moving (desired by one member, owned by
// another) is not moved again. A partition that holds data (ClusterView::written) is never moved
// to even out the load: it stays with the member whose store holds it. When that member is
// down and its object store is known (ClusterView::stores), the partition goes to the least
// loaded member at once, which takes it over from there (docs/cluster.md, "Failover"); else it
// waits for the member to return.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "router/cluster_view.h"

namespace strata::router {

struct BalanceOptions {
  uint32_t max_moves = 4;  // partitions taken from live owners per round
};

// The partitions whose desired owner changes, and to whom. `stuck[p]` (may be empty) marks a
// partition that has had no owner for too long with its desired owner: it is given to another.
std::map<uint32_t, std::string> PlanBalance(const ClusterView& view, const BalanceOptions& options,
                                            const std::vector<bool>& stuck = {});

}  // namespace strata::router
