// strata bench projection: the projection figures on the real paths (a Follower folding
// Store::ScanAll into a sink, and projection::Verify), against an in-process store:
//   - replay rate into the in-memory model, against a bare ScanAll of the same store (baseline);
//   - replay rate into Redis, with the spec's flush settings (per-flush aggregation);
//   - verify time for a model of --verify-keys keys, full and sampled.
// Lag under load needs a server and an ingest client: bench/projection.sh measures it. The
// benchmark is src/tools/bench (projection_bench.h); this file is its flags and its output.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "tools/bench/projection_bench.h"

namespace strata::cli {
namespace {

struct ProjectionBenchFlags {
  StoreFlags store;
  bench::ProjectionBenchConfig projection;
};

void PrintRound(bench::ProjectionPhase phase, const bench::ProjectionRound& r) {
  switch (phase) {
    case bench::ProjectionPhase::kMemory:
      std::cerr << fmt::format("  round {}: scan {}/s, replay into memory {}/s\n", r.round,
                               Thousands(r.scan_events_s), Thousands(r.memory_events_s));
      break;
    case bench::ProjectionPhase::kRedis:
      std::cerr << fmt::format("  round {}: replay into Redis {}/s\n", r.round,
                               Thousands(r.redis_events_s));
      break;
    case bench::ProjectionPhase::kVerify:
      std::cerr << fmt::format("  round {}: verify {} keys {:.2f} s, sample of 10,000 {:.2f} s\n",
                               r.round, Thousands(static_cast<double>(r.verify_keys)),
                               r.verify_full_s, r.verify_sample_s);
      break;
  }
}

void PrintPhase(const bench::ProjectionBenchConfig& f, bench::ProjectionPhase phase,
                const bench::ProjectionBenchReport& r) {
  switch (phase) {
    case bench::ProjectionPhase::kMemory:
      std::cout << fmt::format("  $all scan alone (baseline)   {:>12} events/s\n",
                               Thousands(r.scan_events_s));
      std::cout << fmt::format(
          "  replay into memory           {:>12} events/s ({:.0f}% of the scan)\n",
          Thousands(r.replay_memory_events_s), 100 * r.replay_memory_events_s / r.scan_events_s);
      break;
    case bench::ProjectionPhase::kRedis:
      std::cout << fmt::format(
          "  replay into Redis            {:>12} events/s (flush every {} events or {} ms)\n",
          Thousands(r.replay_redis_events_s), f.flush_events, f.flush_ms);
      break;
    case bench::ProjectionPhase::kVerify:
      std::cout << fmt::format(
          "  verify, {} keys in Redis     {:>9.2f} s full, {:.2f} s with a "
          "sample of 10,000\n",
          Thousands(static_cast<double>(f.verify_keys)), r.verify_full_s, r.verify_sample_10000_s);
      break;
  }
}

int Run(const ProjectionBenchFlags& flags) {
  const bench::ProjectionBenchConfig& f = flags.projection;
  bench::ProjectionBenchCallbacks cb;
  cb.started = [&f] {
    std::cout << fmt::format(
        "bench projection: {} events over {} keys (leaderboard, sum of a "
        "JSON field), {} rounds, medians\n",
        Thousands(static_cast<double>(f.events)), Thousands(static_cast<double>(f.keys)), f.rounds);
  };
  cb.filled = [](uint64_t events, uint64_t keys, double seconds) {
    std::cerr << fmt::format("  filled {} events over {} keys in {:.1f} s\n", Thousands(events),
                             Thousands(keys), seconds);
  };
  cb.round = PrintRound;
  cb.phase_done = [&f](bench::ProjectionPhase phase, const bench::ProjectionBenchReport& r) {
    PrintPhase(f, phase, r);
  };
  bool open_failed = false;
  auto r = bench::RunProjectionBench(flags.store, f, cb, bench::OpenNotingFailure(&open_failed));
  if (!r) {
    const int code = ReportError(r.error());
    return open_failed ? 1 : code;
  }
  nlohmann::json j = {{"events", f.events},
                      {"keys", f.keys},
                      {"rounds", f.rounds},
                      {"scan_events_s", r->scan_events_s},
                      {"replay_memory_events_s", r->replay_memory_events_s}};
  if (r->redis) j["replay_redis_events_s"] = r->replay_redis_events_s;
  if (r->verified) {
    j["verify_keys"] = f.verify_keys;
    j["verify_full_s"] = r->verify_full_s;
    j["verify_sample_10000_s"] = r->verify_sample_10000_s;
  }
  std::cout << j.dump() << "\n";
  return 0;
}

}  // namespace

void RegisterBenchProjection(CLI::App* bench, int& exit_code) {
  auto f = std::make_shared<ProjectionBenchFlags>();
  auto* cmd = bench->add_subcommand(
      "projection", "Projections: replay rate into memory and into Redis, verify time");
  f->store.Register(cmd);
  cmd->add_option("--events", f->projection.events, "Events to replay")->capture_default_str();
  cmd->add_option("--keys", f->projection.keys, "Keys (streams user-<k>) they spread over")
      ->capture_default_str();
  cmd->add_option("--verify-keys", f->projection.verify_keys,
                  "Keys of the model verify compares (0: skip)")
      ->capture_default_str();
  cmd->add_option("--rounds", f->projection.rounds, "Rounds; medians are reported")
      ->capture_default_str();
  cmd->add_option("--redis", f->projection.redis,
                  "redis://host:port of a Redis to use (else memory only)");
  cmd->add_option("--flush-events", f->projection.flush_events,
                  "Redis sink: commit after this many events")
      ->capture_default_str();
  cmd->add_option("--flush-ms", f->projection.flush_ms, "Redis sink: commit at least this often")
      ->capture_default_str();
  cmd->add_flag("--keep", f->projection.keep, "Keep the run's data directory");
  cmd->footer("Example: strata bench projection --data /tmp/b --redis redis://127.0.0.1:6379");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
