// Helpers for the projection tests: a store filled with a game's events, a recount, waiting for
// followers, and the leaderboard spec on a real Redis.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "../../storage/tests/test_util.h"
#include "projection/api.h"
#include "projection/runtime.h"
#include "projection/spec.h"
#include "projection/tests/redis_server.h"

namespace strata::projection::testing {

using strata::testing::RedisServer;
using strata::testing::TempDir;

inline ProjectionSpec Spec(const std::string& json) {
  auto s = ParseSpec(json);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
  return s ? *s : ProjectionSpec{};
}

inline std::unique_ptr<LocalStore> OpenStore(const TempDir& dir) {
  auto s = LocalStore::Open(strata::testing::SmallOptions(dir.path()));
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
  return s ? std::move(*s) : nullptr;
}

inline void Append(LocalStore& store, const std::string& stream, const std::string& type,
                   const std::string& data) {
  auto r = store.Append(
      strata::testing::Req(stream, ExpectedRevision::Any(), {strata::testing::Event(type, data)}));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
}

// Events for `users` players: Scored {"points": n, "user": "u<k>"} and Joined {}.
inline void AppendGame(LocalStore& store, int events, int users, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < events; ++i) {
    const int u = static_cast<int>(rng() % static_cast<uint32_t>(users));
    if (rng() % 5 == 0) {
      Append(store, "user-" + std::to_string(u), "Joined",
             "{\"user\":\"u" + std::to_string(u) + "\"}");
    } else {
      Append(store, "user-" + std::to_string(u), "Scored",
             "{\"user\":\"u" + std::to_string(u) + "\",\"points\":" + std::to_string(rng() % 100) +
                 ",\"level\":{\"n\":" + std::to_string(rng() % 7) + "}}");
    }
  }
}

// Folds the whole store with a fresh Extractor (what verify does).
inline Model Recount(LocalStore& store, const ProjectionSpec& spec) {
  Extractor ex(spec);
  Model m(spec.op);
  auto st = store.ScanAll(Position(1), store.Watermark(), [&](const RecordView& r) {
    Update u;
    if (ex.Matches(r) && ex.Extract(r, &u)) m.Apply(u);
    return true;
  });
  EXPECT_TRUE(st.has_value());
  return m;
}

// Waits until every follower of `name` has applied everything up to the store's last position;
// fails at once if one of them has failed.
inline void WaitCaughtUp(ProjectionRuntime& rt, LocalStore& store, const std::string& name,
                         std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const uint64_t last = store.Watermark().value() - 1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = rt.Info(name);
    ASSERT_TRUE(info.has_value());
    bool all = !info->sinks.empty();
    for (const auto& s : info->sinks) {
      ASSERT_NE(s.follower.state, "failed") << InfoJson(*info);
      all = all && s.follower.checkpoint.value() >= last;
    }
    if (all) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto info = rt.Info(name);
  FAIL() << "projection " << name << " did not catch up with position " << last << ": "
         << InfoJson(*info);
}

// A leaderboard of the game's points in Redis, committed every 50 ms or 500 events.
inline std::string Board(const RedisServer& redis, const std::string& name = "board") {
  return R"({"name":")" + name + R"(","kind":"leaderboard","key":"user-{id}","field":"points",)" +
         R"("redis":")" + redis.url() + R"(","flush_ms":50,"flush_events":500})";
}

// The follower of the Redis sink (role "live") in an Info.
inline FollowerStatus RedisFollower(ProjectionRuntime& rt, const std::string& name) {
  auto info = rt.Info(name);
  EXPECT_TRUE(info.has_value());
  for (const auto& s : info->sinks) {
    if (s.role == "live" && s.follower.sink.starts_with("redis://")) return s.follower;
  }
  ADD_FAILURE() << "projection " << name << " has no Redis follower";
  return {};
}

// What a Redis that loses its last commits comes back with: copies of a generation's model and
// meta taken together (SaveSinkState), put back together, atomically (RestoreSinkState).
inline void SaveSinkState(RedisServer& redis, const std::string& model, const std::string& meta) {
  redis.Do({"COPY", model, "saved-model"});
  redis.Do({"COPY", meta, "saved-meta"});
}
inline void RestoreSinkState(RedisServer& redis, const std::string& model,
                             const std::string& meta) {
  redis.Do({"EVAL",
            "redis.call('COPY', KEYS[3], KEYS[1], 'REPLACE') "
            "redis.call('COPY', KEYS[4], KEYS[2], 'REPLACE') return 1",
            "4", model, meta, "saved-model", "saved-meta"});
}

}  // namespace strata::projection::testing
