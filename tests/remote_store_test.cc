// RemoteStore (src/client) against a real `strata serve`: the Store interface over the wire
// behaves like the local one, and errors come back with the codes the engine produced.
#include "client/remote_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>

#include "serve_fixture.h"

namespace strata {
namespace {

EventData Ev(const std::string& type, const std::string& data) {
  EventData e;
  e.event_id = Uuid::Random();
  e.type = type;
  e.data = data;
  e.metadata = "{\"m\":1}";
  return e;
}

class Remote : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 0) << "strata serve did not start";
    client::RemoteOptions o;
    o.target = server_.target();
    o.connections = 2;
    auto s = client::ConnectStore(o);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  testing::Server server_;
  std::unique_ptr<client::RemoteStore> store_;
};

TEST_F(Remote, AppendsAndReadsRoundTripWithTheEngineErrors) {
  auto a = store_->Append({.stream = "r-1",
                           .expected = ExpectedRevision::NoStream(),
                           .events = {Ev("A", "{\"x\":1}"), Ev("B", "{\"x\":2}")}});
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->count, 2u);
  EXPECT_EQ(a->first_revision.value(), 0u);
  EXPECT_EQ(a->last_revision.value(), 1u);
  EXPECT_EQ(a->last_position.value(), a->first_position.value() + 1);

  auto again = store_->Append(
      {.stream = "r-1", .expected = ExpectedRevision::NoStream(), .events = {Ev("C", "{}")}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kWrongExpectedRevision);
  EXPECT_EQ(again.error().actual_revision, std::optional<uint64_t>(1));

  auto r = store_->ReadStream({.stream = "r-1"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[1].type, "B");
  EXPECT_EQ(r->events[1].data, "{\"x\":2}");
  EXPECT_EQ(r->events[1].metadata, "{\"m\":1}");
  EXPECT_EQ(r->last_revision.value(), 1u);
  EXPECT_TRUE(r->end_of_stream);
  auto page = store_->ReadStream({.stream = "r-1", .max_count = 1});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_FALSE(page->end_of_stream);
  EXPECT_EQ(page->next, std::optional<Revision>(Revision(1)));

  auto missing = store_->ReadStream({.stream = "r-none"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kStreamNotFound);

  auto bad = store_->Append({.stream = "", .events = {Ev("A", "{}")}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidStreamName) << bad.error().ToString();

  auto all = store_->ReadAll({.max_count = 100});
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_EQ(all->events.size(), 2u);
  EXPECT_TRUE(all->end);

  ASSERT_TRUE(store_->Delete({.stream = "r-1"}));
  auto reopened = store_->Append({.stream = "r-1", .events = {Ev("D", "{}")}});
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->last_revision.value(), 2u);
  ASSERT_TRUE(store_->Delete({.stream = "r-1", .tombstone = true}));
  auto dead = store_->Append({.stream = "r-1", .events = {Ev("E", "{}")}});
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code(), ErrorCode::kStreamDeleted);
}

TEST_F(Remote, ConcurrentAppendsOverTwoConnectionsAllLandOnce) {
  constexpr int kAppends = 2000;
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::condition_variable cv;
  std::set<uint64_t> positions;
  for (int i = 0; i < kAppends; ++i) {
    store_->AppendAsync({.stream = "c-" + std::to_string(i % 50), .events = {Ev("C", "{}")}},
                        [&](Result<AppendResult> r) {
                          std::lock_guard l(mu);
                          if (r) {
                            positions.insert(r->last_position.value());
                            ++ok;
                          } else {
                            ++failed;
                          }
                          cv.notify_all();
                        });
  }
  std::unique_lock l(mu);
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(60), [&] { return ok + failed == kAppends; }));
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(positions.size(), static_cast<size_t>(kAppends));  // every append its own position
  l.unlock();
  for (int s = 0; s < 50; ++s) {
    auto r = store_->ReadStream({.stream = "c-" + std::to_string(s), .max_count = 1000});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->events.size(), static_cast<size_t>(kAppends / 50));
  }
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.shards.size(), 4u);
  EXPECT_GE(st.appended_events, static_cast<uint64_t>(kAppends));
}

TEST_F(Remote, SubscriptionDeliversHistoryThenLiveEvents) {
  ASSERT_TRUE(store_->Append({.stream = "s-1", .events = {Ev("Old", "{}")}}));
  struct Handler : SubscriptionHandler {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> types;
    bool caught_up = false;
    bool OnEvent(const RecordedEvent& e) override {
      std::lock_guard l(mu);
      types.push_back(e.type);
      cv.notify_all();
      return true;
    }
    void OnCaughtUp() override {
      std::lock_guard l(mu);
      caught_up = true;
      cv.notify_all();
    }
  };
  auto h = std::make_shared<Handler>();
  auto sub = store_->Subscribe({.stream = "s-1"}, h);
  ASSERT_TRUE(sub) << sub.error().ToString();
  {
    std::unique_lock l(h->mu);
    ASSERT_TRUE(h->cv.wait_for(l, std::chrono::seconds(20), [&] { return h->caught_up; }));
  }
  ASSERT_TRUE(store_->Append({.stream = "s-1", .events = {Ev("New", "{}")}}));
  std::unique_lock l(h->mu);
  ASSERT_TRUE(h->cv.wait_for(l, std::chrono::seconds(20), [&] { return h->types.size() == 2; }));
  EXPECT_EQ(h->types, (std::vector<std::string>{"Old", "New"}));
}

TEST(RemoteConnect, NoServerIsUnavailableWithAHint) {
  client::RemoteOptions o;
  o.target = "127.0.0.1:1";
  o.connect_timeout = std::chrono::milliseconds(500);
  auto s = client::ConnectStore(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message().find("strata serve"), std::string::npos);
  o.target = "nonsense";
  auto bad = client::ConnectStore(o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

// gRPC allows SO_REUSEPORT by default: a second server on a port in use would share it with the
// first, the kernel splitting connections between two stores. It must fail to start instead.
TEST_F(Remote, ASecondServerOnTheSamePortDoesNotStart) {
  testing::Server second({"--grpc-port", std::to_string(server_.port())});
  EXPECT_EQ(second.port(), 0) << "a second strata serve shares port " << server_.port();
  auto r = store_->Append({.stream = "still-one", .events = {Ev("T", "{}")}});
  ASSERT_TRUE(r) << r.error().ToString();
}

TEST_F(Remote, CliCommandsWorkAgainstTheServer) {
  auto run = [&](const std::string& args) {
    std::string cmd =
        std::string(STRATA_BINARY) + " " + args + " --server " + server_.target() + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
    int status = pclose(p);
    return std::make_pair(WEXITSTATUS(status), out);
  };
  auto [c1, o1] = run("append cli-1 --type Placed --payload '{\"n\":1}' --expected no_stream");
  EXPECT_EQ(c1, 0) << o1;
  auto [c2, o2] = run("read cli-1 --json");
  EXPECT_EQ(c2, 0) << o2;
  EXPECT_NE(o2.find("\"type\":\"Placed\""), std::string::npos) << o2;
  auto [c3, o3] = run("append cli-1 --type X --expected no_stream");
  EXPECT_EQ(c3, 1) << o3;
  EXPECT_NE(o3.find("wrong-expected-revision"), std::string::npos) << o3;
  auto [c4, o4] = run("stats --json");
  EXPECT_EQ(c4, 0) << o4;
  EXPECT_NE(o4.find("\"appended_events\""), std::string::npos) << o4;
  auto [c5, o5] = run("tail cli-1 --from-start --count 1");
  EXPECT_EQ(c5, 0) << o5;
  EXPECT_NE(o5.find("Placed"), std::string::npos) << o5;
  // The running server checks itself.
  auto [c6, o6] = run("check");
  EXPECT_EQ(c6, 0) << o6;
  EXPECT_NE(o6.find("check (online): 0 problems"), std::string::npos) << o6;
  auto [c7, o7] = run("stats");
  EXPECT_EQ(c7, 0) << o7;
  EXPECT_NE(o7.find("appends accepted"), std::string::npos) << o7;
}

}  // namespace
}  // namespace strata
