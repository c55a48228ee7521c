// The balancer's rounds as a specification: orphans move at once, everything else gradually.
#include "router/balance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

namespace strata::router {
namespace {

constexpr uint32_t kPartitions = 64;

ClusterView EmptyView() {
  ClusterView v;
  v.owners.resize(kPartitions);
  v.desired.resize(kPartitions);
  v.written.resize(kPartitions);
  return v;
}

void AddMember(ClusterView& v, const std::string& id, std::string_view role = kRoleData) {
  v.members[id] = MemberInfo{id, id + ":2113", std::string(role), 0, 1};
}

// What the members do between rounds: every desired owner that is live takes its partition
// (the old owner released it).
void Settle(ClusterView& v) {
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (!v.desired[p].empty() && v.IsLive(v.desired[p])) {
      v.owners[p] = PartitionOwner{v.desired[p], 100 + p, 0, 1};
    }
  }
}

std::map<std::string, uint32_t> Owned(const ClusterView& v) {
  std::map<std::string, uint32_t> out;
  for (const auto& o : v.owners) {
    if (o) ++out[o->node];
  }
  return out;
}

void Apply(ClusterView& v, const std::map<uint32_t, std::string>& changes) {
  for (const auto& [p, node] : changes) v.desired[p] = node;
}

TEST(Balance, TheFirstMemberGetsEveryPartitionAtOnce) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  auto changes = PlanBalance(v, BalanceOptions{4});
  EXPECT_EQ(changes.size(), kPartitions);  // orphans are not bounded by max_moves
  for (const auto& [p, node] : changes) EXPECT_EQ(node, "a");
}

TEST(Balance, AJoinTakesPartitionsGraduallyUntilEven) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  Apply(v, PlanBalance(v, {}));
  Settle(v);
  AddMember(v, "b");
  int rounds = 0;
  while (true) {
    auto changes = PlanBalance(v, BalanceOptions{4});
    if (changes.empty()) break;
    EXPECT_LE(changes.size(), 4u) << "round " << rounds;
    for (const auto& [p, node] : changes) EXPECT_EQ(node, "b");
    Apply(v, changes);
    Settle(v);
    ASSERT_LT(++rounds, 100);
  }
  EXPECT_EQ(rounds, 8);
  EXPECT_EQ(Owned(v)["a"], 32u);
  EXPECT_EQ(Owned(v)["b"], 32u);
}

TEST(Balance, ADeadMembersPartitionsMoveInOneRoundAndEvenly) {
  ClusterView v = EmptyView();
  for (const char* id : {"a", "b", "c"}) AddMember(v, id);
  for (int round = 0; round < 40; ++round) {
    Apply(v, PlanBalance(v, {}));
    Settle(v);
  }
  ASSERT_TRUE(PlanBalance(v, {}).empty());
  const uint32_t c_had = Owned(v)["c"];
  ASSERT_GE(c_had, 21u);
  v.members.erase("c");  // its lease expired: its owner keys went with it
  for (auto& o : v.owners) {
    if (o && o->node == "c") o.reset();
  }
  auto changes = PlanBalance(v, BalanceOptions{4});
  EXPECT_EQ(changes.size(), c_had);
  Apply(v, changes);
  Settle(v);
  EXPECT_EQ(Owned(v)["a"], 32u);
  EXPECT_EQ(Owned(v)["b"], 32u);
}

TEST(Balance, ADrainingMemberIsEmptiedGraduallyAndRoutersGetNothing) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  AddMember(v, "b");
  AddMember(v, "edge", kRoleRouter);
  for (int round = 0; round < 40; ++round) {
    Apply(v, PlanBalance(v, {}));
    Settle(v);
  }
  EXPECT_EQ(Owned(v).count("edge"), 0u);
  v.draining.insert("b");
  int rounds = 0;
  while (Owned(v)["b"] > 0) {
    auto changes = PlanBalance(v, BalanceOptions{4});
    ASSERT_FALSE(changes.empty());
    EXPECT_LE(changes.size(), 4u);
    Apply(v, changes);
    Settle(v);
    ASSERT_LT(++rounds, 100);
  }
  EXPECT_EQ(rounds, 8);
  EXPECT_EQ(Owned(v)["a"], kPartitions);
}

TEST(Balance, APartitionThatIsMovingIsNotMovedAgain) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  Apply(v, PlanBalance(v, {}));
  Settle(v);
  AddMember(v, "b");
  auto first = PlanBalance(v, BalanceOptions{4});
  ASSERT_EQ(first.size(), 4u);
  Apply(v, first);  // not settled: b has not taken them yet
  AddMember(v, "c");
  auto second = PlanBalance(v, BalanceOptions{4});
  for (const auto& [p, node] : second) {
    EXPECT_EQ(first.count(p), 0u) << "partition " << p << " was moved again while moving";
  }
}

TEST(Balance, AStuckPartitionGoesToAnotherMember) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  AddMember(v, "b");
  v.desired[5] = "b";  // b is live but never takes it
  std::vector<bool> stuck(kPartitions, false);
  stuck[5] = true;
  auto changes = PlanBalance(v, BalanceOptions{4}, stuck);
  ASSERT_EQ(changes.count(5), 1u);
  EXPECT_EQ(changes[5], "a");
}

TEST(Balance, APartitionWithDataStaysWithTheNodeThatWroteItEvenWhenItIsDown) {
  ClusterView v = EmptyView();
  AddMember(v, "a");
  Apply(v, PlanBalance(v, {}));
  Settle(v);
  for (uint32_t p = 0; p < 10; ++p) v.written[p] = "a";  // a wrote to partitions 0..9
  AddMember(v, "b");
  for (int round = 0; round < 40; ++round) {
    Apply(v, PlanBalance(v, BalanceOptions{4}));
    Settle(v);
  }
  for (uint32_t p = 0; p < 10; ++p) EXPECT_EQ(v.owners[p]->node, "a") << p;
  EXPECT_EQ(Owned(v)["a"], 32u);  // the even split counts the pinned partitions
  // a dies: its written partitions wait for it; its empty ones move at once.
  v.members.erase("a");
  for (auto& o : v.owners) {
    if (o && o->node == "a") o.reset();
  }
  auto changes = PlanBalance(v, BalanceOptions{4});
  for (uint32_t p = 0; p < 10; ++p) EXPECT_EQ(changes.count(p), 0u) << p;
  EXPECT_EQ(changes.size(), 22u);
  // Draining a does not move them either; a back takes them again.
  AddMember(v, "a");
  v.draining.insert("a");
  Apply(v, PlanBalance(v, BalanceOptions{4}));
  Settle(v);
  for (uint32_t p = 0; p < 10; ++p) EXPECT_EQ(v.desired[p], "a") << p;
}

TEST(Balance, ADeadWritersPartitionsGoToTheSurvivorsWhenItsObjectStoreIsKnown) {
  ClusterView v = EmptyView();
  v.written_rev.resize(kPartitions);
  AddMember(v, "a");
  AddMember(v, "b");
  AddMember(v, "c");
  for (int round = 0; round < 40; ++round) {
    Apply(v, PlanBalance(v, BalanceOptions{4}));
    Settle(v);
  }
  std::vector<uint32_t> of_a;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (v.owners[p]->node == "a" && of_a.size() < 10) {
      of_a.push_back(p);
      v.written[p] = "a";
    }
  }
  v.stores["a"] = "s3://bucket/a";
  v.members.erase("a");
  for (auto& o : v.owners) {
    if (o && o->node == "a") o.reset();
  }
  // Every partition of a's goes in one round: the written ones to be taken over, evenly.
  auto changes = PlanBalance(v, BalanceOptions{4});
  std::map<std::string, int> written_to;
  for (uint32_t p : of_a) {
    ASSERT_EQ(changes.count(p), 1u) << p;
    ++written_to[changes[p]];
  }
  EXPECT_EQ(written_to["b"] + written_to["c"], 10);
  EXPECT_LE(std::abs(written_to["b"] - written_to["c"]), 2);
  // While the chosen member takes one over (it holds the owner key), it keeps it.
  Apply(v, changes);
  Settle(v);
  EXPECT_TRUE(PlanBalance(v, BalanceOptions{4}).empty());
  // Once taken over it is the new writer's, and stays there when a returns.
  for (uint32_t p : of_a) v.written[p] = v.owners[p]->node;
  AddMember(v, "a");
  for (int round = 0; round < 40; ++round) {
    Apply(v, PlanBalance(v, BalanceOptions{4}));
    Settle(v);
  }
  for (uint32_t p : of_a) EXPECT_EQ(v.owners[p]->node, v.written[p]) << p;
  // Without a known object store nothing is taken over (the older rule).
  ClusterView w = v;
  for (uint32_t p : of_a) w.written[p] = "gone";
  for (auto& o : w.owners) {
    if (o && w.written[&o - &w.owners[0]] == "gone") o.reset();
  }
  auto none = PlanBalance(w, BalanceOptions{4});
  for (uint32_t p : of_a) EXPECT_EQ(none.count(p), 0u) << p;
}

}  // namespace
}  // namespace strata::router
