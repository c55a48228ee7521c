// strata stats: per-shard figures of a store.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace strata::cli {
namespace {
struct StatsFlags {
  StoreFlags store;
  bool json = false;
};

int Run(StatsFlags& f) {
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  options->create_if_missing = false;
  auto store = OpenOrReport(*options);
  if (!store) return 1;
  StoreStats s = store->Stats();
  if (f.json) {
    nlohmann::json j;
    j["watermark"] = s.watermark.value();
    for (const auto& sh : s.shards) {
      j["shards"].push_back({{"shard", sh.shard},
                             {"events", sh.events},
                             {"bytes", sh.bytes},
                             {"streams_cached", sh.streams},
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
  std::cout << "store " << options->data_dir << ": next position " << s.watermark.value() << "\n";
  std::cout << fmt::format("{:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}\n", "shard",
                           "events~", "bytes~", "last pos", "indexed", "memtables", "pend.comp",
                           "stall ms");
  for (const auto& sh : s.shards) {
    std::cout << fmt::format("{:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}\n", sh.shard,
                             sh.events, sh.bytes, sh.last_position.value(),
                             sh.indexed_upto.value(), sh.memtable_bytes,
                             sh.compaction_pending_bytes, sh.write_stall_micros / 1000);
  }
  return 0;
}
}  // namespace

void RegisterStats(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<StatsFlags>();
  auto* cmd = app.add_subcommand("stats", "Per-shard figures: events, bytes, RocksDB compaction and stalls");
  f->store.Register(cmd);
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
