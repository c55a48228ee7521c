// LocalStore subscriptions that the Store contract suite (tests/store_contract_test.cc) cannot
// assert: a slow subscriber lapped by a small ring falls back to the warm tier (a special ring
// size, ring statistics), and Close stops subscriptions (RemoteStore::Close ends only its
// append calls; its subscriptions end when they are destroyed or cancelled). History -> live,
// stream subscriptions, start points, from-end, filters and tombstones are in the contract.
#include <gtest/gtest.h>

#include <thread>

#include "storage/local_store.h"
#include "storage/tests/subscription_collector.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {
using testing::Collector;
using testing::Event;
using testing::Req;
using testing::SmallOptions;
using testing::TempDir;

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = LocalStore::Open(SmallOptions(dir_.path()));
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  TempDir dir_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(SubscriptionTest, SlowSubscriberFallsBackToTheWarmTierAndMissesNothing) {
  // A ring of 1 MiB holds a few thousand events; the subscriber is lapped many times over.
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.hot.ring_bytes = 1u << 20;
  auto s = LocalStore::Open(o);
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  auto slow = std::make_shared<Collector>(std::chrono::microseconds(20));
  auto sub = store_->Subscribe({.all = true}, slow);
  ASSERT_TRUE(sub);
  std::vector<EventData> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(Event("Big", std::string(1000, 'b')));
  for (int i = 0; i < 40; ++i) {
    for (auto& e : batch) e.event_id = Uuid::Random();
    ASSERT_TRUE(
        store_->Append(Req("bulk-" + std::to_string(i % 4), ExpectedRevision::Any(), batch)));
  }
  ASSERT_TRUE(slow->WaitFor(4000, std::chrono::seconds(60)));
  auto events = slow->events();
  ASSERT_EQ(events.size(), 4000u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].position, Position(i + 1));
  auto stats = store_->Stats();
  EXPECT_GT(stats.ring_misses, 0u) << "the ring was lapped";
}

}  // namespace
}  // namespace strata
