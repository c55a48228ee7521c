// strata bench cold: the cold tier's figures on the real paths, in one run against one object
// store: archive throughput, snapshot upload, single-event cold read latency, $all scan rate from
// the cold tier, and restore time per GiB. bench/cold.sh adds what needs separate processes
// (peak RSS of archiving, a plain curl/cp of the same bytes as the baseline). The benchmark is
// src/tools/bench (cold_bench.h); this file is its flags and its output.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "tools/bench/cold_bench.h"

namespace strata::cli {
namespace {

struct ColdBenchFlags {
  StoreFlags store;
  bench::ColdBenchConfig cold;
};

double MiB(double b) { return b / (1 << 20); }

// The human line of a phase, as it ends.
void PrintPhase(const ColdBenchFlags& f, bench::ColdPhase phase, const bench::ColdBenchReport& r) {
  const double bytes = static_cast<double>(r.payload_bytes);
  switch (phase) {
    case bench::ColdPhase::kFill:
      std::cout << fmt::format("filled {} events, {:.0f} MiB of payload\n", Thousands(r.events),
                               MiB(bytes));
      break;
    case bench::ColdPhase::kArchive: {
      const double s = r.archive_seconds, uploaded = r.archive_uploaded_bytes;
      std::cout << fmt::format(
          "archive: {} segments, {:.0f} MiB uploaded ({:.1f}x smaller than the payload) in {:.1f} "
          "s: {:.1f} MiB/s of payload, {:.1f} MiB/s uploaded\n",
          r.segments, MiB(uploaded), bytes / uploaded, s, MiB(bytes) / s, MiB(uploaded) / s);
      break;
    }
    case bench::ColdPhase::kSnapshot:
      std::cout << fmt::format("snapshot: {} files, {:.0f} MiB in {:.1f} s ({:.1f} MiB/s)\n",
                               r.snapshot_files, MiB(r.snapshot_bytes), r.snapshot_seconds,
                               MiB(r.snapshot_bytes) / r.snapshot_seconds);
      break;
    case bench::ColdPhase::kReads:
      std::cout << fmt::format(
          "single-event reads: {} reads, {:.0f}% from the cold tier ({} block cache misses): "
          "p50 {:.2f} ms, p99 {:.2f} ms\n",
          r.reads, 100.0 * r.cold_reads / r.reads, r.read_cache_misses, r.read_p50_ms,
          r.read_p99_ms);
      break;
    case bench::ColdPhase::kScan: {
      const double s = r.scan_seconds;
      std::cout << fmt::format(
          "$all scan: {} events ({} through the cold cursor, {} cache misses) in {:.1f} s: {} "
          "events/s, {:.0f} MiB/s of payload\n",
          Thousands(r.scan_events), r.scan_cache_misses > 0 ? "most" : "none", r.scan_cache_misses,
          s, Thousands(r.scan_events / s), MiB(r.scan_bytes) / s);
      break;
    }
    case bench::ColdPhase::kRestore: {
      const double s = r.restore_seconds, gib = static_cast<double>(r.restore_bytes) / (1ull << 30);
      std::cout << fmt::format(
          "restore: snapshot of {:.0f} MiB ({} files) downloaded and opened in {:.1f} s: {:.1f} s "
          "per GiB of store, {:.1f} s per GiB of payload\n",
          MiB(r.restore_bytes), r.restore_files, s, s / gib, s / f.cold.gb);
      break;
    }
    case bench::ColdPhase::kTakeOver: {
      const double s = r.takeover_seconds;
      const double gib = static_cast<double>(r.takeover_payload_bytes) / (1ull << 30);
      std::cout << fmt::format(
          "takeover: {} partitions, {} events ({:.0f} MiB of payload) copied in {:.1f} s "
          "(reading {:.0f} MiB of segments and WAL: {:.1f} s): {:.1f} s per GiB of payload "
          "taken over\n",
          f.cold.takeover_partitions, Thousands(r.takeover_events), MiB(r.takeover_payload_bytes),
          s, MiB(r.takeover_read_bytes), r.takeover_read_seconds, s / gib);
      break;
    }
  }
}

// The JSON object printed last (bench/cold.sh reads it).
nlohmann::json ToJson(const ColdBenchFlags& f, const bench::ColdBenchReport& r) {
  const double bytes = static_cast<double>(r.payload_bytes);
  nlohmann::json j = {{"url", r.url},
                      {"event_size", f.cold.event_size},
                      {"fill_mib_s", r.fill_mib_s},
                      {"events", r.events},
                      {"payload_bytes", r.payload_bytes}};
  if (f.cold.fill_only) {
    j["data"] = r.data_dir;
    return j;
  }
  const double gib = static_cast<double>(r.restore_bytes) / (1ull << 30);
  j["open_seconds"] = r.open_seconds;
  j["archive_seconds"] = r.archive_seconds;
  j["archive_payload_mib_s"] = MiB(bytes) / r.archive_seconds;
  j["archive_uploaded_bytes"] = r.archive_uploaded_bytes;
  j["archive_uploaded_mib_s"] = MiB(r.archive_uploaded_bytes) / r.archive_seconds;
  j["segments"] = r.segments;
  j["snapshot_seconds"] = r.snapshot_seconds;
  j["snapshot_bytes"] = r.snapshot_bytes;
  j["read_p50_ms"] = r.read_p50_ms;
  j["read_p99_ms"] = r.read_p99_ms;
  j["reads_cold_fraction"] = static_cast<double>(r.cold_reads) / r.reads;
  j["read_cache_hits"] = r.read_cache_hits;
  j["read_cache_misses"] = r.read_cache_misses;
  j["scan_events_s"] = r.scan_events / r.scan_seconds;
  j["scan_mib_s"] = MiB(r.scan_bytes) / r.scan_seconds;
  j["scan_cache_misses"] = r.scan_cache_misses;
  j["restore_seconds"] = r.restore_seconds;
  j["restore_bytes"] = r.restore_bytes;
  j["restore_s_per_gib"] = r.restore_seconds / gib;
  j["restore_s_per_payload_gib"] = r.restore_seconds / f.cold.gb;
  j["takeover_seconds"] = r.takeover_seconds;
  j["takeover_read_seconds"] = r.takeover_read_seconds;
  j["takeover_events"] = r.takeover_events;
  j["takeover_s_per_payload_gib"] =
      r.takeover_seconds / (static_cast<double>(r.takeover_payload_bytes) / (1ull << 30));
  return j;
}

int Run(const ColdBenchFlags& f) {
  bench::ColdBenchCallbacks cb;
  cb.filling = [](uint64_t bytes, double mib_per_s) {
    std::cerr << fmt::format("  filled {:.0f} MiB ({:.0f} MiB/s)\n", MiB(bytes), mib_per_s);
  };
  cb.append_failed = [](const Error& e) { std::cerr << "append failed: " << e.ToString() << "\n"; };
  cb.phase_done = [&f](bench::ColdPhase phase, const bench::ColdBenchReport& r) {
    PrintPhase(f, phase, r);
  };
  bool open_failed = false;
  auto r = bench::RunColdBench(f.store, f.cold, cb, bench::OpenNotingFailure(&open_failed));
  if (!r) {
    const int code = ReportError(r.error());
    return open_failed ? 1 : code;
  }
  std::cout << ToJson(f, *r).dump() << "\n";
  return 0;
}

}  // namespace

void RegisterBenchCold(CLI::App* bench, int& exit_code) {
  auto f = std::make_shared<ColdBenchFlags>();
  auto* cmd = bench->add_subcommand(
      "cold",
      "Cold tier: archive throughput, snapshot, cold single-event reads, $all scan from cold, "
      "restore s/GiB, takeover s/GiB");
  f->store.Register(cmd);
  cmd->add_option("--gb", f->cold.gb, "GiB of event payload to archive")->capture_default_str();
  cmd->add_option("--event-size", f->cold.event_size, "Bytes of data per event")
      ->capture_default_str();
  cmd->add_option("--streams", f->cold.streams, "Streams")->capture_default_str();
  cmd->add_option("--reads", f->cold.reads, "Single-event reads to time")->capture_default_str();
  cmd->add_option("--takeover-partitions", f->cold.takeover_partitions,
                  "Partitions (of 64) the takeover phase copies into an empty store")
      ->capture_default_str();
  cmd->add_flag("--keep", f->cold.keep, "Keep the run's data directory");
  cmd->add_flag("--fill-only", f->cold.fill_only,
                "Only write the backlog (nothing archived) and keep it; prints its --data and URL");
  cmd->footer("Example: strata bench cold --data /tmp/b --cold file:///tmp/b-cold --gb 1");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
