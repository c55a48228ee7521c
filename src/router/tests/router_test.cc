// The router seam: a request for a partition another node owns is forwarded to it, or refused
// naming the owner with nothing written; an append is acknowledged only while the partition is
// still held under the token it was served with.
#include "router/router.h"

#include <gtest/gtest.h>

#include <map>

#include "model/partition.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {

using testing::Event;
using testing::Req;

TEST(Partition, TheHashIsPinnedForever) {
  // Partitions are on disk (which shard holds a stream) and will be in the cluster's leases: a
  // change of hash would lose every stream. These values were computed once; they must hold.
  EXPECT_EQ(PartitionOf("order-1", 64), PartitionOf("$$order-1", 64));  // metadata lives with it
  const std::map<std::string, uint32_t> pinned = {{"order-1", 54}, {"user-42", 13}, {"", 2}};
  for (const auto& [stream, partition] : pinned) {
    EXPECT_EQ(PartitionOf(stream, 64), partition) << stream;
  }
  for (int i = 0; i < 1000; ++i) EXPECT_LT(PartitionOf("s-" + std::to_string(i), 7), 7u);
  EXPECT_EQ(ShardOfPartition(13, 4), 1u);
}

// Fault injection: an ownership in which another node holds some partitions.
class SplitOwnership : public router::Ownership {
 public:
  explicit SplitOwnership(uint32_t foreign) : foreign_(foreign) {}
  const std::string& self() const override { return self_; }
  Result<router::Lease> OwnerOf(uint32_t partition) override {
    if (unreachable_) return Error(ErrorCode::kUnavailable, "etcd cannot be reached");
    if (partition == foreign_) return router::Lease{"node-b", 7, 42};
    return router::Lease{self_, 1, 1};
  }
  uint32_t partitions() const override { return 64; }
  bool Holds(uint32_t, uint64_t token) const override { return token == holds_token_; }
  Status BeforeFirstWrite(uint32_t partition) override {
    if (refuse_first_write_) return Error(ErrorCode::kUnavailable, "etcd cannot be reached");
    first_writes_.push_back(partition);
    return OkStatus();
  }
  std::vector<router::MemberAddress> Members() const override {
    return {{self_, "a:1", true, true}, {"node-b", "b:1", false, true}};
  }
  bool MayChange() const override { return true; }
  bool unreachable_ = false;
  bool refuse_first_write_ = false;
  uint64_t holds_token_ = 1;  // the token this node holds its partitions under
  std::vector<uint32_t> first_writes_;

 private:
  std::string self_ = "node-a";
  uint32_t foreign_;
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = LocalStore::Open(testing::SmallOptions(dir_.path()));
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  // A stream whose partition is `p`, and one whose partition is not.
  static std::string StreamIn(uint32_t p, bool in) {
    for (int i = 0;; ++i) {
      std::string s = "stream-" + std::to_string(i);
      if ((PartitionOf(s, 64) == p) == in) return s;
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(RouterTest, OneNodeServesEveryStream) {
  router::SingleNodeOwnership one("local", 64);
  router::Router r(store_.get(), &one);
  for (int i = 0; i < 200; ++i) {
    auto a = r.Append(Req("s-" + std::to_string(i), ExpectedRevision::NoStream(), {Event()}));
    ASSERT_TRUE(a) << a.error().ToString();
  }
  auto all = r.ReadAll({});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->events.size(), 200u);
}

TEST_F(RouterTest, AForeignPartitionIsRefusedNamingItsOwnerAndNothingIsWritten) {
  SplitOwnership split(5);
  router::Router r(store_.get(), &split);
  const std::string theirs = StreamIn(5, true), mine = StreamIn(5, false);
  auto refused = r.Append(Req(theirs, ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kNotOwner);
  EXPECT_NE(refused.error().message().find("node-b"), std::string::npos);
  EXPECT_NE(refused.error().message().find("partition 5"), std::string::npos);
  EXPECT_EQ(r.Delete({.stream = theirs}).error().code(), ErrorCode::kNotOwner);
  EXPECT_EQ(r.ReadStream({.stream = theirs}).error().code(), ErrorCode::kNotOwner);
  SubscribeRequest sub;
  sub.stream = theirs;
  struct Ignore : SubscriptionHandler {
    bool OnEvent(const RecordedEvent&) override { return true; }
  };
  auto s = r.Subscribe(sub, std::make_shared<Ignore>());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kNotOwner);
  // Nothing reached the store; the stream of the local partition is served.
  EXPECT_EQ(store_->ReadStream({.stream = theirs}).error().code(), ErrorCode::kStreamNotFound);
  ASSERT_TRUE(r.Append(Req(mine, ExpectedRevision::NoStream(), {Event()})));
  EXPECT_EQ(r.ReadStream({.stream = mine})->events.size(), 1u);
  // $all and index streams are the node's own log: not routed by partition.
  EXPECT_TRUE(r.ReadAll({}));
  for (uint32_t p = 0; p < 64; ++p) {
    SplitOwnership all_foreign(p);
    router::Router ri(store_.get(), &all_foreign);
    auto ce = ri.ReadStream({.stream = "$ce-stream"});
    if (!ce) {
      EXPECT_NE(ce.error().code(), ErrorCode::kNotOwner) << p;
    }
  }
  EXPECT_EQ(split.first_writes_, std::vector<uint32_t>{PartitionOf(mine, 64)});
}

// Fault injection: the peers of a cluster, here other local stores.
class LocalPeers : public router::Peers {
 public:
  Result<Store*> StoreOf(const router::MemberAddress& m) override {
    asked_.push_back(m.node);
    if (!peer_) return Error(ErrorCode::kUnavailable, "cannot reach " + m.advertise);
    return peer_;
  }
  Store* peer_ = nullptr;
  std::vector<std::string> asked_;
};

TEST_F(RouterTest, ARequestForAPeersPartitionIsForwardedToThatPeer) {
  testing::TempDir other;
  auto b = LocalStore::Open(testing::SmallOptions(other.path()));
  ASSERT_TRUE(b) << b.error().ToString();
  SplitOwnership split(5);
  LocalPeers peers;
  peers.peer_ = b->get();
  router::Router r(store_.get(), &split, &peers);
  const std::string theirs = StreamIn(5, true);
  auto a = r.Append(Req(theirs, ExpectedRevision::NoStream(), {Event(), Event()}));
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->last_revision.value(), 1u);
  // Written at the owner only, read through the router from there.
  EXPECT_EQ((*b)->ReadStream({.stream = theirs})->events.size(), 2u);
  EXPECT_EQ(store_->ReadStream({.stream = theirs}).error().code(), ErrorCode::kStreamNotFound);
  EXPECT_EQ(r.ReadStream({.stream = theirs})->events.size(), 2u);
  EXPECT_TRUE(r.Delete({.stream = theirs}));
  EXPECT_EQ(peers.asked_.front(), "node-b");
  EXPECT_TRUE(split.first_writes_.empty());  // the peer's own router records its writes
  // A peer that cannot be reached is the peer's error, not a write here.
  peers.peer_ = nullptr;
  auto down = r.Append(Req(theirs, ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
}

TEST_F(RouterTest, AnAppendIsNotAcknowledgedWhenThePartitionWasLostWhileItWasWritten) {
  SplitOwnership split(5);
  router::Router r(store_.get(), &split);
  const std::string mine = StreamIn(5, false);
  split.holds_token_ = 2;  // the partition changed hands (token 1 -> 2) during the write
  auto a = r.Append(Req(mine, ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kNotOwner);
  EXPECT_NE(a.error().message().find("outcome is unknown"), std::string::npos);
  auto d = r.Delete({.stream = mine});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kNotOwner);
  // A first write that cannot be recorded is refused before anything is written.
  SplitOwnership refusing(5);
  refusing.refuse_first_write_ = true;
  router::Router r2(store_.get(), &refusing);
  const std::string fresh = StreamIn(5, false) + "-fresh";
  auto f = r2.Append(Req(fresh, ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(store_->ReadStream({.stream = fresh}).error().code(), ErrorCode::kStreamNotFound);
}

TEST_F(RouterTest, AnUnknownOwnerIsTheOwnershipsErrorNotAWrite) {
  SplitOwnership split(5);
  split.unreachable_ = true;
  router::Router r(store_.get(), &split);
  auto a = r.Append(Req("x", ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(store_->ReadAll({})->events.size(), 0u);
}

}  // namespace
}  // namespace strata
