#include "router/balance.h"

#include <algorithm>

namespace strata::router {

namespace {
struct Plan {
  std::vector<std::string> eligible;  // in id order
  std::vector<std::string> assigned;  // by partition; empty: needs an owner
  std::map<std::string, uint32_t> load;

  // The least loaded member, other than `avoid` when there is another.
  const std::string& Least(const std::string& avoid = {}) const {
    const std::string* best = nullptr;
    for (const auto& n : eligible) {
      if (n == avoid && eligible.size() > 1) continue;
      if (!best || load.at(n) < load.at(*best)) best = &n;
    }
    return *best;
  }
  const std::string& Most() const {
    const std::string* best = &eligible.front();
    for (const auto& n : eligible) {
      if (load.at(n) > load.at(*best)) best = &n;
    }
    return *best;
  }
  void Assign(uint32_t p, const std::string& node) {
    if (!assigned[p].empty()) --load[assigned[p]];
    assigned[p] = node;
    ++load[node];
  }
};
// A partition with data stays with the member whose store holds it (docs/cluster.md): while
// that member is a live data member, draining or not. When it is down and its object store is
// known, a survivor takes the partition over from there: the one chosen keeps it while it works
// (it holds the owner key) unless it gives up; else it is a takeover to assign. Otherwise it
// waits, untouched, for its member.
void KeepWritten(const ClusterView& view, uint32_t p, bool is_stuck, Plan& plan,
                 std::vector<uint32_t>& takeovers, std::map<uint32_t, std::string>& pin_changes) {
  const std::string& w = view.written[p];
  const std::string& d = view.desired[p];
  auto it = view.members.find(w);
  if (it != view.members.end() && it->second.role == kRoleData) {
    if (plan.load.count(w)) ++plan.load[w];
    if (d != w) pin_changes[p] = w;
  } else if (view.CanTakeOver(p)) {
    if (!d.empty() && d != w && view.IsEligible(d) && !is_stuck) {
      plan.Assign(p, d);
    } else {
      takeovers.push_back(p);
    }
  }
}

}  // namespace

std::map<uint32_t, std::string> PlanBalance(const ClusterView& view, const BalanceOptions& options,
                                            const std::vector<bool>& stuck) {
  const uint32_t partitions = static_cast<uint32_t>(view.owners.size());
  Plan plan;
  for (const auto& [id, m] : view.members) {
    if (view.IsEligible(id)) plan.eligible.push_back(id);
  }
  if (plan.eligible.empty()) return {};
  for (const auto& n : plan.eligible) plan.load[n] = 0;
  plan.assigned.resize(partitions);
  // Keep what is wanted and possible: the desired owner, else the current one.
  std::vector<uint32_t> orphans, leaving;  // no live owner; a live owner that may not keep it
  std::vector<uint32_t> takeovers;         // written by a member that is down
  std::vector<bool> pinned(partitions, false);
  std::map<uint32_t, std::string> pin_changes;
  for (uint32_t p = 0; p < partitions; ++p) {
    const std::string& d = view.desired[p];
    const bool is_stuck = p < stuck.size() && stuck[p];
    if (p < view.written.size() && !view.written[p].empty()) {
      pinned[p] = true;
      KeepWritten(view, p, is_stuck, plan, takeovers, pin_changes);
      continue;
    }
    const std::string owner = view.owners[p] ? view.owners[p]->node : std::string();
    if (!d.empty() && view.IsEligible(d) && !is_stuck) {
      plan.Assign(p, d);
    } else if (!owner.empty() && view.IsEligible(owner)) {
      plan.Assign(p, owner);
    } else if (!owner.empty() && view.IsLive(owner)) {
      leaving.push_back(p);
    } else {
      orphans.push_back(p);
    }
  }
  for (uint32_t p : orphans) {
    const bool is_stuck = p < stuck.size() && stuck[p];
    plan.Assign(p, plan.Least(is_stuck ? view.desired[p] : std::string()));
  }
  for (uint32_t p : takeovers) {
    const bool is_stuck = p < stuck.size() && stuck[p];
    plan.Assign(p, plan.Least(is_stuck ? view.desired[p] : std::string()));
    if (plan.assigned[p] != view.desired[p]) pin_changes[p] = plan.assigned[p];
  }
  uint32_t moves = 0;
  for (uint32_t p : leaving) {
    if (moves == options.max_moves) break;
    plan.Assign(p, plan.Least());
    ++moves;
  }
  // Even out the load with settled partitions (owned and desired by the same member).
  while (moves < options.max_moves) {
    const std::string most = plan.Most(), least = plan.Least();
    if (plan.load[most] <= plan.load[least] + 1) break;
    uint32_t pick = partitions;
    for (uint32_t p = 0; p < partitions && pick == partitions; ++p) {
      const bool settled = view.owners[p] && view.owners[p]->node == most &&
                           (view.desired[p].empty() || view.desired[p] == most);
      if (plan.assigned[p] == most && settled && !pinned[p]) pick = p;
    }
    if (pick == partitions) break;
    plan.Assign(pick, least);
    ++moves;
  }
  std::map<uint32_t, std::string> changes = pin_changes;
  for (uint32_t p = 0; p < partitions; ++p) {
    if (pinned[p]) continue;
    if (!plan.assigned[p].empty() && plan.assigned[p] != view.desired[p]) {
      changes[p] = plan.assigned[p];
    }
  }
  return changes;
}

}  // namespace strata::router
