// strata stress: a randomized workload that records every acknowledged write in an ack log, and
// strata stress --verify: checks a store against that log after a crash (like RocksDB's
// db_stress). The workload, the ack log and the verifier are src/tools/stress; this file is
// their flags and their output.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "tools/stress/stress.h"

namespace strata::cli {
namespace {

struct StressFlags {
  StoreFlags store;
  std::string log;
  double duration = 10;
  uint64_t seed = 1;
  uint32_t threads = 4;
  uint32_t streams = 64;
  bool verify = false;
};

int RunWorkload(const StressFlags& f, StoreOptions options) {
  // --server: the workload goes to a running `strata serve`; --verify later opens its --data.
  app::StoreHandle store = f.store.server.empty() ? app::StoreHandle(OpenOrReport(options))
                                                  : OpenStoreOrReport(f.store, /*create=*/true);
  if (!store) return 1;
  auto log = stress::AckLogWriter::Open(f.log, [](const Error& e) {
    std::cerr << "strata: the ack log stopped: " << e.ToString() << "\n";
  });
  if (!log) {
    std::cerr << "strata: cannot open the ack log: " << log.error().ToString() << "\n";
    return 1;
  }
  stress::StressConfig config;
  config.duration_seconds = f.duration;
  config.seed = f.seed;
  config.threads = f.threads;
  config.streams = f.streams;
  config.store_reports_deduplication = f.store.server.empty();
  auto report = stress::RunWorkload(store.store(), **log, config);
  if (!report) return ReportError(report.error());
  IgnoreError(store->Close());
  std::cout << fmt::format("stress: {} events acknowledged, subscription saw {}; {} problems\n",
                           report->acknowledged_events, report->subscription_events,
                           report->problems.size());
  for (auto& p : report->problems) std::cout << "  problem: " << p << "\n";
  return report->problems.empty() ? 0 : 1;
}

int Verify(const StressFlags& f, StoreOptions options) {
  options.create_if_missing = false;
  const stress::AckLog log = stress::ReadAckLog(f.log);
  if (stress::NoStoreAndNothingAcknowledged(log, options.data_dir)) {
    std::cout << "verify: no store was created and nothing was acknowledged: nothing lost\n";
    return 0;
  }
  auto store = OpenOrReport(options);
  if (!store) return 1;
  const stress::VerifyReport r = stress::VerifyAgainstLog(*store, log);
  std::cout << fmt::format(
      "verify: {} acknowledged events in {} log lines; $all has {} records up to position {} "
      "({} positions left unused by crashes: claimed by appends that were never acknowledged); "
      "{} streams and {} index streams checked; {} problems\n",
      r.acknowledged_events, r.log_lines, r.records, r.last_position, r.unused_positions(),
      r.streams_checked, r.index_streams_checked, r.problems.size());
  for (auto& p : r.problems) std::cout << "  problem: " << p << "\n";
  return r.problems.empty() ? 0 : 1;
}
}  // namespace

void RegisterStress(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<StressFlags>();
  auto* cmd = app.add_subcommand(
      "stress", "Randomized workload with an ack log; --verify checks a store against it");
  cmd->footer(
      "Crash testing: run 'strata stress', kill it at any moment (even SIGKILL), then run\n"
      "'strata stress --verify' with the same --data and --log: every acknowledged event must be\n"
      "present exactly once at its revision and position, $all ordered, indexes consistent.\n"
      "With --server HOST:PORT the workload goes to a running 'strata serve' (keep --log off its\n"
      "disk); verify with --data pointing at the server's data directory after it stopped.");
  f->store.Register(cmd);
  cmd->add_option("--log", f->log, "Ack log file (default: DATA/stress-ack.log)");
  cmd->add_option("--duration", f->duration, "Seconds to run")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Writer threads")->capture_default_str();
  cmd->add_option("--streams", f->streams, "Streams to spread over")->capture_default_str();
  cmd->add_flag("--verify", f->verify, "Verify the store against the ack log instead of running");
  cmd->add_flag("--archive", f->store.archive,
                "Run the cold tier's archivers (and local retention) during the workload");
  cmd->callback([f, &exit_code] {
    if (f->log.empty()) f->log = f->store.data_dir + "/stress-ack.log";
    auto options = f->store.ToOptions();
    if (!options) {
      exit_code = ReportError(options.error());
      return;
    }
    if (!f->verify && f->store.server.empty())
      std::filesystem::create_directories(f->store.data_dir);
    exit_code = f->verify ? Verify(*f, *options) : RunWorkload(*f, *options);
  });
}

}  // namespace strata::cli
