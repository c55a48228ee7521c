// The Store contract (src/storage/store.h): one suite run over every implementation of the event
// API, as nats-server runs one store suite over each of its stores. "Local" is a LocalStore in
// a temporary directory; "Remote" is a client::RemoteStore connected to a real `strata serve`
// child process (tests/serve_fixture.h). Each test gets a fresh store of its own.
//
// Where the implementations legitimately differ (remote_store.h states how), the difference is a
// Capabilities flag: a test asserts the stronger promise only where the implementation makes it,
// and the weaker promise both make always. Behaviour that needs a restart, special StoreOptions,
// fault injection or engine internals is local and stays in src/storage/tests.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "client/remote_store.h"
#include "serve_fixture.h"
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

// What an implementation legitimately does differently from the others.
struct Capabilities {
  // A retry recognised by its event ids says so in AppendResult.deduplicated. RemoteStore: the
  // KurrentDB protocol has no such field (remote_store.h). The promise both make: the retry
  // returns the original positions and revisions, and the stream does not grow.
  bool reports_deduplicated = true;
  // One event over the per-event limit is kEventTooLarge. RemoteStore: the protocol has one
  // MaximumAppendSizeExceeded for an oversized event and an oversized append, which the client
  // maps back to kAppendTooLarge (remote_store.cc, ErrorFromBatch).
  bool reports_event_too_large = true;
  // Positions are consecutive (PositionScheme::kDense). With clock positions they are only
  // increasing (hot/hot_options.h); every other promise is the same.
  bool dense_positions = true;
};

// One implementation under test: it owns the store and whatever the store needs (a directory, a
// server process), and destroys the store first.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Status Open() = 0;
  virtual Store& store() = 0;
  virtual Capabilities capabilities() const = 0;
};

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(PositionScheme positions) : positions_(positions) {}
  Status Open() override {
    StoreOptions o = SmallOptions(dir_.path());
    o.hot.positions = positions_;
    auto s = LocalStore::Open(o);
    if (!s) return s.error();
    store_ = std::move(*s);
    return OkStatus();
  }
  Store& store() override { return *store_; }
  Capabilities capabilities() const override {
    return {.dense_positions = positions_ == PositionScheme::kDense};
  }

 private:
  const PositionScheme positions_;
  TempDir dir_;
  std::unique_ptr<LocalStore> store_;
};

class RemoteBackend final : public Backend {
 public:
  Status Open() override {
    if (server_.port() <= 0) return Error(ErrorCode::kUnavailable, "strata serve did not start");
    client::RemoteOptions o;
    o.target = server_.target();
    o.connections = 2;  // appends of different streams go over different connections
    auto s = client::ConnectStore(o);
    if (!s) return s.error();
    store_ = std::move(*s);
    return OkStatus();
  }
  Store& store() override { return *store_; }
  Capabilities capabilities() const override {
    return {.reports_deduplicated = false, .reports_event_too_large = false};
  }

 private:
  // Small and quick, as SmallOptions: two shards, small memtables, caches and ring, no cold
  // tier, no disk reserve (the test machine's disk may be nearly full).
  testing::Server server_{{"--shards", "2", "--cold", "none", "--write-buffer-mb", "4",
                           "--memtable-budget-mb", "64", "--block-cache-mb", "16", "--ring-mb",
                           "16", "--disk-reserve-mb", "0"}};
  std::unique_ptr<client::RemoteStore> store_;
};

enum class Implementation { kLocal, kLocalClock, kRemote };

const char* NameOf(Implementation i) {
  switch (i) {
    case Implementation::kLocal:
      return "Local";
    case Implementation::kLocalClock:
      return "LocalClockPositions";
    case Implementation::kRemote:
      return "Remote";
  }
  return "?";
}
void PrintTo(Implementation i, std::ostream* os) { *os << NameOf(i); }

class StoreContract : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override {
    if (GetParam() == Implementation::kLocal) {
      backend_ = std::make_unique<LocalBackend>(PositionScheme::kDense);
    } else if (GetParam() == Implementation::kLocalClock) {
      backend_ = std::make_unique<LocalBackend>(PositionScheme::kClock);
    } else {
      backend_ = std::make_unique<RemoteBackend>();
    }
    auto st = backend_->Open();
    ASSERT_TRUE(st) << st.error().ToString();
  }

  Store& store() { return backend_->store(); }
  Capabilities caps() const { return backend_->capabilities(); }

  std::vector<RecordedEvent> ReadAllOf(const std::string& stream) {
    auto r = store().ReadStream({stream, Direction::kForwards, std::nullopt, 100000});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->events : std::vector<RecordedEvent>{};
  }
  // Every event of $all, read forwards page by page.
  std::vector<RecordedEvent> ReadWholeAll() {
    std::vector<RecordedEvent> out;
    std::optional<Position> from;
    for (;;) {
      auto r = store().ReadAll({.from = from, .max_count = 1000});
      EXPECT_TRUE(r) << r.error().ToString();
      if (!r) return out;
      out.insert(out.end(), r->events.begin(), r->events.end());
      if (r->end || r->events.empty()) return out;
      from = r->next;
    }
  }
  // Appends `n` single-event appends spread over `streams` streams from `threads` threads.
  void Load(int n, int streams, int threads) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = t; i < n; i += threads) {
          ASSERT_TRUE(store().Append(
              Req("load-" + std::to_string(i % streams), ExpectedRevision::Any(), {Event()})));
        }
      });
    }
    for (auto& t : ts) t.join();
  }

  std::unique_ptr<Backend> backend_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Implementation::kLocal, Implementation::kLocalClock,
                                           Implementation::kRemote),
                         [](const ::testing::TestParamInfo<Implementation>& info) {
                           return std::string(NameOf(info.param));
                         });

// --- Appends and optimistic concurrency ---

TEST_P(StoreContract, AppendsGetConsecutiveRevisionsAndIncreasingPositions) {
  auto a = store().Append(Req("order-1", ExpectedRevision::NoStream(), {Event(), Event()}));
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->first_revision, Revision(0));
  EXPECT_EQ(a->last_revision, Revision(1));
  if (caps().dense_positions) {
    EXPECT_EQ(a->last_position.value(), a->first_position.value() + 1);
  } else {
    EXPECT_GT(a->last_position, a->first_position);
  }
  auto b = store().Append(Req("order-1", ExpectedRevision::Exact(Revision(1)), {Event()}));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_revision, Revision(2));
  EXPECT_GT(b->first_position, a->last_position);
  auto events = ReadAllOf("order-1");
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(events[i].revision, Revision(i));
}

TEST_P(StoreContract, EveryExpectedRevisionModeIsEnforced) {
  using K = ExpectedRevision;
  EXPECT_FALSE(store().Append(Req("s", K::StreamExists(), {Event()})));
  EXPECT_FALSE(store().Append(Req("s", K::Exact(Revision(0)), {Event()})));
  EXPECT_TRUE(store().Append(Req("s", K::NoStream(), {Event()})));
  auto again = store().Append(Req("s", K::NoStream(), {Event()}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kWrongExpectedRevision);
  ASSERT_TRUE(again.error().actual_revision.has_value());
  EXPECT_EQ(*again.error().actual_revision, 0u);
  EXPECT_TRUE(store().Append(Req("s", K::StreamExists(), {Event()})));
  EXPECT_TRUE(store().Append(Req("s", K::Any(), {Event()})));
  auto wrong = store().Append(Req("s", K::Exact(Revision(1)), {Event()}));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongExpectedRevision);
  ASSERT_TRUE(wrong.error().actual_revision.has_value());
  EXPECT_EQ(*wrong.error().actual_revision, 2u) << "reports the actual revision";
  EXPECT_TRUE(store().Append(Req("s", K::Exact(Revision(2)), {Event()})));
  EXPECT_EQ(ReadAllOf("s").size(), 4u);
}

TEST_P(StoreContract, ConcurrentAppendersToOneStreamNeverShareARevision) {
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (store().Append(Req("hot", ExpectedRevision::Any(), {Event()}))) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  auto events = ReadAllOf("hot");
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].revision, Revision(i));
}

// --- Idempotency: a retry with the same event ids ---

TEST_P(StoreContract, RetryWithSameIdsReturnsTheOriginalResultAndWritesNothing) {
  for (auto expected : {ExpectedRevision::NoStream(), ExpectedRevision::Any(),
                        ExpectedRevision::StreamExists(), ExpectedRevision::Exact(Revision(1))}) {
    std::string stream = "idem-" + expected.ToString();
    size_t before = 0;
    if (expected.kind() != ExpectedRevision::Kind::kNoStream) {
      ASSERT_TRUE(store().Append(Req(stream, ExpectedRevision::NoStream(), {Event(), Event()})));
      before = 2;
    }
    auto req = Req(stream, expected, {Event(), Event(), Event()});
    auto first = store().Append(req);
    ASSERT_TRUE(first) << expected.ToString() << ": " << first.error().ToString();
    auto retry = store().Append(req);
    ASSERT_TRUE(retry) << expected.ToString() << ": " << retry.error().ToString();
    if (caps().reports_deduplicated) {
      EXPECT_TRUE(retry->deduplicated);
    }
    EXPECT_EQ(retry->first_position, first->first_position);
    EXPECT_EQ(retry->first_revision, first->first_revision);
    EXPECT_EQ(retry->last_revision, first->last_revision);
    // The weaker promise, for every implementation: the stream did not grow.
    EXPECT_EQ(ReadAllOf(stream).size(), before + 3) << expected.ToString();
  }
  EXPECT_EQ(ReadAllOf("idem-no_stream").size(), 3u);
  EXPECT_EQ(ReadAllOf("idem-any").size(), 5u);
}

TEST_P(StoreContract, RetryInTheSameGroupCommitIsStillDeduplicated) {
  auto req = Req("burst", ExpectedRevision::Any(), {Event()});
  std::vector<std::thread> threads;
  std::vector<Result<AppendResult>> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { results[i] = store().Append(req); });
  }
  for (auto& t : threads) t.join();
  int written = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r) << r.error().ToString();
    if (!r->deduplicated) ++written;
    EXPECT_EQ(r->first_position, results[0]->first_position);
    EXPECT_EQ(r->first_revision, results[0]->first_revision);
  }
  // Remote: `deduplicated` is never set, so every result looks written; the stream length below
  // is the promise both make.
  if (caps().reports_deduplicated) {
    EXPECT_EQ(written, 1);
  }
  EXPECT_EQ(ReadAllOf("burst").size(), 1u);
}

// Found by `strata stress`: a no_stream append that re-opened a soft-deleted stream put its
// events after the old ones, so a retry must find them by id, not at revision 0 — and must not
// write them again once the stream is soft-deleted a second time.
TEST_P(StoreContract, RetryOfAnAppendThatReopenedASoftDeletedStreamIsDeduplicated) {
  ASSERT_TRUE(store().Append(Req("re", ExpectedRevision::Any(), {Event(), Event()})));
  ASSERT_TRUE(store().Delete({"re", ExpectedRevision::Any(), false}));
  auto req = Req("re", ExpectedRevision::NoStream(), {Event()});
  auto first = store().Append(req);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first_revision, Revision(2));
  auto retry = store().Append(req);
  ASSERT_TRUE(retry) << retry.error().ToString();
  if (caps().reports_deduplicated) {
    EXPECT_TRUE(retry->deduplicated);
  }
  // The weaker promise (remote): the original result, and nothing written.
  EXPECT_EQ(retry->first_position, first->first_position);
  EXPECT_EQ(retry->first_revision, Revision(2));
  EXPECT_EQ(ReadAllOf("re").size(), 1u);
  ASSERT_TRUE(store().Delete({"re", ExpectedRevision::Any(), false}));
  auto again = store().Append(req);
  ASSERT_TRUE(again) << again.error().ToString();
  if (caps().reports_deduplicated) {
    EXPECT_TRUE(again->deduplicated);
  }
  EXPECT_EQ(again->first_position, first->first_position);
  // Nothing written: the stream stays deleted (a new write would have re-opened it).
  auto gone = store().ReadStream({"re"});
  ASSERT_FALSE(gone) << "the retry re-opened the stream with " << gone->events.size() << " events";
  EXPECT_EQ(gone.error().code(), ErrorCode::kStreamNotFound);
}

TEST_P(StoreContract, PartialOverlapIsAClearError) {
  auto a = Event(), b = Event();
  ASSERT_TRUE(store().Append(Req("p", ExpectedRevision::Any(), {a})));
  auto r = store().Append(Req("p", ExpectedRevision::Any(), {a, b}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIdempotencyConflict);
  EXPECT_NE(r.error().message().find("1 of the 2"), std::string::npos) << r.error().message();
  EXPECT_EQ(ReadAllOf("p").size(), 1u);
}

// --- Deletes and metadata (their survival across a restart: store_test.cc) ---

TEST_P(StoreContract, SoftDeleteHidesTheStreamUntilItIsAppendedAgain) {
  ASSERT_TRUE(store().Append(Req("cart-1", ExpectedRevision::Any(), {Event(), Event()})));
  ASSERT_TRUE(store().Delete({"cart-1", ExpectedRevision::Exact(Revision(1)), false}));
  auto r = store().ReadStream({"cart-1"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kStreamNotFound);
  auto reopened = store().Append(Req("cart-1", ExpectedRevision::NoStream(), {Event()}));
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  EXPECT_EQ(reopened->first_revision, Revision(2)) << "re-opens at last revision + 1";
  auto events = ReadAllOf("cart-1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, Revision(2));
}

TEST_P(StoreContract, TombstoneIsFinal) {
  ASSERT_TRUE(store().Append(Req("gone", ExpectedRevision::Any(), {Event()})));
  auto wrong = store().Delete({"gone", ExpectedRevision::Exact(Revision(5)), true});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongExpectedRevision);
  ASSERT_TRUE(store().Delete({"gone", ExpectedRevision::Any(), true}));
  auto a = store().Append(Req("gone", ExpectedRevision::Any(), {Event()}));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kStreamDeleted);
  auto r = store().ReadStream({"gone"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kStreamDeleted);
  auto meta = store().Append(Req("$$gone", ExpectedRevision::Any(), {Event("$metadata", "{}")}));
  EXPECT_FALSE(meta);
}

TEST_P(StoreContract, MetadataMaxCountAndTruncateBeforeAreEnforcedOnReads) {
  std::vector<EventData> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(Event());
  ASSERT_TRUE(store().Append(Req("m", ExpectedRevision::Any(), ten)));
  ASSERT_TRUE(store().Append(
      Req("$$m", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount": 3})")})));
  auto events = ReadAllOf("m");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.front().revision, Revision(7));
  ASSERT_TRUE(store().Append(
      Req("$$m", ExpectedRevision::Any(), {Event("$metadata", R"({"$tb": 9, "owner": "x"})")})));
  events = ReadAllOf("m");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events.front().revision, Revision(9));
  auto back = store().ReadStream({"m", Direction::kBackwards, std::nullopt, 1});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 1u);
  EXPECT_EQ(back->events[0].revision, Revision(9));
  // The metadata stream itself reads like any stream.
  EXPECT_EQ(ReadAllOf("$$m").size(), 2u);
}

TEST_P(StoreContract, InvalidMetadataIsRejected) {
  auto r = store().Append(
      Req("$$x", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount": "ten"})")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("$maxCount"), std::string::npos) << r.error().message();
}

// --- Reads ---

TEST_P(StoreContract, ReadsStreamsForwardsAndBackwardsFromARevision) {
  std::vector<EventData> evs;
  for (int i = 0; i < 20; ++i) evs.push_back(Event());
  ASSERT_TRUE(store().Append(Req("r", ExpectedRevision::Any(), evs)));
  auto fwd = store().ReadStream({"r", Direction::kForwards, Revision(5), 4});
  ASSERT_TRUE(fwd);
  ASSERT_EQ(fwd->events.size(), 4u);
  EXPECT_EQ(fwd->events[0].revision, Revision(5));
  EXPECT_EQ(fwd->next, Revision(9));
  EXPECT_FALSE(fwd->end_of_stream);
  auto bwd = store().ReadStream({"r", Direction::kBackwards, Revision(5), 10});
  ASSERT_TRUE(bwd);
  ASSERT_EQ(bwd->events.size(), 6u);
  EXPECT_EQ(bwd->events[0].revision, Revision(5));
  EXPECT_EQ(bwd->events[5].revision, Revision(0));
  EXPECT_TRUE(bwd->end_of_stream);
  auto past = store().ReadStream({"r", Direction::kForwards, Revision(50), 10});
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->events.empty());
  EXPECT_TRUE(past->end_of_stream);
}

TEST_P(StoreContract, ReadAllFiltersAndPagesInBothDirections) {
  ASSERT_TRUE(store().Append(Req("order-1", ExpectedRevision::Any(), {Event("OrderPlaced")})));
  ASSERT_TRUE(store().Append(Req("user-1", ExpectedRevision::Any(), {Event("UserJoined")})));
  ASSERT_TRUE(store().Append(Req("order-2", ExpectedRevision::Any(), {Event("OrderShipped")})));
  ReadAllRequest all;
  auto r = store().ReadAll(all);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_TRUE(r->end);
  for (size_t i = 1; i < r->events.size(); ++i)
    EXPECT_GT(r->events[i].position, r->events[i - 1].position);

  ReadAllRequest by_stream;
  by_stream.filter.stream_prefixes = {"order-"};
  auto s = store().ReadAll(by_stream);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->events.size(), 2u);
  ReadAllRequest by_type;
  by_type.filter.type_prefixes = {"User"};
  auto t = store().ReadAll(by_type);
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_EQ(t->events.size(), 1u);
  ReadAllRequest by_regex;
  by_regex.filter.type_regex = "Shipped$";
  auto x = store().ReadAll(by_regex);
  ASSERT_TRUE(x) << x.error().ToString();
  EXPECT_EQ(x->events.size(), 1u);
  ReadAllRequest bad_regex;
  bad_regex.filter.stream_regex = "([";
  auto bad = store().ReadAll(bad_regex);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument) << bad.error().ToString();

  ReadAllRequest back;
  back.direction = Direction::kBackwards;
  back.max_count = 2;
  auto b = store().ReadAll(back);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_EQ(b->events[0].stream, "order-2");
  EXPECT_FALSE(b->end);
  back.from = b->next;
  auto b2 = store().ReadAll(back);
  ASSERT_TRUE(b2);
  ASSERT_EQ(b2->events.size(), 1u);
  EXPECT_EQ(b2->events[0].stream, "order-1");

  ReadAllRequest page;
  page.max_count = 2;
  auto p1 = store().ReadAll(page);
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->events.size(), 2u);
  page.from = p1->next;
  auto p2 = store().ReadAll(page);
  ASSERT_TRUE(p2);
  ASSERT_EQ(p2->events.size(), 1u);
  EXPECT_EQ(p2->events[0].stream, "order-2");
}

// --- Bad input ---

TEST_P(StoreContract, BadInputGetsStableCodesAndActionableMessages) {
  struct Case {
    AppendRequest req;
    ErrorCode code;
  };
  EventData nil = Event();
  nil.event_id = Uuid();
  EventData untyped = Event("");
  EventData huge = Event("Big", std::string(kMaxEventBytes + 1, 'x'));
  auto dup = Event();
  std::vector<Case> cases = {
      {Req("", ExpectedRevision::Any(), {Event()}), ErrorCode::kInvalidStreamName},
      {Req(std::string(2000, 'n'), ExpectedRevision::Any(), {Event()}),
       ErrorCode::kInvalidStreamName},
      {Req("$all", ExpectedRevision::Any(), {Event()}), ErrorCode::kInvalidStreamName},
      {Req("ok", ExpectedRevision::Any(), {nil}), ErrorCode::kInvalidEventId},
      {Req("ok", ExpectedRevision::Any(), {untyped}), ErrorCode::kInvalidArgument},
      // Remote: kAppendTooLarge, the one size code the protocol carries back.
      {Req("ok", ExpectedRevision::Any(), {huge}),
       caps().reports_event_too_large ? ErrorCode::kEventTooLarge : ErrorCode::kAppendTooLarge},
      {Req("ok", ExpectedRevision::Any(), {dup, dup}), ErrorCode::kInvalidArgument},
      {Req("ok", ExpectedRevision::Exact(Revision(kTombstoneRevision)), {Event()}),
       ErrorCode::kInvalidExpectedRevision},
  };
  for (auto& c : cases) {
    auto r = store().Append(c.req);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), c.code) << r.error().ToString();
    EXPECT_GT(r.error().message().size(), 20u) << r.error().ToString();
  }
  EXPECT_FALSE(store().ReadStream({"ok"})) << "nothing was written";
}

// --- Subscriptions ---

// History, a switch while appends continue, then events appended only once the subscription
// said it was caught up: those must arrive, after OnCaughtUp (live delivery), and the whole
// sequence must be gapless and free of duplicates across the switch. A subscription that
// stopped delivering after catching up would time out waiting for them.
TEST_P(StoreContract, AllSwitchesFromHistoryToLiveWithoutGapOrDuplicate) {
  constexpr size_t kHistory = 3000, kDuring = 6000, kLive = 300;
  Load(kHistory, 50, 2);
  auto collector = std::make_shared<Collector>();
  // Appends continue while the subscription catches up (and maybe after it goes live).
  std::thread writer([&] { Load(kDuring, 50, 3); });
  auto sub = store().Subscribe({.all = true}, collector);
  ASSERT_TRUE(sub) << sub.error().ToString();
  writer.join();
  ASSERT_TRUE(collector->WaitForCaughtUp()) << "got " << collector->size() << " events";
  // Only now: these can only be delivered live.
  Load(kLive, 50, 1);
  constexpr size_t kTotal = kHistory + kDuring + kLive;
  ASSERT_TRUE(collector->WaitFor(kTotal)) << "got " << collector->size() << " of " << kTotal;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto events = collector->events();
  auto live = collector->after_caught_up();
  ASSERT_EQ(events.size(), kTotal) << "no duplicates";
  // Gapless and in order: exactly what a read of $all returns (dense: 1, 2, 3, ...).
  auto all = ReadWholeAll();
  ASSERT_EQ(all.size(), kTotal);
  for (size_t i = 0; i < events.size(); ++i) {
    if (caps().dense_positions) {
      ASSERT_EQ(events[i].position, Position(i + 1)) << "gapless and in order at " << i;
    }
    ASSERT_EQ(events[i].position, all[i].position) << "gapless and in order at " << i;
    ASSERT_EQ(events[i].event_id, all[i].event_id) << i;
  }
  EXPECT_GE(collector->before_caught_up(), kHistory);
  for (size_t i = kTotal - kLive; i < kTotal; ++i) {
    ASSERT_TRUE(live[i]) << "event " << i << " was appended after caught-up but delivered before";
  }
}

TEST_P(StoreContract, StreamSubscriptionDeliversEveryRevisionOnceAcrossTheSwitch) {
  constexpr size_t kHistory = 700, kDuring = 500, kLive = 100;
  for (size_t i = 0; i < kHistory; ++i) {
    ASSERT_TRUE(store().Append(Req("acct-1", ExpectedRevision::Any(), {Event()})));
    ASSERT_TRUE(store().Append(Req("acct-2", ExpectedRevision::Any(), {Event()})));
  }
  auto collector = std::make_shared<Collector>();
  auto append_both = [&](size_t n) {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(store().Append(Req("acct-1", ExpectedRevision::Any(), {Event()})));
      ASSERT_TRUE(store().Append(Req("acct-2", ExpectedRevision::Any(), {Event()})));
    }
  };
  std::thread writer([&] { append_both(kDuring); });
  auto sub = store().Subscribe({.stream = "acct-1"}, collector);
  ASSERT_TRUE(sub) << sub.error().ToString();
  writer.join();
  ASSERT_TRUE(collector->WaitForCaughtUp()) << "got " << collector->size() << " events";
  append_both(kLive);  // only live delivery can bring these
  constexpr size_t kTotal = kHistory + kDuring + kLive;
  ASSERT_TRUE(collector->WaitFor(kTotal)) << "got " << collector->size() << " of " << kTotal;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto events = collector->events();
  auto live = collector->after_caught_up();
  ASSERT_EQ(events.size(), kTotal);
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].stream, "acct-1");
    ASSERT_EQ(events[i].revision, Revision(i));
  }
  EXPECT_GE(collector->before_caught_up(), kHistory);
  for (size_t i = kTotal - kLive; i < kTotal; ++i) {
    ASSERT_TRUE(live[i]) << "revision " << i << " was appended after caught-up but delivered "
                         << "before";
  }
}

TEST_P(StoreContract, FromARevisionOrPositionStartsAfterIt) {
  std::vector<Position> at;
  for (int i = 0; i < 10; ++i) {
    auto r = store().Append(Req("s", ExpectedRevision::Any(), {Event()}));
    ASSERT_TRUE(r);
    at.push_back(r->first_position);
  }
  auto by_rev = std::make_shared<Collector>();
  auto s1 = store().Subscribe({.stream = "s", .after_revision = Revision(6)}, by_rev);
  ASSERT_TRUE(s1) << s1.error().ToString();
  auto by_pos = std::make_shared<Collector>();
  auto s2 = store().Subscribe({.all = true, .after_position = at[7]}, by_pos);
  ASSERT_TRUE(s2) << s2.error().ToString();
  ASSERT_TRUE(by_rev->WaitFor(3));
  ASSERT_TRUE(by_pos->WaitFor(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(by_rev->events().front().revision, Revision(7));
  EXPECT_EQ(by_rev->size(), 3u);
  EXPECT_EQ(by_pos->events().front().position, at[8]);
  EXPECT_EQ(by_pos->size(), 2u);
}

TEST_P(StoreContract, FromEndDeliversOnlyNewEvents) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store().Append(Req("old", ExpectedRevision::Any(), {Event()})));
  auto all = std::make_shared<Collector>();
  auto stream = std::make_shared<Collector>();
  auto s1 = store().Subscribe({.all = true, .from_end = true}, all);
  ASSERT_TRUE(s1) << s1.error().ToString();
  auto s2 = store().Subscribe({.stream = "old", .from_end = true}, stream);
  ASSERT_TRUE(s2) << s2.error().ToString();
  ASSERT_TRUE(all->WaitForCaughtUp());
  ASSERT_TRUE(stream->WaitForCaughtUp());
  ASSERT_TRUE(store().Append(Req("old", ExpectedRevision::Any(), {Event("New")})));
  ASSERT_TRUE(all->WaitFor(1));
  ASSERT_TRUE(stream->WaitFor(1));
  EXPECT_EQ(all->events()[0].type, "New");
  EXPECT_EQ(stream->events()[0].revision, Revision(5));
}

TEST_P(StoreContract, FilteredAllSubscriptionSendsCheckpoints) {
  auto c = std::make_shared<Collector>();
  SubscribeRequest req{.all = true};
  req.filter.stream_prefixes = {"order-"};
  req.checkpoint_interval = 10;
  auto sub = store().Subscribe(req, c);
  ASSERT_TRUE(sub) << sub.error().ToString();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        store().Append(Req(i % 5 == 0 ? "order-1" : "noise", ExpectedRevision::Any(), {Event()})));
  }
  ASSERT_TRUE(c->WaitFor(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(c->size(), 10u);
  for (auto& e : c->events()) EXPECT_EQ(e.stream, "order-1");
  EXPECT_FALSE(c->checkpoints().empty());
}

TEST_P(StoreContract, TombstoningTheStreamEndsItsSubscription) {
  ASSERT_TRUE(store().Append(Req("doomed", ExpectedRevision::Any(), {Event()})));
  auto c = std::make_shared<Collector>();
  auto sub = store().Subscribe({.stream = "doomed"}, c);
  ASSERT_TRUE(sub) << sub.error().ToString();
  ASSERT_TRUE(c->WaitFor(1));
  ASSERT_TRUE(store().Delete({"doomed", ExpectedRevision::Any(), true}));
  EXPECT_TRUE(c->WaitForStop(std::chrono::seconds(5)));
  auto error = c->error();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::kStreamDeleted) << error->ToString();
}

TEST_P(StoreContract, ClosingTheStoreStopsSubscriptions) {
  auto c = std::make_shared<Collector>();
  auto sub = store().Subscribe({.all = true}, c);
  ASSERT_TRUE(sub) << sub.error().ToString();
  ASSERT_TRUE(store().Close());
  EXPECT_TRUE(c->stopped()) << "Close returns once its subscriptions have stopped";
  auto error = c->error();
  ASSERT_TRUE(error.has_value()) << "the handler learns why it stopped";
  EXPECT_EQ(error->code(), ErrorCode::kStoreClosed) << error->ToString();
  // And a closed store takes no new subscription.
  auto late = store().Subscribe({.all = true}, std::make_shared<Collector>());
  EXPECT_FALSE(late);
}

}  // namespace
}  // namespace strata
