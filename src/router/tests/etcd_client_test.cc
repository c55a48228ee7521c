// EtcdClient against a real etcd (scripts/etcd.sh).
#include "router/etcd/etcd_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "router/tests/etcd_test_env.h"

namespace strata::router::etcd {
namespace {

using strata::router::testing::Client;
using strata::router::testing::SharedEtcd;
using strata::router::testing::UniqueClusterName;

TEST(EtcdUrl, ParsesEndpointsAndExplainsMistakes) {
  auto ok = ParseEtcdUrl("etcd://127.0.0.1:2379,localhost:22379");
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(*ok, (std::vector<std::string>{"127.0.0.1:2379", "localhost:22379"}));
  for (const char* bad : {"http://127.0.0.1:2379", "etcd://", "etcd://host",
                          "etcd://host:", "etcd://host:12x", "etcd://:2379", "etcd://a:1,,b:2"}) {
    auto r = ParseEtcdUrl(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidConfig) << bad;
    EXPECT_NE(r.error().message().find("etcd://HOST:PORT"), std::string::npos) << bad;
  }
}

TEST(EtcdClient, PutGetPrefixAndDelete) {
  auto eps = SharedEtcd();
  STRATA_REQUIRE_ETCD(eps);
  auto etcd = Client(eps);
  const std::string root = "/test/" + UniqueClusterName("kv") + "/";
  auto r1 = etcd->Put(root + "a", "1");
  ASSERT_TRUE(r1) << r1.error().ToString();
  auto r2 = etcd->Put(root + "b", "2");
  ASSERT_TRUE(r2);
  EXPECT_GT(*r2, *r1);  // revisions only grow
  ASSERT_TRUE(etcd->Put(root + "b", "two"));
  ASSERT_TRUE(etcd->Put(root.substr(0, root.size() - 1) + "x", "outside"));  // not in the prefix

  int64_t rev = 0;
  auto all = etcd->GetPrefix(root, &rev);
  ASSERT_TRUE(all) << all.error().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key, root + "a");
  EXPECT_EQ((*all)[1].value, "two");
  EXPECT_EQ((*all)[1].version, 2);
  EXPECT_GE(rev, *r2);

  auto one = etcd->Get(root + "a");
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->value, "1");
  EXPECT_EQ((*one)->mod_revision, *r1);
  auto none = etcd->Get(root + "missing");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  auto deleted = etcd->Delete(root, /*prefix=*/true);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, 2);
  EXPECT_TRUE(etcd->GetPrefix(root)->empty());
  ASSERT_TRUE(etcd->Delete(root.substr(0, root.size() - 1) + "x"));
}

TEST(EtcdClient, CreateIfAbsentSucceedsOnceAndCompareAndDeleteNeedsTheRevision) {
  auto eps = SharedEtcd();
  STRATA_REQUIRE_ETCD(eps);
  auto etcd = Client(eps);
  const std::string key = "/test/" + UniqueClusterName("txn") + "/owner";
  auto first = etcd->Txn({Compare::Absent(key)}, {Op::Put(key, "a")}, {Op::GetPrefix(key)});
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(first->succeeded);
  auto second = etcd->Txn({Compare::Absent(key)}, {Op::Put(key, "b")}, {Op::GetPrefix(key)});
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->gets.size(), 1u);  // the failure branch read the key
  ASSERT_EQ(second->gets[0].size(), 1u);
  EXPECT_EQ(second->gets[0][0].value, "a");
  EXPECT_EQ(second->gets[0][0].mod_revision, first->revision);  // the token of the winner

  auto stale = etcd->Txn({Compare::ModRevisionIs(key, first->revision - 1)}, {Op::Delete(key)});
  ASSERT_TRUE(stale);
  EXPECT_FALSE(stale->succeeded);
  EXPECT_TRUE(*etcd->Get(key));
  auto right = etcd->Txn({Compare::ModRevisionIs(key, first->revision)}, {Op::Delete(key)});
  ASSERT_TRUE(right);
  EXPECT_TRUE(right->succeeded);
  EXPECT_FALSE(*etcd->Get(key));
}

TEST(EtcdClient, KeysOnALeaseGoWhenItExpiresOrIsRevoked) {
  auto eps = SharedEtcd();
  STRATA_REQUIRE_ETCD(eps);
  auto etcd = Client(eps);
  const std::string root = "/test/" + UniqueClusterName("lease") + "/";
  auto short_lease = etcd->GrantLease(2);
  ASSERT_TRUE(short_lease) << short_lease.error().ToString();
  EXPECT_EQ(short_lease->ttl_seconds, 2);
  ASSERT_TRUE(etcd->Put(root + "expires", "x", short_lease->id));
  auto renewed = etcd->KeepAlive(short_lease->id);
  ASSERT_TRUE(renewed) << renewed.error().ToString();
  EXPECT_EQ(*renewed, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_FALSE(*etcd->Get(root + "expires"));
  auto gone = etcd->KeepAlive(short_lease->id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 0);  // etcd no longer has it

  auto revoked = etcd->GrantLease(60);
  ASSERT_TRUE(revoked);
  ASSERT_TRUE(etcd->Put(root + "revoked", "x", revoked->id));
  ASSERT_TRUE(etcd->RevokeLease(revoked->id));
  EXPECT_FALSE(*etcd->Get(root + "revoked"));
}

TEST(EtcdClient, ADeadEndpointIsSkippedAndNoLiveOneIsAClearError) {
  auto eps = SharedEtcd();
  STRATA_REQUIRE_ETCD(eps);
  // Port 1 on loopback refuses connections: the first endpoint is dead.
  std::vector<std::string> with_dead{"127.0.0.1:1"};
  with_dead.insert(with_dead.end(), eps.begin(), eps.end());
  auto etcd = Client(with_dead, std::chrono::milliseconds(1500));
  auto v = etcd->Version();
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_EQ(v->substr(0, 2), "3.");

  auto dead = Client({"127.0.0.1:1"}, std::chrono::milliseconds(500));
  auto r = dead->Put("/test/x", "y");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message().find("127.0.0.1:1"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("etcd"), std::string::npos);
}

}  // namespace
}  // namespace strata::router::etcd
