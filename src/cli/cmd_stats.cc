// strata stats: per-shard figures of a store.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "env/file.h"

namespace strata::cli {
namespace {
struct StatsFlags {
  StoreFlags store;
  bool json = false;
};

int Run(StatsFlags& f) {
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  StoreStats s = store.operations().Stats();
  if (s.shards.empty()) return ReportError(Error(ErrorCode::kUnavailable, "no figures came back"));
  const std::string where = f.store.server.empty() ? f.store.data_dir : f.store.server;
  auto bound_ms = [&](double q) {
    uint64_t us = s.append_latency.QuantileBoundUs(q);
    return us == UINT64_MAX ? std::string("> 2.5 s") : fmt::format("<= {} ms", us / 1000.0);
  };
  if (f.json) {
    nlohmann::json j;
    j["watermark"] = s.watermark.value();
    j["appended_events"] = s.appended_events;
    j["appended_bytes"] = s.appended_bytes;
    j["append_latency_count"] = s.append_latency.count;
    j["append_latency_p50_bound_us"] = s.append_latency.QuantileBoundUs(0.5);
    j["append_latency_p99_bound_us"] = s.append_latency.QuantileBoundUs(0.99);
    j["subscriptions"] = s.subscriptions;
    j["subscription_lag_max"] = s.subscription_lag_max;
    j["index_streams"] = s.index_streams;
    j["index_streams_position"] = s.index_streams_position.value();
    j["writable"] = s.writable;
    if (!s.writable) j["write_error"] = s.write_error;
    j["disk_free_bytes"] = s.disk_free_bytes;
    j["disk_total_bytes"] = s.disk_total_bytes;
    j["disk_reserve_bytes"] = s.disk_reserve_bytes;
    j["disk_full_refusals"] = s.disk_full_refusals;
    for (const auto& sh : s.shards) {
      j["shards"].push_back({{"shard", sh.shard},
                             {"events", sh.events},
                             {"bytes", sh.bytes},
                             {"streams", sh.streams},
                             {"index_runs", sh.index_runs},
                             {"index_entries", sh.index_entries},
                             {"unindexed_events", sh.unindexed_events},
                             {"last_position", sh.last_position.value()},
                             {"indexed_upto", sh.indexed_upto.value()},
                             {"memtable_bytes", sh.memtable_bytes},
                             {"compaction_pending_bytes", sh.compaction_pending_bytes},
                             {"running_compactions", sh.running_compactions},
                             {"write_stall_micros", sh.write_stall_micros},
                             {"write_stopped", sh.write_stopped}});
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << "store " << where << ": next position " << s.watermark.value() << "\n";
  std::cout << fmt::format(
      "disk: {} free of {} (reserve {}); appends {}\n", env::FormatBytes(s.disk_free_bytes),
      env::FormatBytes(s.disk_total_bytes), env::FormatBytes(s.disk_reserve_bytes),
      s.writable ? "accepted" : "REFUSED: " + s.write_error);
  if (s.append_latency.count > 0) {
    std::cout << fmt::format(
        "appended since open: {} events, {} bytes; append latency p50 {}, "
        "p99 {}\n",
        s.appended_events, s.appended_bytes, bound_ms(0.5), bound_ms(0.99));
  }
  if (s.subscriptions > 0) {
    std::cout << fmt::format("subscriptions: {} live, furthest behind by {} positions\n",
                             s.subscriptions, s.subscription_lag_max);
  }
  std::cout << fmt::format("index streams ($ce-, $et-): {}, indexed up to position {}{}\n",
                           s.index_streams, s.index_streams_position.value(),
                           s.index_streams_failed ? " (STOPPED on an error: see the log)" : "");
  std::cout << fmt::format(
      "{:>5} {:>11} {:>9} {:>12} {:>10} {:>11} {:>11} {:>5} {:>10} {:>9} {:>8}\n", "shard",
      "events~", "streams~", "bytes~", "last pos", "indexed to", "idx entries", "runs", "memtables",
      "pend.comp", "stall ms");
  for (const auto& sh : s.shards) {
    std::cout << fmt::format(
        "{:>5} {:>11} {:>9} {:>12} {:>10} {:>11} {:>11} {:>5} {:>10} {:>9} {:>8}\n", sh.shard,
        sh.events, sh.streams, sh.bytes, sh.last_position.value(), sh.indexed_upto.value(),
        sh.index_entries, sh.index_runs, sh.memtable_bytes, sh.compaction_pending_bytes,
        sh.write_stall_micros / 1000);
  }
  std::cout << "(~: RocksDB estimates; ring hit rate since open: " << s.ring_hits << " hits, "
            << s.ring_misses << " misses)\n";
  return 0;
}
}  // namespace

void RegisterStats(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<StatsFlags>();
  auto* cmd = app.add_subcommand("stats",
                                 "Per-shard figures: events, bytes, RocksDB compaction and stalls");
  cmd->footer(
      "Examples:\n  strata stats --data ./data\n  strata stats --server 127.0.0.1:2113 --json");
  f->store.Register(cmd);
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
