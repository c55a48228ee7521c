// Subscriptions: history -> live without gap or duplicate under concurrent load, stream
// subscriptions, from-end, slow subscribers falling back to the warm tier, filters.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "storage/store.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {
using testing::Event;
using testing::Req;
using testing::SmallOptions;
using testing::TempDir;

class Collector : public SubscriptionHandler {
 public:
  explicit Collector(std::chrono::microseconds delay = std::chrono::microseconds(0))
      : delay_(delay) {}
  bool OnEvent(const RecordedEvent& e) override {
    if (delay_.count()) std::this_thread::sleep_for(delay_);
    std::lock_guard l(mu_);
    events_.push_back(e);
    if (!caught_up_) ++before_caught_up_;
    return true;
  }
  void OnCaughtUp() override {
    std::lock_guard l(mu_);
    caught_up_ = true;
  }
  void OnCheckpoint(Position p) override {
    std::lock_guard l(mu_);
    checkpoints_.push_back(p);
  }
  void OnStop(const Error* e) override {
    std::lock_guard l(mu_);
    stopped_ = true;
    if (e) error_ = *e;
  }
  size_t size() {
    std::lock_guard l(mu_);
    return events_.size();
  }
  bool WaitFor(size_t n, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (size() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return size() >= n;
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard l(mu_);
    return events_;
  }
  bool caught_up() {
    std::lock_guard l(mu_);
    return caught_up_;
  }
  std::mutex mu_;
  std::vector<RecordedEvent> events_;
  std::vector<Position> checkpoints_;
  bool caught_up_ = false, stopped_ = false;
  size_t before_caught_up_ = 0;
  std::optional<Error> error_;
  std::chrono::microseconds delay_;
};

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open(SmallOptions(dir_.path()));
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  // Appends `n` single-event appends spread over `streams` streams from `threads` threads.
  void Load(int n, int streams, int threads) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = t; i < n; i += threads) {
          ASSERT_TRUE(store_->Append(
              Req("load-" + std::to_string(i % streams), ExpectedRevision::Any(), {Event()})));
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SubscriptionTest, AllSwitchesFromHistoryToLiveWithoutGapOrDuplicate) {
  Load(3000, 50, 2);  // history
  auto collector = std::make_shared<Collector>();
  // Appends continue while the subscription catches up and after it goes live.
  std::thread writer([&] { Load(6000, 50, 3); });
  auto sub = store_->Subscribe({.all = true}, collector);
  ASSERT_TRUE(sub);
  writer.join();
  ASSERT_TRUE(collector->WaitFor(9000)) << "got " << collector->size();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto events = collector->events();
  ASSERT_EQ(events.size(), 9000u) << "no duplicates";
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].position, Position(i + 1)) << "gapless and in order at " << i;
  }
  EXPECT_TRUE(collector->caught_up());
  EXPECT_GE(collector->before_caught_up_, 3000u);
}

TEST_F(SubscriptionTest, StreamSubscriptionDeliversEveryRevisionOnceAcrossTheSwitch) {
  for (int i = 0; i < 700; ++i) {
    ASSERT_TRUE(store_->Append(Req("acct-1", ExpectedRevision::Any(), {Event()})));
    ASSERT_TRUE(store_->Append(Req("acct-2", ExpectedRevision::Any(), {Event()})));
  }
  auto collector = std::make_shared<Collector>();
  std::thread writer([&] {
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(store_->Append(Req("acct-1", ExpectedRevision::Any(), {Event()})));
      ASSERT_TRUE(store_->Append(Req("acct-2", ExpectedRevision::Any(), {Event()})));
    }
  });
  auto sub = store_->Subscribe({.stream = "acct-1"}, collector);
  ASSERT_TRUE(sub);
  writer.join();
  ASSERT_TRUE(collector->WaitFor(1200));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto events = collector->events();
  ASSERT_EQ(events.size(), 1200u);
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].stream, "acct-1");
    ASSERT_EQ(events[i].revision, Revision(i));
  }
}

TEST_F(SubscriptionTest, FromARevisionOrPositionStartsAfterIt) {
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(store_->Append(Req("s", ExpectedRevision::Any(), {Event()})));
  auto by_rev = std::make_shared<Collector>();
  auto s1 = store_->Subscribe({.stream = "s", .after_revision = Revision(6)}, by_rev);
  auto by_pos = std::make_shared<Collector>();
  auto s2 = store_->Subscribe({.all = true, .after_position = Position(8)}, by_pos);
  ASSERT_TRUE(by_rev->WaitFor(3));
  ASSERT_TRUE(by_pos->WaitFor(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(by_rev->events().front().revision, Revision(7));
  EXPECT_EQ(by_rev->size(), 3u);
  EXPECT_EQ(by_pos->events().front().position, Position(9));
  EXPECT_EQ(by_pos->size(), 2u);
}

TEST_F(SubscriptionTest, FromEndDeliversOnlyNewEvents) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_->Append(Req("old", ExpectedRevision::Any(), {Event()})));
  auto all = std::make_shared<Collector>();
  auto stream = std::make_shared<Collector>();
  auto s1 = store_->Subscribe({.all = true, .from_end = true}, all);
  auto s2 = store_->Subscribe({.stream = "old", .from_end = true}, stream);
  while (!all->caught_up() || !stream->caught_up())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(store_->Append(Req("old", ExpectedRevision::Any(), {Event("New")})));
  ASSERT_TRUE(all->WaitFor(1));
  ASSERT_TRUE(stream->WaitFor(1));
  EXPECT_EQ(all->events()[0].type, "New");
  EXPECT_EQ(stream->events()[0].revision, Revision(5));
}

TEST_F(SubscriptionTest, SlowSubscriberFallsBackToTheWarmTierAndMissesNothing) {
  // A ring of 1 MiB holds a few thousand events; the subscriber is lapped many times over.
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.hot.ring_bytes = 1u << 20;
  auto s = Store::Open(o);
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

TEST_F(SubscriptionTest, FilteredAllSubscriptionSendsCheckpoints) {
  auto c = std::make_shared<Collector>();
  SubscribeRequest req{.all = true};
  req.filter.stream_prefixes = {"order-"};
  req.checkpoint_interval = 10;
  auto sub = store_->Subscribe(req, c);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        store_->Append(Req(i % 5 == 0 ? "order-1" : "noise", ExpectedRevision::Any(), {Event()})));
  }
  ASSERT_TRUE(c->WaitFor(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(c->size(), 10u);
  for (auto& e : c->events()) EXPECT_EQ(e.stream, "order-1");
  std::lock_guard l(c->mu_);
  EXPECT_FALSE(c->checkpoints_.empty());
}

TEST_F(SubscriptionTest, TombstoningTheStreamEndsItsSubscription) {
  ASSERT_TRUE(store_->Append(Req("doomed", ExpectedRevision::Any(), {Event()})));
  auto c = std::make_shared<Collector>();
  auto sub = store_->Subscribe({.stream = "doomed"}, c);
  ASSERT_TRUE(c->WaitFor(1));
  ASSERT_TRUE(store_->Delete({"doomed", ExpectedRevision::Any(), true}));
  for (int i = 0; i < 500 && !c->stopped_; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::lock_guard l(c->mu_);
  EXPECT_TRUE(c->stopped_);
  ASSERT_TRUE(c->error_.has_value());
  EXPECT_EQ(c->error_->code(), ErrorCode::kStreamDeleted);
}

TEST_F(SubscriptionTest, ClosingTheStoreStopsSubscriptions) {
  auto c = std::make_shared<Collector>();
  auto sub = store_->Subscribe({.all = true}, c);
  ASSERT_TRUE(sub);
  ASSERT_TRUE(store_->Close());
  std::lock_guard l(c->mu_);
  EXPECT_TRUE(c->stopped_);
}

}  // namespace
}  // namespace strata
