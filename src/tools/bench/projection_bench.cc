// strata bench projection (projection_bench.h): one function per phase, in the order they run.
#include "tools/bench/projection_bench.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "projection/follower.h"
#include "projection/sink_factory.h"
#include "projection/sinks/redis/redis_sink.h"
#include "projection/verify.h"
#include "tools/bench/latencies.h"

namespace strata::bench {
namespace {

namespace fs = std::filesystem;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Appends `events` Scored events over `keys` streams user-<k> ({"user":…,"points":…}), one per
// append (as players score one at a time: consecutive events rarely share a key, so per-flush
// aggregation gets no help from the order), 256 appends in flight. The first `keys` events go to
// every key once.
Status Fill(Store& store, uint64_t events, uint64_t keys, uint32_t seed,
            const ProjectionBenchCallbacks& cb) {
  std::mt19937_64 rng(seed);
  std::atomic<uint64_t> outstanding{0}, failed{0};
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < events;) {
    while (outstanding.load() > 256) std::this_thread::sleep_for(std::chrono::microseconds(50));
    AppendRequest req;
    const uint64_t k = i < keys ? i : rng() % keys;
    req.stream = fmt::format("user-{}", k);
    for (int n = 0; n < 1 && i < events; ++n, ++i) {
      EventData e;
      e.event_id = Uuid::Random();
      e.type = "Scored";
      e.data =
          fmt::format(R"({{"user":"u{}","points":{},"level":{}}})", k, rng() % 1000, rng() % 50);
      req.events.push_back(std::move(e));
    }
    outstanding.fetch_add(1);
    store.AppendAsync(std::move(req), [&](Result<AppendResult> r) {
      if (!r) failed.fetch_add(1);
      outstanding.fetch_sub(1);
    });
  }
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (failed) return Error(ErrorCode::kInternal, fmt::format("{} appends failed", failed.load()));
  if (cb.filled) cb.filled(events, keys, Secs(t0));
  return OkStatus();
}

// Folds the whole store into generation `g` of `sink`; returns the seconds it took.
Result<double> Replay(LocalStore& store, const projection::ProjectionSpec& spec,
                      projection::Sink& sink, uint64_t g, projection::FlushPolicy flush) {
  const uint64_t last = store.Watermark().value() - 1;
  const auto t0 = Clock::now();
  projection::Follower f(&store, spec, &sink, g, flush);
  f.Start();
  while (f.checkpoint().value() < last) {
    if (f.failed()) return Error(ErrorCode::kInternal, f.Status().last_error);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double s = Secs(t0);
  f.Stop();
  return s;
}

class ProjectionBench {
 public:
  ProjectionBench(StoreOptions options, std::string dir, projection::ProjectionSpec spec,
                  const ProjectionBenchConfig& config, const ProjectionBenchCallbacks& callbacks,
                  StoreOpener open)
      : o_(std::move(options)),
        dir_(std::move(dir)),
        spec_(std::move(spec)),
        f_(config),
        cb_(callbacks),
        open_(std::move(open)) {}

  // The Redis sink whose keys are under bench:<pid>:<name>.
  Result<std::unique_ptr<projection::Sink>> RedisSink(const std::string& name) const {
    projection::ProjectionSpec s = spec_;
    s.redis = f_.redis;
    s.redis_prefix = fmt::format("bench:{}", getpid());
    s.name = name;
    return projection::MakeSink(s, "redis");
  }

  // kMemory, then kRedis, on one store of f_.events events.
  Status Replays() {
    auto store = open_(o_);
    if (!store) return store.error();
    STRATA_TRY(Fill(**store, f_.events, f_.keys, 1, cb_));
    STRATA_TRY(MemoryRounds(**store));
    if (!f_.redis.empty()) STRATA_TRY(RedisRounds(**store));
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  // Baseline: the bare scan every replay rides on; then the replay into memory.
  Status MemoryRounds(LocalStore& store) {
    const double n = static_cast<double>(store.Watermark().value() - 1);
    std::vector<double> scan, memory;
    for (uint32_t r = 0; r < f_.rounds; ++r) {
      const auto t0 = Clock::now();
      uint64_t visited = 0;
      auto s = store.ScanAll(Position(1), store.Watermark(), [&](const RecordView&) {
        ++visited;
        return true;
      });
      if (!s) return s.error();
      scan.push_back(static_cast<double>(visited) / Secs(t0));
      auto sink = projection::MakeSink(spec_, "memory");
      if (!sink) return sink.error();
      auto secs = Replay(store, spec_, **sink, 1, {std::chrono::milliseconds(10), 65536});
      if (!secs) return secs.error();
      memory.push_back(n / *secs);
      Round(ProjectionPhase::kMemory,
            {.round = r + 1, .scan_events_s = scan.back(), .memory_events_s = memory.back()});
    }
    report.scan_events_s = Median(scan);
    report.replay_memory_events_s = Median(memory);
    Done(ProjectionPhase::kMemory);
    return OkStatus();
  }

  Status RedisRounds(LocalStore& store) {
    const double n = static_cast<double>(store.Watermark().value() - 1);
    std::vector<double> to_redis;
    for (uint32_t r = 0; r < f_.rounds; ++r) {
      auto sink = RedisSink(std::to_string(r));
      if (!sink) return sink.error();
      auto secs = Replay(store, spec_, **sink, 1,
                         {std::chrono::milliseconds(f_.flush_ms), f_.flush_events});
      if (!secs) return secs.error();
      to_redis.push_back(n / *secs);
      IgnoreError((*sink)->Drop(1));
      Round(ProjectionPhase::kRedis, {.round = r + 1, .redis_events_s = to_redis.back()});
    }
    report.replay_redis_events_s = Median(to_redis);
    report.redis = true;
    Done(ProjectionPhase::kRedis);
    return OkStatus();
  }

  // kVerify: a model of f_.verify_keys keys (one event per key) in Redis, verified in full and
  // by a sample of 10,000 keys.
  Status VerifyRounds() {
    StoreOptions v = o_;
    v.data_dir = dir_ + "/verify";
    auto store = open_(v);
    if (!store) return store.error();
    STRATA_TRY(Fill(**store, f_.verify_keys, f_.verify_keys, 2, cb_));
    auto sink = RedisSink("verify");
    if (!sink) return sink.error();
    auto g = (*sink)->NewGeneration();
    if (!g) return g.error();
    IgnoreError((*sink)->Publish(*g));
    auto secs = Replay(**store, spec_, **sink, *g, {std::chrono::milliseconds(500), 100000});
    if (!secs) return secs.error();
    std::vector<double> full, sampled;
    for (uint32_t r = 0; r < f_.rounds; ++r) {
      auto rep = projection::Verify(store->get(), spec_, sink->get(), {});
      if (!rep) return rep.error();
      if (!rep->ok()) return Error(ErrorCode::kInternal, rep->ToText());
      full.push_back(rep->seconds);
      projection::VerifyOptions so;
      so.sample = 10000;
      auto srep = projection::Verify(store->get(), spec_, sink->get(), so);
      if (!srep) return srep.error();
      sampled.push_back(srep->seconds);
      Round(ProjectionPhase::kVerify, {.round = r + 1,
                                       .verify_keys = rep->store_keys,
                                       .verify_full_s = rep->seconds,
                                       .verify_sample_s = srep->seconds});
    }
    IgnoreError((*sink)->Publish(0));
    IgnoreError((*sink)->Drop(*g));
    report.verify_full_s = Median(full);
    report.verify_sample_10000_s = Median(sampled);
    report.verified = true;
    Done(ProjectionPhase::kVerify);
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  ProjectionBenchReport report;

 private:
  void Round(ProjectionPhase phase, const ProjectionRound& round) {
    if (cb_.round) cb_.round(phase, round);
  }
  void Done(ProjectionPhase phase) {
    if (cb_.phase_done) cb_.phase_done(phase, report);
  }

  const StoreOptions o_;
  const std::string dir_;
  const projection::ProjectionSpec spec_;
  const ProjectionBenchConfig& f_;
  const ProjectionBenchCallbacks& cb_;
  const StoreOpener open_;
};

}  // namespace

Result<ProjectionBenchReport> RunProjectionBench(const app::StoreConfig& store_config,
                                                 const ProjectionBenchConfig& config,
                                                 const ProjectionBenchCallbacks& callbacks,
                                                 const StoreOpener& open) {
  auto base = app::ToStoreOptions(store_config);
  if (!base) return base.error();
  const std::string dir = RunDirName(store_config.data_dir, "projection");
  StoreOptions o = *base;
  o.data_dir = dir + "/data";
  o.cold.url.clear();
  auto spec = projection::ParseSpec(
      fmt::format(R"({{"name":"bench","kind":"leaderboard","key":"user-{{id}}","field":"points",)"
                  R"("flush_ms":{},"flush_events":{}}})",
                  config.flush_ms, config.flush_events));
  if (!spec) return spec.error();
  if (!config.redis.empty()) {  // before anything runs (the sinks are made per round)
    if (auto a = projection::ParseRedisUrl(config.redis); !a) return a.error();
  }
  if (callbacks.started) callbacks.started();
  ProjectionBench bench(std::move(o), dir, std::move(*spec), config, callbacks,
                        open ? open : StoreOpener(&LocalStore::Open));
  STRATA_TRY(bench.Replays());
  if (!config.redis.empty() && config.verify_keys > 0) STRATA_TRY(bench.VerifyRounds());
  if (!config.keep) fs::remove_all(dir);
  return bench.report;
}

}  // namespace strata::bench
