// Store behaviour: appends, optimistic concurrency, idempotency, deletes, metadata, reads,
// restart recovery and bad input. Every test runs against a real RocksDB in a temp directory.
#include "storage/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "storage/tests/test_util.h"
#include "storage/warm/warm_shard.h"

namespace strata {
namespace {
using testing::Event;
using testing::Req;
using testing::SmallOptions;
using testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(StoreOptions o) {
    store_.reset();
    auto s = Store::Open(o);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  void Open() { Open(SmallOptions(dir_.path())); }
  void Reopen() {
    store_.reset();
    Open();
  }
  std::vector<RecordedEvent> ReadAllOf(const std::string& stream) {
    auto r = store_->ReadStream({stream, Direction::kForwards, std::nullopt, 100000});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->events : std::vector<RecordedEvent>{};
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

// What a process killed while creating a store leaves since STRATA is written last (the crash
// test found the old order under ASan, where start-up is slow: STRATA written, a shard missing,
// and the store could not be reopened): no STRATA, some shards. That is not a store, and the
// next open creates it anew. (The kill itself is exercised by the crash test, not here.)
TEST_F(StoreTest, AStoreKilledWhileBeingCreatedIsCreatedAnewNotHalfOpened) {
  store_.reset();
  namespace fs = std::filesystem;
  const fs::path dir(dir_.path());
  fs::remove(dir / "STRATA");
  fs::remove_all(dir / "shard-001" / "db");  // this shard was never created
  auto o = SmallOptions(dir_.path());
  o.create_if_missing = false;
  auto missing = Store::Open(o);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidConfig) << missing.error().ToString();
  Open();
  ASSERT_TRUE(store_->Append(Req("s", ExpectedRevision::NoStream(), {Event()})));
  EXPECT_TRUE(fs::exists(dir / "STRATA"));
  Reopen();
  EXPECT_EQ(ReadAllOf("s").size(), 1u);
}

TEST_F(StoreTest, AppendsGetConsecutiveRevisionsAndIncreasingPositions) {
  auto a = store_->Append(Req("order-1", ExpectedRevision::NoStream(), {Event(), Event()}));
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->first_revision, Revision(0));
  EXPECT_EQ(a->last_revision, Revision(1));
  EXPECT_EQ(a->last_position.value(), a->first_position.value() + 1);
  auto b = store_->Append(Req("order-1", ExpectedRevision::Exact(Revision(1)), {Event()}));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_revision, Revision(2));
  EXPECT_GT(b->first_position, a->last_position);
  auto events = ReadAllOf("order-1");
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(events[i].revision, Revision(i));
}

TEST_F(StoreTest, EveryExpectedRevisionModeIsEnforced) {
  using K = ExpectedRevision;
  EXPECT_FALSE(store_->Append(Req("s", K::StreamExists(), {Event()})));
  EXPECT_FALSE(store_->Append(Req("s", K::Exact(Revision(0)), {Event()})));
  EXPECT_TRUE(store_->Append(Req("s", K::NoStream(), {Event()})));
  auto again = store_->Append(Req("s", K::NoStream(), {Event()}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kWrongExpectedRevision);
  ASSERT_TRUE(again.error().actual_revision.has_value());
  EXPECT_EQ(*again.error().actual_revision, 0u);
  EXPECT_TRUE(store_->Append(Req("s", K::StreamExists(), {Event()})));
  EXPECT_TRUE(store_->Append(Req("s", K::Any(), {Event()})));
  auto wrong = store_->Append(Req("s", K::Exact(Revision(1)), {Event()}));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongExpectedRevision);
  EXPECT_EQ(*wrong.error().actual_revision, 2u) << "reports the actual revision";
  EXPECT_TRUE(store_->Append(Req("s", K::Exact(Revision(2)), {Event()})));
  EXPECT_EQ(ReadAllOf("s").size(), 4u);
}

TEST_F(StoreTest, RetryWithSameIdsReturnsTheOriginalResultAndWritesNothing) {
  for (auto expected : {ExpectedRevision::NoStream(), ExpectedRevision::Any(),
                        ExpectedRevision::StreamExists(), ExpectedRevision::Exact(Revision(1))}) {
    std::string stream = "idem-" + expected.ToString();
    if (expected.kind() != ExpectedRevision::Kind::kNoStream) {
      ASSERT_TRUE(store_->Append(Req(stream, ExpectedRevision::NoStream(), {Event(), Event()})));
    }
    auto req = Req(stream, expected, {Event(), Event(), Event()});
    auto first = store_->Append(req);
    ASSERT_TRUE(first) << expected.ToString() << ": " << first.error().ToString();
    auto retry = store_->Append(req);
    ASSERT_TRUE(retry) << expected.ToString() << ": " << retry.error().ToString();
    EXPECT_TRUE(retry->deduplicated);
    EXPECT_EQ(retry->first_position, first->first_position);
    EXPECT_EQ(retry->first_revision, first->first_revision);
    EXPECT_EQ(retry->last_revision, first->last_revision);
  }
  EXPECT_EQ(ReadAllOf("idem-no_stream").size(), 3u);
  EXPECT_EQ(ReadAllOf("idem-any").size(), 5u);
}

TEST_F(StoreTest, IdempotencySurvivesRestartAndIndexing) {
  auto req = Req("order-9", ExpectedRevision::Any(), {Event(), Event()});
  auto first = store_->Append(req);
  ASSERT_TRUE(first);
  Reopen();
  for (auto expected : {ExpectedRevision::Any(), ExpectedRevision::NoStream()}) {
    req.expected = expected;
    auto retry = store_->Append(req);
    ASSERT_TRUE(retry) << retry.error().ToString();
    EXPECT_TRUE(retry->deduplicated);
    EXPECT_EQ(retry->first_position, first->first_position);
  }
  EXPECT_EQ(ReadAllOf("order-9").size(), 2u);
}

TEST_F(StoreTest, RetryInTheSameGroupCommitIsStillDeduplicated) {
  auto req = Req("burst", ExpectedRevision::Any(), {Event()});
  std::vector<std::thread> threads;
  std::vector<Result<AppendResult>> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { results[i] = store_->Append(req); });
  }
  for (auto& t : threads) t.join();
  int written = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r) << r.error().ToString();
    if (!r->deduplicated) ++written;
    EXPECT_EQ(r->first_position, results[0]->first_position);
  }
  EXPECT_EQ(written, 1);
  EXPECT_EQ(ReadAllOf("burst").size(), 1u);
}

// Found by `strata stress`: a no_stream append that re-opened a soft-deleted stream put its
// events after the old ones, so a retry must find them by id, not at revision 0 — and must not
// write them again once the stream is soft-deleted a second time.
TEST_F(StoreTest, RetryOfAnAppendThatReopenedASoftDeletedStreamIsDeduplicated) {
  ASSERT_TRUE(store_->Append(Req("re", ExpectedRevision::Any(), {Event(), Event()})));
  ASSERT_TRUE(store_->Delete({"re", ExpectedRevision::Any(), false}));
  auto req = Req("re", ExpectedRevision::NoStream(), {Event()});
  auto first = store_->Append(req);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first_revision, Revision(2));
  auto retry = store_->Append(req);
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_TRUE(retry->deduplicated);
  ASSERT_TRUE(store_->Delete({"re", ExpectedRevision::Any(), false}));
  auto again = store_->Append(req);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->first_position, first->first_position);
}

TEST_F(StoreTest, RetriesOutsideTheIdempotencyWindowAreNewAppends) {
  ManualClock clock(1'700'000'000'000'000);
  auto o = SmallOptions(dir_.path());
  o.clock = &clock;
  o.idempotency_window = std::chrono::hours(1);
  Open(o);
  auto req = Req("late", ExpectedRevision::Any(), {Event()});
  ASSERT_TRUE(store_->Append(req));
  clock.Advance(std::chrono::minutes(59));
  auto within = store_->Append(req);
  ASSERT_TRUE(within);
  EXPECT_TRUE(within->deduplicated);
  clock.Advance(std::chrono::minutes(2));
  auto after = store_->Append(req);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->deduplicated) << "61 minutes later the window has passed";
  EXPECT_EQ(ReadAllOf("late").size(), 2u);
  store_.reset();  // its threads use the clock, which dies with this scope
}

TEST_F(StoreTest, AFullQueueAnswersServerBusyAtTheDeadlineAndLosesNothingAcknowledged) {
  store_.reset();
  TempDir own;  // one shard: a new store
  auto o = SmallOptions(own.path());
  o.shards = 1;
  o.max_queued_appends = 1;
  Open(o);
  constexpr int kAppends = 2000;
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAppends / 4; ++i) {
        auto r = Req("busy", ExpectedRevision::Any(), {Event()});
        r.deadline = std::chrono::steady_clock::now();  // do not wait for space
        store_->AppendAsync(std::move(r), [&](Result<AppendResult> res) {
          if (res) {
            ok++;
          } else if (res.error().code() == ErrorCode::kServerBusy) {
            busy++;
          } else {
            other++;
          }
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  while (ok + busy + other < kAppends) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(busy.load(), 0) << "a queue of one must turn some appends away";
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ReadAllOf("busy").size(), static_cast<size_t>(ok.load()))
      << "every acknowledged append is there, nothing else";
  store_.reset();
}

TEST_F(StoreTest, EvictedStreamHeadsAreReloadedWithTheirStateIntact) {
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.max_cached_streams = 10;
  Open(o);
  std::vector<AppendRequest> firsts;
  for (int i = 0; i < 60; ++i) {
    auto r = Req("e-" + std::to_string(i), ExpectedRevision::NoStream(), {Event(), Event()});
    ASSERT_TRUE(store_->Append(r));
    firsts.push_back(r);
  }
  ASSERT_TRUE(store_->Append(
      Req("$$e-3", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount": 1})")})));
  // Let the indexer flush, then let an append trigger a sweep (at most one a second).
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_TRUE(store_->Append(Req("trigger", ExpectedRevision::Any(), {Event()})));
  for (int i = 0; i < 60; ++i) {
    std::string name = "e-" + std::to_string(i);
    auto next = store_->Append(Req(name, ExpectedRevision::Exact(Revision(1)), {Event()}));
    ASSERT_TRUE(next) << name << ": " << next.error().ToString();
    EXPECT_EQ(next->first_revision, Revision(2));
    auto retry = store_->Append(firsts[i]);
    ASSERT_TRUE(retry) << retry.error().ToString();
    EXPECT_TRUE(retry->deduplicated) << name;
  }
  EXPECT_EQ(ReadAllOf("e-3").size(), 1u) << "metadata survived eviction";
  EXPECT_EQ(ReadAllOf("e-4").size(), 3u);
}

TEST_F(StoreTest, IdempotencyOnAHotStreamWithALongUnindexedTail) {
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.index_flush_events = 1u << 20;  // keep everything in the tail
  o.index_flush_interval = std::chrono::seconds(60);
  Open(o);
  std::vector<AppendRequest> reqs;
  for (int i = 0; i < 3000; ++i) {
    reqs.push_back(Req("hot-any", ExpectedRevision::Any(), {Event()}));
    ASSERT_TRUE(store_->Append(reqs.back()));
  }
  for (int i : {0, 1, 1500, 2999}) {
    auto r = store_->Append(reqs[i]);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(r->deduplicated) << i;
    EXPECT_EQ(r->first_revision, Revision(i));
  }
  EXPECT_EQ(ReadAllOf("hot-any").size(), 3000u);
}

TEST_F(StoreTest, PartialOverlapIsAClearError) {
  auto a = Event(), b = Event();
  ASSERT_TRUE(store_->Append(Req("p", ExpectedRevision::Any(), {a})));
  auto r = store_->Append(Req("p", ExpectedRevision::Any(), {a, b}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIdempotencyConflict);
  EXPECT_NE(r.error().message().find("1 of the 2"), std::string::npos) << r.error().message();
  EXPECT_EQ(ReadAllOf("p").size(), 1u);
}

TEST_F(StoreTest, SoftDeleteHidesTheStreamUntilItIsAppendedAgain) {
  ASSERT_TRUE(store_->Append(Req("cart-1", ExpectedRevision::Any(), {Event(), Event()})));
  ASSERT_TRUE(store_->Delete({"cart-1", ExpectedRevision::Exact(Revision(1)), false}));
  auto r = store_->ReadStream({"cart-1"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kStreamNotFound);
  auto reopened = store_->Append(Req("cart-1", ExpectedRevision::NoStream(), {Event()}));
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  EXPECT_EQ(reopened->first_revision, Revision(2)) << "re-opens at last revision + 1";
  auto events = ReadAllOf("cart-1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, Revision(2));
  Reopen();
  EXPECT_EQ(ReadAllOf("cart-1").size(), 1u) << "the deletion survives restart";
}

TEST_F(StoreTest, TombstoneIsFinal) {
  ASSERT_TRUE(store_->Append(Req("gone", ExpectedRevision::Any(), {Event()})));
  auto wrong = store_->Delete({"gone", ExpectedRevision::Exact(Revision(5)), true});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongExpectedRevision);
  ASSERT_TRUE(store_->Delete({"gone", ExpectedRevision::Any(), true}));
  for (int round = 0; round < 2; ++round) {
    auto a = store_->Append(Req("gone", ExpectedRevision::Any(), {Event()}));
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), ErrorCode::kStreamDeleted);
    auto r = store_->ReadStream({"gone"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kStreamDeleted);
    auto meta = store_->Append(Req("$$gone", ExpectedRevision::Any(), {Event("$metadata", "{}")}));
    EXPECT_FALSE(meta);
    Reopen();
  }
}

TEST_F(StoreTest, MetadataMaxCountAndTruncateBeforeAreEnforcedOnReads) {
  std::vector<EventData> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(Event());
  ASSERT_TRUE(store_->Append(Req("m", ExpectedRevision::Any(), ten)));
  ASSERT_TRUE(store_->Append(
      Req("$$m", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount": 3})")})));
  auto events = ReadAllOf("m");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.front().revision, Revision(7));
  ASSERT_TRUE(store_->Append(
      Req("$$m", ExpectedRevision::Any(), {Event("$metadata", R"({"$tb": 9, "owner": "x"})")})));
  events = ReadAllOf("m");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events.front().revision, Revision(9));
  auto back = store_->ReadStream({"m", Direction::kBackwards, std::nullopt, 1});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 1u);
  EXPECT_EQ(back->events[0].revision, Revision(9));
  Reopen();
  EXPECT_EQ(ReadAllOf("m").size(), 1u) << "metadata survives restart";
  // The metadata stream itself reads like any stream.
  EXPECT_EQ(ReadAllOf("$$m").size(), 2u);
}

TEST_F(StoreTest, MetadataMaxAgeHidesOldEvents) {
  ManualClock clock(1'700'000'000'000'000);
  auto o = SmallOptions(dir_.path());
  o.clock = &clock;
  Open(o);
  ASSERT_TRUE(store_->Append(Req("aged", ExpectedRevision::Any(), {Event()})));
  clock.Advance(std::chrono::seconds(100));
  ASSERT_TRUE(store_->Append(Req("aged", ExpectedRevision::Any(), {Event()})));
  ASSERT_TRUE(store_->Append(
      Req("$$aged", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxAge": 50})")})));
  auto events = ReadAllOf("aged");
  EXPECT_EQ(events.size(), 1u);
  if (!events.empty()) {
    EXPECT_EQ(events[0].revision, Revision(1));
  }
  store_.reset();  // its threads use the clock, which dies with this scope
}

TEST_F(StoreTest, InvalidMetadataIsRejected) {
  auto r = store_->Append(
      Req("$$x", ExpectedRevision::Any(), {Event("$metadata", R"({"$maxCount": "ten"})")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("$maxCount"), std::string::npos);
}

TEST_F(StoreTest, ReadsStreamsForwardsAndBackwardsFromARevision) {
  std::vector<EventData> evs;
  for (int i = 0; i < 20; ++i) evs.push_back(Event());
  ASSERT_TRUE(store_->Append(Req("r", ExpectedRevision::Any(), evs)));
  auto fwd = store_->ReadStream({"r", Direction::kForwards, Revision(5), 4});
  ASSERT_TRUE(fwd);
  ASSERT_EQ(fwd->events.size(), 4u);
  EXPECT_EQ(fwd->events[0].revision, Revision(5));
  EXPECT_EQ(fwd->next, Revision(9));
  EXPECT_FALSE(fwd->end_of_stream);
  auto bwd = store_->ReadStream({"r", Direction::kBackwards, Revision(5), 10});
  ASSERT_TRUE(bwd);
  ASSERT_EQ(bwd->events.size(), 6u);
  EXPECT_EQ(bwd->events[0].revision, Revision(5));
  EXPECT_EQ(bwd->events[5].revision, Revision(0));
  EXPECT_TRUE(bwd->end_of_stream);
  auto past = store_->ReadStream({"r", Direction::kForwards, Revision(50), 10});
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->events.empty());
  EXPECT_TRUE(past->end_of_stream);
}

TEST_F(StoreTest, ReadAllFiltersAndPagesInBothDirections) {
  ASSERT_TRUE(store_->Append(Req("order-1", ExpectedRevision::Any(), {Event("OrderPlaced")})));
  ASSERT_TRUE(store_->Append(Req("user-1", ExpectedRevision::Any(), {Event("UserJoined")})));
  ASSERT_TRUE(store_->Append(Req("order-2", ExpectedRevision::Any(), {Event("OrderShipped")})));
  ReadAllRequest all;
  auto r = store_->ReadAll(all);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_TRUE(r->end);
  for (size_t i = 1; i < r->events.size(); ++i)
    EXPECT_GT(r->events[i].position, r->events[i - 1].position);

  ReadAllRequest by_stream;
  by_stream.filter.stream_prefixes = {"order-"};
  EXPECT_EQ(store_->ReadAll(by_stream)->events.size(), 2u);
  ReadAllRequest by_type;
  by_type.filter.type_prefixes = {"User"};
  EXPECT_EQ(store_->ReadAll(by_type)->events.size(), 1u);
  ReadAllRequest by_regex;
  by_regex.filter.type_regex = "Shipped$";
  EXPECT_EQ(store_->ReadAll(by_regex)->events.size(), 1u);
  ReadAllRequest bad_regex;
  bad_regex.filter.stream_regex = "([";
  auto bad = store_->ReadAll(bad_regex);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);

  ReadAllRequest back;
  back.direction = Direction::kBackwards;
  back.max_count = 2;
  auto b = store_->ReadAll(back);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_EQ(b->events[0].stream, "order-2");
  EXPECT_FALSE(b->end);
  back.from = b->next;
  auto b2 = store_->ReadAll(back);
  ASSERT_TRUE(b2);
  ASSERT_EQ(b2->events.size(), 1u);
  EXPECT_EQ(b2->events[0].stream, "order-1");

  ReadAllRequest page;
  page.max_count = 2;
  auto p1 = store_->ReadAll(page);
  ASSERT_EQ(p1->events.size(), 2u);
  page.from = p1->next;
  auto p2 = store_->ReadAll(page);
  ASSERT_EQ(p2->events.size(), 1u);
  EXPECT_EQ(p2->events[0].stream, "order-2");
}

TEST_F(StoreTest, RestartRecoversHeadsPositionsAndEvents) {
  Position last;
  for (int i = 0; i < 50; ++i) {
    auto r = store_->Append(Req("s-" + std::to_string(i % 5), ExpectedRevision::Any(), {Event()}));
    ASSERT_TRUE(r);
    last = r->last_position;
  }
  Reopen();
  // The sequencer continues after its durable reservation: positions are never reused, so the
  // next one may be further on than last + 1 (docs/positions-and-watermark.md).
  EXPECT_GE(store_->Watermark(), last.Next());
  auto next = store_->Append(Req("s-0", ExpectedRevision::Exact(Revision(9)), {Event()}));
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_GT(next->first_position, last);
  EXPECT_EQ(ReadAllOf("s-0").size(), 11u);
  auto all = store_->ReadAll({});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->events.size(), 51u);
  EXPECT_EQ(all->events.back().position, next->first_position);
}

TEST_F(StoreTest, BadInputGetsStableCodesAndActionableMessages) {
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
      {Req("ok", ExpectedRevision::Any(), {huge}), ErrorCode::kEventTooLarge},
      {Req("ok", ExpectedRevision::Any(), {dup, dup}), ErrorCode::kInvalidArgument},
      {Req("ok", ExpectedRevision::Exact(Revision(kTombstoneRevision)), {Event()}),
       ErrorCode::kInvalidExpectedRevision},
  };
  for (auto& c : cases) {
    auto r = store_->Append(c.req);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), c.code) << r.error().ToString();
    EXPECT_GT(r.error().message().size(), 20u);
  }
  EXPECT_FALSE(store_->ReadStream({"ok"})) << "nothing was written";
}

TEST_F(StoreTest, ReopeningWithADifferentShardCountIsRefused) {
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.shards = 3;
  auto s = Store::Open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().message().find("2 shards"), std::string::npos);
}

TEST_F(StoreTest, CorruptRecordsAreReportedNotServed) {
  auto r = store_->Append(Req("c", ExpectedRevision::Any(), {Event()}));
  ASSERT_TRUE(r);
  store_.reset();
  // Fault injection: overwrite the record at that position with a record whose bytes were
  // damaged after its checksum was computed, in whichever shard holds it.
  auto o = SmallOptions(dir_.path());
  auto shared = warm::SharedResources::Create(o.warm);
  for (int shard = 0; shard < 2; ++shard) {
    auto w =
        warm::WarmShard::Open(dir_.path() + "/shard-00" + std::to_string(shard) + "/db", o, shared);
    ASSERT_TRUE(w);
    auto rec = (*w)->GetRecord(r->first_position);
    ASSERT_TRUE(rec);
    if (!*rec) continue;
    std::string damaged = **rec;
    damaged[damaged.size() - 2] ^= 0x01;
    ASSERT_TRUE((*w)->WriteRecords({{r->first_position, damaged}}, true));
  }
  Open();
  auto read = store_->ReadStream({"c"});
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), ErrorCode::kCorruption);
  auto all = store_->ReadAll({});
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code(), ErrorCode::kCorruption);
}

TEST_F(StoreTest, ConcurrentAppendersToOneStreamNeverShareARevision) {
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (store_->Append(Req("hot", ExpectedRevision::Any(), {Event()}))) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  auto events = ReadAllOf("hot");
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].revision, Revision(i));
}

TEST_F(StoreTest, AsyncDurabilityAcknowledgesAndSurvivesAProcessRestart) {
  store_.reset();
  auto o = SmallOptions(dir_.path());
  o.durability = Durability::kAsync;
  Open(o);
  ASSERT_TRUE(store_->Append(Req("a", ExpectedRevision::Any(), {Event(), Event()})));
  Reopen();
  EXPECT_EQ(ReadAllOf("a").size(), 2u);
}

}  // namespace
}  // namespace strata
