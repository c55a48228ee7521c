// Projections against a real store and a real redis-server: the fold of each kind, the sink
// contract (memory and Redis), verify catching what it must, and replay switching readers only to
// a complete model. Crashes, lost sink data and second writers: recovery_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "projection/memory_sink.h"
#include "projection/sinks/redis/redis_sink.h"
#include "projection/tests/projection_test_util.h"

namespace strata::projection {
namespace {

using testing::Append;
using testing::AppendGame;
using testing::Board;
using testing::OpenStore;
using testing::Recount;
using testing::RedisServer;
using testing::Spec;
using testing::TempDir;
using testing::WaitCaughtUp;

TEST(ProjectionSpec, RefusesBadDefinitionsWithAClearMessage) {
  auto expect_error = [](const std::string& json, const std::string& words) {
    auto s = ParseSpec(json);
    ASSERT_FALSE(s.has_value()) << json;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidConfig);
    EXPECT_NE(s.error().message().find(words), std::string::npos) << s.error().message();
  };
  expect_error(R"({"name":"a","kind":"avg"})", "kind 'avg' is not one of");
  expect_error(R"({"name":"a","kind":"sum"})", "needs field");
  expect_error(R"({"name":"A b","kind":"count"})", "name must be");
  expect_error(R"({"name":"a","colour":"red"})", "unknown key 'colour'");
  expect_error(R"({"name":"a","key":"user-id"})", "in braces");
  expect_error(R"({"name":"a","key":"user-{id}","key_field":"u"})", "either key");
  expect_error(R"({"name":"a","kind":"count","redis":"http://x"})", "redis://");
  expect_error(R"({"name":"a","kind":"leaderboard","score":"avg","field":"p"})", "score 'avg'");
  expect_error("not json", "not a JSON object");
  auto ok = ParseSpec(R"({"name":"lb","kind":"leaderboard","key":"user-{id}","field":"points"})");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->op, Op::kSum);
  EXPECT_EQ(ok->key_pattern->Match("user-42"), std::optional<std::string_view>("42"));
  EXPECT_FALSE(ok->key_pattern->Match("order-42").has_value());
}

TEST(ProjectionFold, EachKindMatchesAHandComputedModel) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  Append(*store, "user-1", "Scored", R"({"points": 10, "user": "alice", "level": {"n": 2}})");
  Append(*store, "user-1", "Scored", R"({"points": 5.5, "user": "alice", "level": {"n": 1}})");
  Append(*store, "user-2", "Scored", R"({"points": -3, "user": 7, "level": {"n": 9}})");
  Append(*store, "user-2", "Joined", R"({"user": 7})");
  Append(*store, "user-3", "Scored", R"({"points": "many", "user": "carol"})");  // not a number
  Append(*store, "order-1", "Scored", R"({"points": 1000, "user": "alice"})");   // not user-*
  Append(*store, "user-1", "Renamed", R"({"name": "Alice \"A\"", "tags": [1, 2]})");

  auto count = Spec(R"({"name":"c","kind":"count","key":"user-{id}"})");
  Model m = Recount(*store, count);
  EXPECT_EQ(m.numbers(), (std::unordered_map<std::string, double>{{"1", 3}, {"2", 2}, {"3", 1}}));

  auto scored = Spec(R"({"name":"c","kind":"count","key":"user-{id}","event_types":["Scored"]})");
  EXPECT_EQ(Recount(*store, scored).numbers(),
            (std::unordered_map<std::string, double>{{"1", 2}, {"2", 1}, {"3", 1}}));

  auto sum = Spec(R"({"name":"s","kind":"sum","key":"user-{id}","field":"points"})");
  EXPECT_EQ(Recount(*store, sum).numbers(),
            (std::unordered_map<std::string, double>{{"1", 15.5}, {"2", -3}}));

  auto min = Spec(R"({"name":"s","kind":"min","key_field":"user","field":"level.n"})");
  EXPECT_EQ(Recount(*store, min).numbers(),
            (std::unordered_map<std::string, double>{{"alice", 1}, {"7", 9}}));

  auto max = Spec(R"({"name":"s","kind":"max","streams":["user-","order-"],"key_field":"user",)"
                  R"("field":"points"})");
  EXPECT_EQ(Recount(*store, max).numbers(),
            (std::unordered_map<std::string, double>{{"alice", 1000}, {"7", -3}}));

  auto last = Spec(R"({"name":"l","kind":"last","key":"user-{id}"})");
  Model lm = Recount(*store, last);
  EXPECT_EQ(lm.texts().at("1"), R"({"name": "Alice \"A\"", "tags": [1, 2]})");
  EXPECT_EQ(lm.texts().at("2"), R"({"user": 7})");

  auto last_field = Spec(R"({"name":"l","kind":"last","key":"user-{id}","field":"user"})");
  Model lf = Recount(*store, last_field);
  EXPECT_EQ(lf.texts().at("1"), "\"alice\"");  // the Renamed event has no user: skipped
  EXPECT_EQ(lf.texts().at("2"), "7");

  auto board = Spec(R"({"name":"b","kind":"leaderboard","key":"user-{id}","field":"points",)"
                    R"("score":"max"})");
  Model bm = Recount(*store, board);
  EXPECT_EQ(bm.Top(2), (std::vector<std::pair<std::string, double>>{{"1", 10}, {"2", -3}}));

  auto one = Spec(R"({"name":"o","kind":"sum","stream":"user-2","field":"points"})");
  EXPECT_EQ(Recount(*store, one).numbers(),
            (std::unordered_map<std::string, double>{{"user-2", -3}}));
}

// --- The sink contract, against the in-memory sink and a real Redis.

class SinkContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      redis_ = std::make_unique<RedisServer>();
      auto a = ParseRedisUrl(redis_->url());
      ASSERT_TRUE(a.has_value());
      sink_ = std::make_unique<RedisSink>(*a, "test:p", Op::kSum);
    } else {
      sink_ = std::make_unique<MemorySink>(Op::kSum);
    }
  }
  static Model Delta(std::map<std::string, double> values) {
    Model m(Op::kSum);
    for (const auto& [k, v] : values) m.Apply(Update{k, v, {}});
    return m;
  }
  static SinkState After(uint64_t g, uint64_t checkpoint, uint64_t events) {
    SinkState s;
    s.generation = g;
    s.checkpoint = Position(checkpoint);
    s.events = events;
    s.fingerprint = "fp";
    return s;
  }
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Sink> sink_;
};

TEST_P(SinkContract, CommitAppliesTheDeltaAndTheCheckpointTogether) {
  auto g = sink_->NewGeneration();
  ASSERT_TRUE(g.has_value());
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 1}, {"b", 2.5}}), Position(0), After(*g, 10, 2)));
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 4}}), Position(10), After(*g, 25, 3)));
  auto st = sink_->State(*g);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->checkpoint, Position(25));
  EXPECT_EQ(st->events, 3u);
  EXPECT_EQ(st->fingerprint, "fp");
  ReadRequest req;
  req.keys = {"a", "b", "zz"};
  req.top = 1;
  req.all = true;
  auto r = sink_->Read(*g, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->cardinality, 2u);
  EXPECT_EQ(r->values[0], (Value{5, {}}));
  EXPECT_EQ(r->values[1], (Value{2.5, {}}));
  EXPECT_FALSE(r->values[2].has_value());
  EXPECT_EQ(r->top, (std::vector<std::pair<std::string, double>>{{"a", 5}}));
  EXPECT_EQ(r->all->numbers(), (std::unordered_map<std::string, double>{{"a", 5}, {"b", 2.5}}));
  EXPECT_EQ(r->state.checkpoint, Position(25));
}

TEST_P(SinkContract, AnAbsoluteCommitSetsWholeValues) {
  auto g = sink_->NewGeneration();
  ASSERT_TRUE(g.has_value());
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 1}, {"b", 2}}), Position(0), After(*g, 10, 2)));
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 7}}), Position(10), After(*g, 20, 3), /*absolute=*/true));
  ReadRequest req;
  req.keys = {"a", "b"};
  auto r = sink_->Read(*g, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->values[0], (Value{7, {}}));  // set, not added to
  EXPECT_EQ(r->values[1], (Value{2, {}}));
  EXPECT_EQ(r->state.checkpoint, Position(20));
}

TEST_P(SinkContract, ACommitFromAStaleCheckpointIsRefusedAndAppliesNothing) {
  auto g = sink_->NewGeneration();
  ASSERT_TRUE(g.has_value());
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 1}}), Position(0), After(*g, 10, 1)));
  // A second writer that still believes the checkpoint is 0 (a split brain).
  auto st = sink_->Commit(Delta({{"a", 100}}), Position(0), After(*g, 12, 2));
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kConflict) << st.error().ToString();
  ReadRequest req;
  req.keys = {"a"};
  auto r = sink_->Read(*g, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->values[0], (Value{1, {}}));
  EXPECT_EQ(r->state.checkpoint, Position(10));
}

TEST_P(SinkContract, PublishSwitchesReadersAndDropRemovesAGeneration) {
  auto cur = sink_->Current();
  ASSERT_TRUE(cur.has_value());
  EXPECT_EQ(*cur, 0u);
  auto g1 = sink_->NewGeneration(), g2 = sink_->NewGeneration();
  ASSERT_TRUE(g1 && g2);
  EXPECT_NE(*g1, *g2);
  ASSERT_TRUE(sink_->Publish(*g1));
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 1}}), Position(0), After(*g1, 5, 1)));
  ASSERT_TRUE(sink_->Commit(Delta({{"a", 2}}), Position(0), After(*g2, 5, 1)));
  EXPECT_EQ(*sink_->Current(), *g1);
  ASSERT_TRUE(sink_->Publish(*g2));
  EXPECT_EQ(*sink_->Current(), *g2);
  EXPECT_FALSE(sink_->Drop(*g2).has_value());  // the current one stays
  ASSERT_TRUE(sink_->Drop(*g1));
  auto r = sink_->Read(*g1, ReadRequest{});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->cardinality, 0u);
  EXPECT_EQ(r->state.checkpoint, Position(0));
}

TEST_P(SinkContract, AClaimFencesOutThePreviousOwnerAndKeepsTheModel) {
  auto g = sink_->NewGeneration();
  ASSERT_TRUE(g.has_value());
  auto a = sink_->Claim(*g, "writer-a", 0);
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  EXPECT_EQ(a->writer, "writer-a");
  EXPECT_EQ(a->epoch, 1u);
  EXPECT_EQ(a->checkpoint, Position(0));
  SinkState as_a = After(*g, 10, 1);
  as_a.writer = a->writer;
  as_a.epoch = a->epoch;
  ASSERT_TRUE(sink_->Commit(Delta({{"k", 1}}), Position(0), as_a));
  // A commit must carry its claim: the right checkpoint without the owner is refused.
  EXPECT_FALSE(sink_->Commit(Delta({{"k", 50}}), Position(10), After(*g, 11, 2)).has_value());

  auto b = sink_->Claim(*g, "writer-b", 0);  // takes over where writer-a left it
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->writer, "writer-b");
  EXPECT_EQ(b->epoch, 2u);
  EXPECT_EQ(b->checkpoint, Position(10));
  EXPECT_EQ(b->events, 1u);
  SinkState late_a = as_a;
  late_a.checkpoint = Position(20);
  auto refused = sink_->Commit(Delta({{"k", 100}}), Position(10), late_a);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict) << refused.error().ToString();
  SinkState as_b = After(*g, 20, 2);
  as_b.writer = b->writer;
  as_b.epoch = b->epoch;
  ASSERT_TRUE(sink_->Commit(Delta({{"k", 2}}), Position(10), as_b));

  auto st = sink_->State(*g);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->writer, "writer-b");
  EXPECT_EQ(st->epoch, 2u);
  EXPECT_EQ(st->checkpoint, Position(20));
  ReadRequest req;
  req.keys = {"k"};
  auto r = sink_->Read(*g, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->values[0], (Value{3, {}}));  // writer-a's 1, writer-b's 2, nothing refused
  // An epoch never goes back for a writer that has held a higher one (after a sink rollback).
  auto c = sink_->Claim(*g, "writer-a", 7);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->epoch, 8u);
}

TEST_P(SinkContract, AClaimRaisesTheGenerationCounter) {
  // A sink that lost its counter (and everything else) while a follower held generation 5.
  auto claimed = sink_->Claim(5, "w", 0);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->checkpoint, Position(0));
  auto fresh = sink_->NewGeneration();
  ASSERT_TRUE(fresh.has_value());
  EXPECT_GT(*fresh, 5u) << "a generation in use was handed out again";
}

INSTANTIATE_TEST_SUITE_P(Sinks, SinkContract, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// A model whose meta key was deleted is debris at checkpoint 0: a claim removes it, so that
// folding again from the start does not add to it. (The memory sink cannot lose one without the
// other.)
TEST(RedisSink, AClaimOfAGenerationWithoutStateClearsItsModel) {
  RedisServer redis;
  auto a = ParseRedisUrl(redis.url());
  ASSERT_TRUE(a.has_value());
  RedisSink sink(*a, "test:p", Op::kSum);
  Model delta(Op::kSum);
  delta.Apply(Update{"k", 4, {}});
  SinkState after;
  after.generation = 1;
  after.checkpoint = Position(3);
  ASSERT_TRUE(sink.Commit(delta, Position(0), after, false));
  redis.Do({"DEL", sink.MetaKey(1)});
  ASSERT_EQ(redis.GetInteger({"ZCARD", sink.ModelKey(1)}), 1);
  auto claimed = sink.Claim(1, "w", 0);
  ASSERT_TRUE(claimed.has_value()) << claimed.error().ToString();
  EXPECT_EQ(claimed->checkpoint, Position(0));
  EXPECT_EQ(redis.GetInteger({"ZCARD", sink.ModelKey(1)}), 0);
}

// --- The runtime with a real Redis.

TEST(ProjectionRuntime, RedisAndMemoryModelsEqualARecountKeyByKey) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 3000, 200, 1);
  std::vector<ProjectionSpec> specs = {
      Spec(Board(redis)),
      Spec(R"({"name":"joins","kind":"count","event_types":["Joined"],"key_field":"user",)"
           R"("redis":")" +
           redis.url() + R"(","flush_ms":50})"),
      Spec(R"({"name":"state","kind":"last","key":"user-{id}","redis":")" + redis.url() +
           R"(","flush_ms":50})")};
  auto rt = ProjectionRuntime::Start(store.get(), specs);
  ASSERT_TRUE(rt.has_value()) << rt.error().ToString();
  AppendGame(*store, 2000, 300, 2);  // some while it runs
  for (const auto& spec : specs) {
    WaitCaughtUp(**rt, *store, spec.name);
    for (const char* sink : {"memory", "redis"}) {
      auto rep = (*rt)->Verify(spec.name, sink, VerifyOptions{});
      ASSERT_TRUE(rep.has_value()) << rep.error().ToString();
      EXPECT_TRUE(rep->ok()) << rep->ToText();
      EXPECT_EQ(rep->compared_keys, rep->store_keys);
      EXPECT_GT(rep->store_keys, 100u);
    }
  }
  // The model in Redis is plain Redis data: a sorted set under the current generation.
  const std::string gen = redis.GetString({"GET", "strata:board:current"});
  ASSERT_FALSE(gen.empty());
  Model expected = Recount(*store, specs[0]);
  EXPECT_EQ(redis.GetInteger({"ZCARD", "strata:board:g" + gen + ":model"}),
            static_cast<long long>(expected.size()));
  auto top = (*rt)->Get("board", ReadRequest{{}, 3, false});
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->top, expected.Top(3));
}

TEST(ProjectionRuntime, VerifyCatchesADeletedKeyAnAlteredScoreAndALaggingCheckpoint) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 2000, 100, 3);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))});
  ASSERT_TRUE(rt.has_value());
  WaitCaughtUp(**rt, *store, "board");
  ASSERT_TRUE((*rt)->StopProjection("board"));
  auto clean = (*rt)->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(clean.has_value());
  ASSERT_TRUE(clean->ok()) << clean->ToText();

  const std::string model =
      "strata:board:g" + redis.GetString({"GET", "strata:board:current"}) + ":model";
  redis.Do({"ZREM", model, "7"});
  auto deleted = (*rt)->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(deleted.has_value());
  EXPECT_FALSE(deleted->ok());
  EXPECT_EQ(deleted->sink_keys + 1, deleted->store_keys) << deleted->ToText();
  ASSERT_EQ(deleted->mismatches.size(), 1u);
  EXPECT_EQ(deleted->mismatches[0].key, "7");
  EXPECT_FALSE(deleted->mismatches[0].sink.has_value());

  redis.Do({"ZADD", model, "0", "7"});
  redis.Do({"ZINCRBY", model, "1", "12"});
  auto altered = (*rt)->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(altered.has_value());
  EXPECT_FALSE(altered->ok());
  EXPECT_EQ(altered->mismatched_keys, 2u) << altered->ToText();  // 7 is 0 now, 12 is +1
  // A sample finds the altered keys only if it draws them; every key is drawn here.
  VerifyOptions sample;
  sample.sample = 1000;
  auto sampled = (*rt)->Verify("board", "redis", sample);
  ASSERT_TRUE(sampled.has_value());
  EXPECT_TRUE(sampled->sampled);
  EXPECT_EQ(sampled->mismatched_keys, 2u) << sampled->ToText();
  EXPECT_GT(sampled->detectable_fraction, 0.0);

  // Repair by replay, then let the store move on while the projection is stopped.
  ASSERT_TRUE((*rt)->Replay("board", "redis"));
  for (int i = 0; i < 500; ++i) {
    auto info = (*rt)->Info("board");
    if (!info->replays.empty() && info->replays.back().state == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  WaitCaughtUp(**rt, *store, "board");
  auto repaired = (*rt)->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(repaired.has_value());
  EXPECT_TRUE(repaired->ok()) << repaired->ToText();

  ASSERT_TRUE((*rt)->StopProjection("board"));
  AppendGame(*store, 50, 10, 4);
  VerifyOptions strict;
  strict.max_lag_positions = 10;
  auto lagging = (*rt)->Verify("board", "redis", strict);
  ASSERT_TRUE(lagging.has_value());
  EXPECT_FALSE(lagging->ok());
  EXPECT_EQ(lagging->lag_positions, 50u) << lagging->ToText();
  EXPECT_EQ(lagging->mismatched_keys, 0u);  // the model agrees as of its checkpoint
  strict.max_lag_positions = 50;
  auto allowed = (*rt)->Verify("board", "redis", strict);
  ASSERT_TRUE(allowed.has_value());
  EXPECT_TRUE(allowed->ok()) << allowed->ToText();
}

TEST(ProjectionRuntime, ReplaySwitchesReadersOnlyToACompleteModel) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  // count of every user event: the total over all keys only grows while the store grows.
  const std::string spec = R"({"name":"events","kind":"count","key":"user-{id}","redis":")" +
                           redis.url() + R"(","flush_ms":20,"flush_events":200})";
  AppendGame(*store, 5000, 500, 5);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(spec)});
  ASSERT_TRUE(rt.has_value());
  WaitCaughtUp(**rt, *store, "events");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    uint32_t seed = 100;
    while (!stop) AppendGame(*store, 20, 500, seed++);
  });
  // A reader as an application would read: the current generation, then its model.
  std::atomic<long long> regressions{0}, reads{0};
  std::set<std::string> generations;
  std::thread reader([&] {
    long long last_total = 0;
    while (!stop) {
      auto* r = redis.Command({"EVAL",
                               "local g = redis.call('GET', KEYS[1]) "
                               "local z = redis.call('ZRANGE', 'strata:events:g' .. g .. ':model', "
                               "0, -1, 'WITHSCORES') local t = 0 "
                               "for i = 2, #z, 2 do t = t + tonumber(z[i]) end return {g, t}",
                               "1", "strata:events:current"});
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        generations.insert(std::string(r->element[0]->str, r->element[0]->len));
        const long long total = r->element[1]->integer;
        if (total < last_total) ++regressions;
        last_total = total;
        ++reads;
      }
      if (r) freeReplyObject(r);
    }
  });
  ASSERT_TRUE((*rt)->Replay("events", ""));
  bool done = false;
  for (int i = 0; i < 1500 && !done; ++i) {
    auto info = (*rt)->Info("events");
    done = info->replays.size() == 2 && info->replays[0].state == "done" &&
           info->replays[1].state == "done";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  writer.join();
  reader.join();
  ASSERT_TRUE(done) << InfoJson(*(*rt)->Info("events"));
  EXPECT_EQ(regressions.load(), 0) << "a reader saw the total go down: a half-built model";
  EXPECT_GE(generations.size(), 2u) << "the readers never saw the switch";
  EXPECT_GT(reads.load(), 10);
  WaitCaughtUp(**rt, *store, "events");
  for (const char* sink : {"memory", "redis"}) {
    auto rep = (*rt)->Verify("events", sink, VerifyOptions{});
    ASSERT_TRUE(rep.has_value());
    EXPECT_TRUE(rep->ok()) << rep->ToText();
    EXPECT_EQ(rep->generation, 2u);
  }
}

}  // namespace
}  // namespace strata::projection
