// Index streams ($ce-<category>, $et-<type>): reads and subscriptions match a scan of $all, with
// gapless revisions, across index runs, merges, restarts and a lost index directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "model/stream_name.h"
#include "storage/local_store.h"
#include "storage/tests/test_util.h"

namespace strata {
namespace {
using testing::Event;
using testing::Req;
using testing::SmallOptions;
using testing::TempDir;

// The rule, written out independently of the indexer: user streams only (not '$'), the
// category is the part before the first '-' when there is one after the first character,
// event types that do not start with '$', no tombstones.
std::map<std::string, std::vector<uint64_t>> ExpectedFromAll(LocalStore& store) {
  std::map<std::string, std::vector<uint64_t>> out;
  auto st = store.ScanAll(Position(1), store.Watermark(), [&](const RecordView& v) {
    if (v.header.kind != RecordKind::kEvent || v.stream.starts_with("$")) return true;
    auto dash = v.stream.find('-');
    if (dash != std::string_view::npos && dash > 0) {
      out["$ce-" + std::string(v.stream.substr(0, dash))].push_back(v.header.position.value());
    }
    if (!v.type.starts_with("$"))
      out["$et-" + std::string(v.type)].push_back(v.header.position.value());
    return true;
  });
  EXPECT_TRUE(st) << st.error().ToString();
  return out;
}

void WaitIndexed(LocalStore& store) {
  const uint64_t target = store.Watermark().value() - 1;
  for (int i = 0; i < 3000 && store.Stats().index_streams_position.value() < target; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(store.Stats().index_streams_position.value(), target) << "the index did not catch up";
}

// Reads the whole index stream in pages, forwards and backwards, and checks it against the
// positions of a scan.
void ExpectStream(LocalStore& store, const std::string& name,
                  const std::vector<uint64_t>& positions) {
  SCOPED_TRACE(name);
  std::vector<RecordedEvent> fwd;
  ReadStreamRequest r;
  r.stream = name;
  r.max_count = 37;
  while (true) {
    auto page = store.ReadStream(r);
    ASSERT_TRUE(page) << page.error().ToString();
    ASSERT_EQ(page->last_revision.value(), positions.size() - 1);
    fwd.insert(fwd.end(), page->events.begin(), page->events.end());
    if (page->end_of_stream) break;
    r.from = page->next;
  }
  ASSERT_EQ(fwd.size(), positions.size());
  for (size_t i = 0; i < fwd.size(); ++i) {
    ASSERT_EQ(fwd[i].position.value(), positions[i]) << "revision " << i;
    ASSERT_TRUE(fwd[i].link);
    ASSERT_EQ(fwd[i].link->stream, name);
    ASSERT_EQ(fwd[i].link->revision.value(), i);
    ASSERT_FALSE(fwd[i].stream.starts_with("$"));  // the original event, not a copy
  }
  ReadStreamRequest b;
  b.stream = name;
  b.direction = Direction::kBackwards;
  b.max_count = 41;
  size_t seen = 0;
  while (true) {
    auto page = store.ReadStream(b);
    ASSERT_TRUE(page) << page.error().ToString();
    for (const auto& e : page->events) {
      const size_t rev = positions.size() - 1 - seen++;
      ASSERT_EQ(e.link->revision.value(), rev);
      ASSERT_EQ(e.position.value(), positions[rev]);
    }
    if (page->end_of_stream) break;
    b.from = page->next;
  }
  ASSERT_EQ(seen, positions.size());
}

class IndexStreamsTest : public ::testing::Test {
 protected:
  void Open() {
    auto s = LocalStore::Open(SmallOptions(dir_.path()));
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  void SetUp() override { Open(); }
  // Concurrent appends to streams of several categories and types, a stream without a
  // category, metadata and a tombstone.
  void Load(int n, int threads, int offset = 0) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const char* cats[] = {"user", "order", "nocategory", "-lead", "user"};
        const char* types[] = {"Deposited", "Withdrawn", "Placed"};
        for (int i = t; i < n; i += threads) {
          const int k = i + offset;
          std::string stream =
              std::string(cats[k % 5]) + (k % 5 == 2 ? "" : "-") + std::to_string(k % 23);
          std::vector<EventData> events;
          for (int j = 0; j <= k % 3; ++j) events.push_back(Event(types[(k + j) % 3]));
          ASSERT_TRUE(store_->Append(Req(stream, ExpectedRevision::Any(), std::move(events))));
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  TempDir dir_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(IndexStreamsTest, CategoryAndTypeStreamsMatchAScanOfAll) {
  Load(1500, 3);
  ASSERT_TRUE(store_->Append(
      Req("$$user-1", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount":1000})")})));
  ASSERT_TRUE(store_->Append(Req("order-gone", ExpectedRevision::Any(), {Event(), Event()})));
  ASSERT_TRUE(store_->Delete({"order-gone", ExpectedRevision::Any(), /*tombstone=*/true}));
  Load(300, 2, 7);
  WaitIndexed(*store_);
  auto expected = ExpectedFromAll(*store_);
  ASSERT_EQ(expected.count("$ce-user"), 1u);
  ASSERT_EQ(expected.count("$ce-nocategory5"), 0u);
  ASSERT_EQ(expected.count("$ce-"), 0u);  // "-lead-3" has no category
  ASSERT_EQ(expected.count("$et-$metadata"), 0u);
  for (const auto& [name, positions] : expected) ExpectStream(*store_, name, positions);
  auto none = store_->ReadStream({.stream = "$ce-nocategory5"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kStreamNotFound);
  auto stats = store_->Stats();
  EXPECT_EQ(stats.index_streams, expected.size());
  EXPECT_FALSE(stats.index_streams_failed);
}

TEST_F(IndexStreamsTest, IndexStreamsCannotBeWrittenOrDeleted) {
  auto a = store_->Append(Req("$ce-user", ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kInvalidStreamName);
  EXPECT_NE(a.error().message().find("append to the original stream"), std::string::npos);
  auto d = store_->Delete({"$et-Deposited", ExpectedRevision::Any(), false});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidStreamName);
}

TEST_F(IndexStreamsTest, RevisionsSurviveARestartAndALostIndexIsRebuilt) {
  Load(800, 2);
  WaitIndexed(*store_);
  auto before = ExpectedFromAll(*store_);
  ASSERT_TRUE(store_->Close());
  store_.reset();
  Open();
  Load(400, 2, 3);  // continues the revisions the first run handed out
  WaitIndexed(*store_);
  auto after = ExpectedFromAll(*store_);
  for (const auto& [name, positions] : before) {
    ASSERT_GE(after[name].size(), positions.size());
    ASSERT_TRUE(std::equal(positions.begin(), positions.end(), after[name].begin())) << name;
  }
  for (const auto& [name, positions] : after) ExpectStream(*store_, name, positions);
  ASSERT_TRUE(store_->Close());
  store_.reset();

  // A damaged STATE (or a restored snapshot without the directory) rebuilds from $all.
  const auto state = std::filesystem::path(dir_.path()) / "index-streams" / "STATE";
  ASSERT_TRUE(std::filesystem::exists(state));
  {
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    f.put('\x7f');
  }
  Open();
  WaitIndexed(*store_);
  for (const auto& [name, positions] : after) ExpectStream(*store_, name, positions);
  ASSERT_TRUE(store_->Close());
  store_.reset();
  std::filesystem::remove_all(std::filesystem::path(dir_.path()) / "index-streams");
  Open();
  WaitIndexed(*store_);
  for (const auto& [name, positions] : after) ExpectStream(*store_, name, positions);
}

class Collector : public SubscriptionHandler {
 public:
  bool OnEvent(const RecordedEvent& e) override {
    std::lock_guard l(mu);
    events.push_back(e);
    return true;
  }
  void OnCaughtUp() override {
    std::lock_guard l(mu);
    caught_up = true;
  }
  void OnStop(const Error* e) override {
    std::lock_guard l(mu);
    if (e) error = *e;
  }
  size_t size() {
    std::lock_guard l(mu);
    return events.size();
  }
  bool WaitFor(size_t n) {
    for (int i = 0; i < 6000 && size() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return size() >= n;
  }
  std::mutex mu;
  std::vector<RecordedEvent> events;
  bool caught_up = false;
  std::optional<Error> error;
};

TEST_F(IndexStreamsTest, SubscriptionsCatchUpFromTheIndexAndContinueLiveWithTheSameRevisions) {
  Load(900, 2);
  auto all = std::make_shared<Collector>();
  auto sub = store_->Subscribe({.stream = "$ce-user"}, all);
  ASSERT_TRUE(sub) << sub.error().ToString();
  auto from5 = std::make_shared<Collector>();
  auto sub5 = store_->Subscribe({.stream = "$et-Placed", .after_revision = Revision(5)}, from5);
  ASSERT_TRUE(sub5);
  auto live = std::make_shared<Collector>();
  auto sub_end = store_->Subscribe({.stream = "$ce-user", .from_end = true}, live);
  ASSERT_TRUE(sub_end);
  const size_t users_before = [&] {
    auto e = ExpectedFromAll(*store_);
    return e["$ce-user"].size();
  }();
  Load(900, 2, 11);  // while the subscriptions switch from history to live
  WaitIndexed(*store_);
  auto expected = ExpectedFromAll(*store_);
  const auto& users = expected["$ce-user"];
  const auto& placed = expected["$et-Placed"];
  ASSERT_TRUE(all->WaitFor(users.size()));
  ASSERT_TRUE(from5->WaitFor(placed.size() - 6));
  ASSERT_TRUE(live->WaitFor(users.size() - users_before));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto check = [](Collector& c, const std::string& name, const std::vector<uint64_t>& positions,
                  size_t first) {
    std::lock_guard l(c.mu);
    ASSERT_EQ(c.events.size(), positions.size() - first) << name << ": no duplicates";
    for (size_t i = 0; i < c.events.size(); ++i) {
      ASSERT_EQ(c.events[i].link->revision.value(), first + i) << name;
      ASSERT_EQ(c.events[i].position.value(), positions[first + i]) << name;
    }
    EXPECT_TRUE(c.caught_up);
    EXPECT_FALSE(c.error);
  };
  check(*all, "$ce-user", users, 0);
  check(*from5, "$et-Placed", placed, 6);
  check(*live, "$ce-user from the end", users, users_before);
  // What the live phase numbered is what a read returns now.
  ExpectStream(*store_, "$ce-user", users);
}

}  // namespace
}  // namespace strata
