// Ownership through etcd failures, on an etcd cluster of its own (three members started with
// scripts/etcd.sh, so killing them disturbs no other test): the leader killed, then all of etcd
// unavailable (every member paused) for longer than the lease.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "router/cluster_ownership.h"
#include "router/tests/etcd_test_env.h"

namespace strata::router {
namespace {

using namespace std::chrono_literals;
using strata::router::testing::Client;
using Clock = std::chrono::steady_clock;
constexpr uint32_t kPartitions = 64;

// A three-member etcd in a temporary directory, stopped and removed on destruction.
class OwnEtcd {
 public:
  OwnEtcd() {
    const char* script = std::getenv("STRATA_TEST_ETCD_SCRIPT");
    if (!script) return;
    script_ = script;
    char tmpl[] = "/tmp/strata-etcd-outage.XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir_ = tmpl;
    if (Run("start " + dir_ + " 3") != 0) return;
    std::ifstream env(dir_ + "/env");
    std::string line;
    std::getline(env, line);  // export STRATA_ETCD=etcd://...
    auto eps = etcd::ParseEtcdUrl(line.substr(line.find('=') + 1));
    if (eps) endpoints_ = *eps;
  }
  ~OwnEtcd() {
    if (dir_.empty()) return;
    Run("stop " + dir_);
    std::system(("rm -rf " + dir_).c_str());
  }
  int Run(const std::string& args) {
    return std::system(("bash " + script_ + " " + args + " > /dev/null").c_str());
  }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string script_, dir_;
  std::vector<std::string> endpoints_;
};

#define STRATA_REQUIRE_OWN_ETCD(e)                                                       \
  if ((e).endpoints().empty()) {                                                         \
    GTEST_SKIP() << "cannot start an etcd of its own: STRATA_TEST_ETCD_SCRIPT is unset " \
                    "(scripts/test.sh sets it to scripts/etcd.sh) or the start failed";  \
  }

std::unique_ptr<ClusterOwnership> Node(const std::vector<std::string>& eps, const std::string& id,
                                       std::chrono::seconds ttl) {
  ClusterOptions o;
  o.cluster = "outage";
  o.node_id = id;
  o.advertise = "127.0.0.1:1";
  o.lease_ttl = ttl;
  o.tick = 100ms;
  o.balance_every = 200ms;
  o.balance.max_moves = 64;
  auto n = ClusterOwnership::Join(o, Client(eps, 1000ms));
  EXPECT_TRUE(n) << n.error().ToString();
  return n ? std::move(*n) : nullptr;
}

uint32_t ServedBy(ClusterOwnership& n) {
  uint32_t c = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto l = n.OwnerOf(p);
    c += l && l->node == n.self() ? 1 : 0;
  }
  return c;
}

// Every partition served by exactly one node, checked in rounds; returns false on an overlap.
bool ServedOnce(const std::vector<ClusterOwnership*>& nodes, bool* overlap) {
  std::vector<int> count(kPartitions, 0);
  for (auto* n : nodes) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      auto l = n->OwnerOf(p);
      count[p] += l && l->node == n->self() ? 1 : 0;
    }
  }
  bool all = true;
  for (int c : count) {
    if (c > 1) *overlap = true;
    if (c != 1) all = false;
  }
  return all;
}

TEST(EtcdOutage, KillingTheEtcdLeaderMovesNoPartitionAndLosesNoLease) {
  OwnEtcd etcd;
  STRATA_REQUIRE_OWN_ETCD(etcd);
  auto a = Node(etcd.endpoints(), "a", 10s), b = Node(etcd.endpoints(), "b", 10s),
       c = Node(etcd.endpoints(), "c", 10s);
  ASSERT_TRUE(a && b && c);
  std::vector<ClusterOwnership*> nodes{a.get(), b.get(), c.get()};
  bool overlap = false;
  auto deadline = Clock::now() + 15s;
  while (!ServedOnce(nodes, &overlap) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(ServedOnce(nodes, &overlap));
  std::this_thread::sleep_for(1s);
  std::vector<uint64_t> tokens(kPartitions);
  for (uint32_t p = 0; p < kPartitions; ++p) tokens[p] = a->OwnerOf(p)->fencing_token;

  ASSERT_EQ(etcd.Run("kill-leader " + etcd.dir()), 0);
  // Through the election and well past it: every partition stays served, by the same owner.
  const auto until = Clock::now() + 12s;
  int gaps = 0;
  while (Clock::now() < until) {
    if (!ServedOnce(nodes, &overlap)) ++gaps;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(overlap);
  EXPECT_EQ(gaps, 0) << "some partition went unserved while etcd elected a new leader";
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto l = a->OwnerOf(p);
    ASSERT_TRUE(l) << l.error().ToString();
    EXPECT_EQ(l->fencing_token, tokens[p]) << "partition " << p << " changed hands";
  }
  for (auto* n : nodes) EXPECT_EQ(n->Stats().lost, 0u) << n->self();
}

TEST(EtcdOutage, WithAllOfEtcdUnavailableOwnersServeWhileTheirLeasesHoldThenStopThenResume) {
  OwnEtcd etcd;
  STRATA_REQUIRE_OWN_ETCD(etcd);
  // Long enough that stopping the three members (about a second each under load) ends well
  // inside the leases, so "serving goes on while the leases hold" is seen.
  const auto ttl = 12s;
  auto a = Node(etcd.endpoints(), "a", ttl), b = Node(etcd.endpoints(), "b", ttl);
  ASSERT_TRUE(a && b);
  std::vector<ClusterOwnership*> nodes{a.get(), b.get()};
  bool overlap = false;
  auto deadline = Clock::now() + 15s;
  while (!ServedOnce(nodes, &overlap) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(ServedOnce(nodes, &overlap));

  // All of etcd stops answering at once (SIGSTOP: calls hang, as behind a partition). No
  // renewal can reach it after this: every lease expires in etcd within one TTL.
  ASSERT_EQ(etcd.Run("pause " + etcd.dir()), 0);
  const auto down = Clock::now();
  // Serving goes on for a while (the leases hold), then stops everywhere before one TTL passed.
  bool served_after_down = ServedBy(*a) + ServedBy(*b) == kPartitions;
  std::chrono::milliseconds stopped_after{-1};
  while (Clock::now() - down < ttl + 2s) {
    const uint32_t served = ServedBy(*a) + ServedBy(*b);
    if (served == 0 && stopped_after.count() < 0) {
      stopped_after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - down);
    }
    if (stopped_after.count() >= 0) {
      EXPECT_EQ(served, 0u) << "serving resumed without etcd";
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served_after_down);
  ASSERT_GE(stopped_after.count(), 0) << "nodes went on serving with etcd down";
  EXPECT_LT(stopped_after, ttl) << "a node served after its lease could have expired";
  std::printf("with etcd down, serving stopped after %lld ms (TTL %lld s)\n",
              static_cast<long long>(stopped_after.count()), static_cast<long long>(ttl.count()));
  auto err = a->OwnerOf(0);
  if (!err) {
    EXPECT_EQ(err.error().code(), ErrorCode::kUnavailable);
  } else {
    EXPECT_NE(err->node, a->self());
  }

  ASSERT_EQ(etcd.Run("resume " + etcd.dir()), 0);
  // etcd finds the leases expired and revokes them; the nodes rejoin and take their share again.
  const auto restarted = Clock::now();
  deadline = restarted + 60s;
  while (!ServedOnce(nodes, &overlap) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(ServedOnce(nodes, &overlap)) << "ownership did not come back with etcd";
  EXPECT_FALSE(overlap);
  std::printf(
      "every partition served again %lld ms after etcd answered again\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted).count()));
}

}  // namespace
}  // namespace strata::router
