// A sink that loses data heals itself; a second writer is stopped. Against a real store and a real
// redis-server: Redis killed during flushes, Redis answering LOADING after a restart, Redis coming
// back empty or rolled back, a server restarting, and two servers on one projection
// (docs/projections.md, "Exactly once").
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "projection/follower.h"
#include "projection/tests/projection_test_util.h"

namespace strata::projection {
namespace {

using testing::AppendGame;
using testing::Board;
using testing::OpenStore;
using testing::RedisFollower;
using testing::RedisServer;
using testing::RestoreSinkState;
using testing::SaveSinkState;
using testing::Spec;
using testing::TempDir;
using testing::WaitCaughtUp;

SinkState Owned(const std::string& writer, uint64_t epoch, uint64_t checkpoint,
                uint64_t events = 0) {
  SinkState s;
  s.writer = writer;
  s.epoch = epoch;
  s.checkpoint = Position(checkpoint);
  s.events = events;
  return s;
}

TEST(ProjectionFollower, JudgeTellsASinkThatLostDataFromASecondWriter) {
  const SinkState mine = Owned("a", 3, 100, 50);
  const SinkState attempted = Owned("a", 3, 120, 60);
  EXPECT_EQ(Judge(mine, mine, nullptr), Verdict::kUnchanged);
  EXPECT_EQ(Judge(attempted, mine, &attempted), Verdict::kApplied);
  // Lost: this writer's own older commit, a state from before its claim, or no state at all.
  EXPECT_EQ(Judge(Owned("a", 3, 80), mine, &attempted), Verdict::kRolledBack);
  EXPECT_EQ(Judge(Owned("old-incarnation", 2, 60), mine, nullptr), Verdict::kRolledBack);
  EXPECT_EQ(Judge(SinkState{}, mine, &attempted), Verdict::kRolledBack);
  // Another writer: one that claimed after this one (same epoch after a loss, or a higher one),
  // or one that advanced the checkpoint under this writer's claim.
  EXPECT_EQ(Judge(Owned("b", 4, 100), mine, nullptr), Verdict::kTakenOver);
  EXPECT_EQ(Judge(Owned("b", 3, 100), mine, nullptr), Verdict::kTakenOver);
  EXPECT_EQ(Judge(Owned("a", 3, 130, 70), mine, &attempted), Verdict::kTakenOver);
}

// Waits until `done(follower)` holds for the Redis follower of `name`.
template <class Pred>
bool WaitFor(ProjectionRuntime& rt, const std::string& name, Pred done,
             std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(RedisFollower(rt, name))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void ExpectVerifies(ProjectionRuntime& rt, const std::string& name = "board") {
  auto rep = rt.Verify(name, "redis", VerifyOptions{});
  ASSERT_TRUE(rep.has_value()) << rep.error().ToString();
  EXPECT_TRUE(rep->ok()) << rep->ToText();
}

TEST(ProjectionRuntime, ARedisCrashNeitherLosesNorDoublesAnEvent) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  RuntimeOptions ro;
  ro.redis_timeout = std::chrono::milliseconds(500);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))}, ro);
  ASSERT_TRUE(rt.has_value());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    uint32_t seed = 10;
    while (!stop) AppendGame(*store, 50, 100, seed++);
  });
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    redis.Stop(SIGKILL);  // mid-flush, most likely: commits run every 50 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    redis.Start();
  }
  stop = true;
  writer.join();
  WaitCaughtUp(**rt, *store, "board", std::chrono::seconds(60));
  const FollowerStatus f = RedisFollower(**rt, "board");
  EXPECT_GT(f.errors, 0u) << "the crashes were not noticed";
  // appendfsync always: a SIGKILL loses nothing acknowledged, so nothing may look lost either.
  EXPECT_EQ(f.rollbacks, 0u) << f.last_error;
  ExpectVerifies(**rt);
}

// Waits until an AOF rewrite (BGREWRITEAOF) has finished and its manifest is in place.
void WaitForAofRewrite(RedisServer& redis) {
  for (int i = 0; i < 3000; ++i) {
    const std::string info = redis.GetString({"INFO", "persistence"});
    if (info.find("aof_rewrite_in_progress:0") != std::string::npos &&
        info.find("aof_rewrite_scheduled:0") != std::string::npos) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "BGREWRITEAOF did not finish";
}

// The field report's flake: a Redis restarted after a crash answers LOADING until it has read
// its AOF, and WATCH is served while loading but HGET is not; an error reply read as checkpoint 0
// looked like another writer and stopped the follower. Here loading lasts seconds (filler keys,
// each loaded slowly), so the follower's retries (100, 200, 400, 800 ms…) certainly meet it.
TEST(ProjectionRuntime, ARedisStillLoadingItsDataIsWaitedForNotTakenForASecondWriter) {
  TempDir dir;
  RedisServer redis({"--enable-debug-command", "local"});
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 1000, 100, 31);
  RuntimeOptions ro;
  ro.redis_timeout = std::chrono::milliseconds(500);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))}, ro);
  ASSERT_TRUE(rt.has_value());
  WaitCaughtUp(**rt, *store, "board");
  redis.Do({"DEBUG", "POPULATE", "6000", "filler", "64"});
  redis.Do({"BGREWRITEAOF"});  // the filler goes into the AOF's base, which a restart loads
  WaitForAofRewrite(redis);
  redis.set_extra_args({"--enable-debug-command", "local", "--key-load-delay", "250",
                        "--loading-process-events-interval-bytes", "1024"});
  redis.Stop(SIGKILL);
  // Commits to make while Redis is away and then loading (about 2.5 s: 6000 keys at 250 µs and
  // more): the retries back off from 100 ms, so several of them fall into the loading.
  std::thread appender([&] { AppendGame(*store, 500, 100, 32); });
  std::atomic<bool> stop{false}, saw_loading{false};
  std::thread watcher([&] {
    while (!stop) {
      if (RedisFollower(**rt, "board").last_error.find("LOADING") != std::string::npos) {
        saw_loading = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  redis.Start();  // returns once the data is loaded and PING answers
  appender.join();
  stop = true;
  watcher.join();
  EXPECT_TRUE(saw_loading) << "the follower never met Redis loading: nothing was tested";
  WaitCaughtUp(**rt, *store, "board");
  EXPECT_EQ(RedisFollower(**rt, "board").rollbacks, 0u) << "nothing was lost";
  ExpectVerifies(**rt);
}

// A Redis whose disk is lost comes back with nothing: no model, no meta, no `current`, no
// generation counter. The follower sees a state with no owner (a loss, not a writer), refolds its
// generation from the start of the store, puts `current` back and raises the counter.
TEST(ProjectionRuntime, RedisComingBackEmptyIsRefoldedFromTheStore) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 2000, 100, 41);
  RuntimeOptions ro;
  ro.redis_timeout = std::chrono::milliseconds(500);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))}, ro);
  ASSERT_TRUE(rt.has_value());
  WaitCaughtUp(**rt, *store, "board");
  const std::string g = redis.GetString({"GET", "strata:board:current"});
  ASSERT_FALSE(g.empty());
  const uint64_t epoch_before = RedisFollower(**rt, "board").epoch;
  EXPECT_EQ(RedisFollower(**rt, "board").rollbacks, 0u);
  redis.Stop(SIGKILL);
  redis.Wipe();
  redis.Start();
  AppendGame(*store, 500, 100, 42);
  ASSERT_TRUE(WaitFor(**rt, "board", [](const FollowerStatus& f) {
    return f.rollbacks > 0 || f.state == "failed";
  }));
  const FollowerStatus noticed = RedisFollower(**rt, "board");
  ASSERT_NE(noticed.state, "failed") << noticed.last_error;
  WaitCaughtUp(**rt, *store, "board");
  for (int i = 0; i < 500 && redis.GetString({"GET", "strata:board:current"}) != g; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(redis.GetString({"GET", "strata:board:current"}), g) << "readers have no model";
  const std::string next = redis.GetString({"GET", "strata:board:next"});
  ASSERT_FALSE(next.empty());
  EXPECT_GE(std::stoull(next), std::stoull(g)) << "a generation in use could be handed out again";
  const FollowerStatus f = RedisFollower(**rt, "board");
  EXPECT_EQ(f.state, "live");
  EXPECT_GT(f.epoch, epoch_before);
  EXPECT_EQ(f.last_error.find("conflict"), std::string::npos) << f.last_error;
  auto rep = (*rt)->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(rep.has_value()) << rep.error().ToString();
  EXPECT_TRUE(rep->ok()) << rep->ToText();
  EXPECT_EQ(rep->generation, std::stoull(g));
  EXPECT_EQ(rep->compared_keys, rep->store_keys);
}

// A Redis that loses its last commits (an OS crash under appendfsync everysec) rolls the model
// and the checkpoint back together; the follower notices the checkpoint went back and folds again
// from there, so the model ends up equal to the store.
TEST(ProjectionRuntime, ASinkThatRollsBackIsRefoldedFromItsOlderCheckpoint) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 1000, 100, 11);
  auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))});
  ASSERT_TRUE(rt.has_value());
  WaitCaughtUp(**rt, *store, "board");
  const std::string g = redis.GetString({"GET", "strata:board:current"});
  const std::string model = "strata:board:g" + g + ":model", meta = "strata:board:g" + g + ":meta";
  // The state Redis would come back with: copies of both keys, taken together.
  SaveSinkState(redis, model, meta);
  AppendGame(*store, 1000, 100, 12);
  WaitCaughtUp(**rt, *store, "board");
  RestoreSinkState(redis, model, meta);
  AppendGame(*store, 100, 100, 13);  // the next commit finds the older checkpoint
  ASSERT_TRUE(WaitFor(**rt, "board", [](const FollowerStatus& f) { return f.rollbacks > 0; }));
  WaitCaughtUp(**rt, *store, "board");
  ExpectVerifies(**rt);
}

// A server that restarts is a new writer: it claims the generation from its previous incarnation
// (gone) without a conflict. If Redis then loses that claim, the state it comes back with carries
// the older epoch: a loss, refolded, not a second writer.
TEST(ProjectionRuntime, ARestartedServerTakesOverFromItsPreviousIncarnationEvenAfterARollback) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 1000, 100, 51);
  std::string model, meta, first_writer;
  {
    auto first = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))});
    ASSERT_TRUE(first.has_value());
    WaitCaughtUp(**first, *store, "board");
    const std::string g = redis.GetString({"GET", "strata:board:current"});
    model = "strata:board:g" + g + ":model";
    meta = "strata:board:g" + g + ":meta";
    first_writer = redis.GetString({"HGET", meta, "writer"});
    SaveSinkState(redis, model, meta);
  }  // the first incarnation is gone
  AppendGame(*store, 1000, 100, 52);
  auto second = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))});
  ASSERT_TRUE(second.has_value());
  WaitCaughtUp(**second, *store, "board");
  const FollowerStatus took_over = RedisFollower(**second, "board");
  EXPECT_NE(took_over.writer, first_writer);
  EXPECT_EQ(redis.GetString({"HGET", meta, "writer"}), took_over.writer);
  EXPECT_EQ(took_over.rollbacks, 0u);
  RestoreSinkState(redis, model, meta);
  AppendGame(*store, 100, 100, 53);
  ASSERT_TRUE(WaitFor(**second, "board", [](const FollowerStatus& f) {
    return f.rollbacks > 0 || f.state == "failed";
  }));
  WaitCaughtUp(**second, *store, "board");
  ExpectVerifies(**second);
}

TEST(ProjectionRuntime, ASecondServerOnTheSameSinkStopsInsteadOfDoublingEvents) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 500, 50, 7);
  auto first = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))});
  ASSERT_TRUE(first.has_value());
  WaitCaughtUp(**first, *store, "board");
  // Split brain: a second runtime (another server) folds into the same keys. Its claim fences
  // the first one out: the first one's next commit is refused and it stops.
  RuntimeOptions ro;
  ro.memory_sink = false;
  auto second = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))}, ro);
  ASSERT_TRUE(second.has_value());
  AppendGame(*store, 500, 50, 8);
  ASSERT_TRUE(WaitFor(**first, "board", [](const FollowerStatus& f) {
    return f.state == "failed";
  })) << "two writers committed to one generation without noticing";
  const FollowerStatus stopped = RedisFollower(**first, "board");
  EXPECT_EQ(stopped.last_error.rfind("conflict: ", 0), 0u) << stopped.last_error;
  EXPECT_NE(stopped.last_error.find("another server runs this projection"), std::string::npos)
      << stopped.last_error;
  EXPECT_NE(stopped.last_error.find(RedisFollower(**second, "board").writer), std::string::npos)
      << "the message names the other writer: " << stopped.last_error;
  // The one that took over keeps the model equal to the store: nothing was applied twice.
  WaitCaughtUp(**second, *store, "board");
  ExpectVerifies(**second);
}

// Two servers started at once on an empty Redis both create a generation and publish it; they
// meet on `current` or on a claim, and exactly one of them stops, the other serving a model equal
// to the store.
TEST(ProjectionRuntime, TwoServersStartingTogetherOnAnEmptyRedisLeaveOneWriter) {
  TempDir dir;
  RedisServer redis;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  AppendGame(*store, 2000, 100, 61);
  RuntimeOptions ro;
  ro.memory_sink = false;
  std::unique_ptr<ProjectionRuntime> servers[2];
  std::thread starts[2];
  for (int i = 0; i < 2; ++i) {
    starts[i] = std::thread([&, i] {
      auto rt = ProjectionRuntime::Start(store.get(), {Spec(Board(redis))}, ro);
      if (rt) servers[i] = std::move(*rt);
    });
  }
  for (auto& t : starts) t.join();
  ASSERT_TRUE(servers[0] && servers[1]);
  AppendGame(*store, 500, 100, 62);
  auto failed = [&](int i) { return RedisFollower(*servers[i], "board").state == "failed"; };
  for (int i = 0; i < 2000 && !failed(0) && !failed(1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(failed(0), failed(1)) << "not exactly one of the two servers stopped";
  const int survivor = failed(0) ? 1 : 0;
  const FollowerStatus stopped = RedisFollower(*servers[1 - survivor], "board");
  EXPECT_EQ(stopped.last_error.rfind("conflict: ", 0), 0u) << stopped.last_error;
  AppendGame(*store, 100, 100, 63);
  WaitCaughtUp(*servers[survivor], *store, "board");
  EXPECT_FALSE(failed(survivor));
  auto rep = servers[survivor]->Verify("board", "redis", VerifyOptions{});
  ASSERT_TRUE(rep.has_value()) << rep.error().ToString();
  EXPECT_TRUE(rep->ok()) << rep->ToText();
  EXPECT_EQ(rep->generation, RedisFollower(*servers[survivor], "board").generation);
}

}  // namespace
}  // namespace strata::projection
