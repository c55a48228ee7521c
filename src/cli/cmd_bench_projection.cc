// strata bench projection: the projection figures on the real paths (a Follower folding
// Store::ScanAll into a sink, and projection::Verify), against an in-process store:
//   - replay rate into the in-memory model, against a bare ScanAll of the same store (baseline);
//   - replay rate into Redis, with the spec's flush settings (per-flush aggregation);
//   - verify time for a model of --verify-keys keys, full and sampled.
// Lag under load needs a server and an ingest client: bench/projection.sh measures it.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "projection/follower.h"
#include "projection/memory_sink.h"
#include "projection/sinks/redis/redis_sink.h"
#include "projection/verify.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ProjectionBenchFlags {
  StoreFlags store;
  uint64_t events = 2'000'000;
  uint64_t keys = 100'000;
  uint64_t verify_keys = 1'000'000;
  uint32_t rounds = 3;
  std::string redis;
  uint32_t flush_events = 10000;
  uint32_t flush_ms = 500;
  bool keep = false;
};

double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Appends `events` Scored events over `keys` streams user-<k> ({"user":…,"points":…}), one per
// append (as players score one at a time: consecutive events rarely share a key, so per-flush
// aggregation gets no help from the order), 256 appends in flight. The first `keys` events go to
// every key once.
Status Fill(Store& store, uint64_t events, uint64_t keys, uint32_t seed) {
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
  std::cerr << fmt::format("  filled {} events over {} keys in {:.1f} s\n", Thousands(events),
                           Thousands(keys), Secs(t0));
  return OkStatus();
}

// Folds the whole store into generation `g` of `sink`; returns the seconds it took.
Result<double> Replay(Store& store, const projection::ProjectionSpec& spec, projection::Sink& sink,
                      uint64_t g, projection::FlushPolicy flush) {
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

int Run(ProjectionBenchFlags& f) {
  auto base = f.store.ToOptions();
  if (!base) return ReportError(base.error());
  const std::string dir = (fs::path(f.store.data_dir) /
                           fmt::format("bench-projection-{}",
                                       std::chrono::system_clock::now().time_since_epoch().count()))
                              .string();
  StoreOptions o = *base;
  o.data_dir = dir + "/data";
  o.cold.url.clear();
  auto spec = projection::ParseSpec(
      fmt::format(R"({{"name":"bench","kind":"leaderboard","key":"user-{{id}}","field":"points",)"
                  R"("flush_ms":{},"flush_events":{}}})",
                  f.flush_ms, f.flush_events));
  if (!spec) return ReportError(spec.error());
  std::optional<projection::RedisAddress> redis;
  if (!f.redis.empty()) {
    auto a = projection::ParseRedisUrl(f.redis);
    if (!a) return ReportError(a.error());
    redis = *a;
  }
  nlohmann::json j = {{"events", f.events}, {"keys", f.keys}, {"rounds", f.rounds}};
  std::cout << fmt::format(
      "bench projection: {} events over {} keys (leaderboard, sum of a "
      "JSON field), {} rounds, medians\n",
      Thousands(static_cast<double>(f.events)), Thousands(static_cast<double>(f.keys)), f.rounds);
  {
    auto store = OpenOrReport(o);
    if (!store) return 1;
    auto st = Fill(*store, f.events, f.keys, 1);
    if (!st) return ReportError(st.error());
    const double n = static_cast<double>(store->Watermark().value() - 1);
    // Baseline: the bare scan every replay rides on.
    std::vector<double> scan, memory, to_redis;
    for (uint32_t r = 0; r < f.rounds; ++r) {
      const auto t0 = Clock::now();
      uint64_t visited = 0;
      auto s = store->ScanAll(Position(1), store->Watermark(), [&](const RecordView&) {
        ++visited;
        return true;
      });
      if (!s) return ReportError(s.error());
      scan.push_back(static_cast<double>(visited) / Secs(t0));
      projection::MemorySink sink(spec->op);
      auto secs = Replay(*store, *spec, sink, 1, {std::chrono::milliseconds(10), 65536});
      if (!secs) return ReportError(secs.error());
      memory.push_back(n / *secs);
      std::cerr << fmt::format("  round {}: scan {}/s, replay into memory {}/s\n", r + 1,
                               Thousands(scan.back()), Thousands(memory.back()));
    }
    j["scan_events_s"] = Median(scan);
    j["replay_memory_events_s"] = Median(memory);
    std::cout << fmt::format("  $all scan alone (baseline)   {:>12} events/s\n",
                             Thousands(Median(scan)));
    std::cout << fmt::format(
        "  replay into memory           {:>12} events/s ({:.0f}% of the scan)\n",
        Thousands(Median(memory)), 100 * Median(memory) / Median(scan));
    if (redis) {
      for (uint32_t r = 0; r < f.rounds; ++r) {
        projection::RedisSink sink(*redis, fmt::format("bench:{}:{}", getpid(), r), spec->op);
        auto secs =
            Replay(*store, *spec, sink, 1, {std::chrono::milliseconds(f.flush_ms), f.flush_events});
        if (!secs) return ReportError(secs.error());
        to_redis.push_back(n / *secs);
        IgnoreError(sink.Drop(1));
        std::cerr << fmt::format("  round {}: replay into Redis {}/s\n", r + 1,
                                 Thousands(to_redis.back()));
      }
      j["replay_redis_events_s"] = Median(to_redis);
      std::cout << fmt::format(
          "  replay into Redis            {:>12} events/s (flush every {} events or {} ms)\n",
          Thousands(Median(to_redis)), f.flush_events, f.flush_ms);
    }
    IgnoreError(store->Close());
  }
  if (redis && f.verify_keys > 0) {
    StoreOptions v = o;
    v.data_dir = dir + "/verify";
    auto store = OpenOrReport(v);
    if (!store) return 1;
    auto st = Fill(*store, f.verify_keys, f.verify_keys, 2);  // one event per key
    if (!st) return ReportError(st.error());
    projection::RedisSink sink(*redis, fmt::format("bench:{}:verify", getpid()), spec->op);
    auto g = sink.NewGeneration();
    if (!g) return ReportError(g.error());
    IgnoreError(sink.Publish(*g));
    auto secs = Replay(*store, *spec, sink, *g, {std::chrono::milliseconds(500), 100000});
    if (!secs) return ReportError(secs.error());
    std::vector<double> full, sampled;
    for (uint32_t r = 0; r < f.rounds; ++r) {
      auto rep = projection::Verify(store.get(), *spec, &sink, {});
      if (!rep) return ReportError(rep.error());
      if (!rep->ok()) return ReportError(Error(ErrorCode::kInternal, rep->ToText()));
      full.push_back(rep->seconds);
      projection::VerifyOptions so;
      so.sample = 10000;
      auto srep = projection::Verify(store.get(), *spec, &sink, so);
      if (!srep) return ReportError(srep.error());
      sampled.push_back(srep->seconds);
      std::cerr << fmt::format("  round {}: verify {} keys {:.2f} s, sample of 10,000 {:.2f} s\n",
                               r + 1, Thousands(static_cast<double>(rep->store_keys)), rep->seconds,
                               srep->seconds);
    }
    IgnoreError(sink.Publish(0));
    IgnoreError(sink.Drop(*g));
    j["verify_keys"] = f.verify_keys;
    j["verify_full_s"] = Median(full);
    j["verify_sample_10000_s"] = Median(sampled);
    std::cout << fmt::format(
        "  verify, {} keys in Redis     {:>9.2f} s full, {:.2f} s with a "
        "sample of 10,000\n",
        Thousands(static_cast<double>(f.verify_keys)), Median(full), Median(sampled));
    IgnoreError(store->Close());
  }
  if (!f.keep) fs::remove_all(dir);
  std::cout << j.dump() << "\n";
  return 0;
}

}  // namespace

void RegisterBenchProjection(CLI::App* bench, int& exit_code) {
  auto f = std::make_shared<ProjectionBenchFlags>();
  auto* cmd = bench->add_subcommand(
      "projection", "Projections: replay rate into memory and into Redis, verify time");
  f->store.Register(cmd);
  cmd->add_option("--events", f->events, "Events to replay")->capture_default_str();
  cmd->add_option("--keys", f->keys, "Keys (streams user-<k>) they spread over")
      ->capture_default_str();
  cmd->add_option("--verify-keys", f->verify_keys, "Keys of the model verify compares (0: skip)")
      ->capture_default_str();
  cmd->add_option("--rounds", f->rounds, "Rounds; medians are reported")->capture_default_str();
  cmd->add_option("--redis", f->redis, "redis://host:port of a Redis to use (else memory only)");
  cmd->add_option("--flush-events", f->flush_events, "Redis sink: commit after this many events")
      ->capture_default_str();
  cmd->add_option("--flush-ms", f->flush_ms, "Redis sink: commit at least this often")
      ->capture_default_str();
  cmd->add_flag("--keep", f->keep, "Keep the run's data directory");
  cmd->footer("Example: strata bench projection --data /tmp/b --redis redis://127.0.0.1:6379");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
