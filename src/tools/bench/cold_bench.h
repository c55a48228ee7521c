// The cold tier's benchmark (bench/README.md, bench/cold.sh): on the real paths, in one run
// against one object store, archive throughput, snapshot upload, single-event cold read latency,
// the $all scan rate from the cold tier, and restore time per GiB. `strata bench cold`
// (src/cli/cmd_bench_cold.cc) declares the flags and prints the figures.
//
// The run works in <data>/bench-cold-<ns> and archives under its own prefix of the cold URL
// (<url>/bench-cold-<ns>), so runs never share a manifest. Its phases, in order:
//   kFill      appends `gb` GiB of text-like payload (100 events per append, 64 in flight)
//   kArchive   reopens with the archivers on and archives the whole backlog (ArchiveAll)
//   kSnapshot  a snapshot of that store to the cold tier
//              (then, with local retention 0, everything but each shard's newest segment leaves
//              the warm tier: no figures)
//   kReads     `reads` single events by stream revision (a block cache much smaller than the data)
//   kScan      a whole $all scan with a fresh cache
//   kRestore   RestoreStore onto an empty directory, and opening the restored store
//   kTakeOver  a cluster takeover (storage/adopt.h): `takeover_partitions` of the 64 partitions
//              copied from the object store into an empty store, as a survivor does for a
//              dead member (docs/cluster.md, "Failover")
//
// Thread-safety: RunColdBench runs on the caller's thread; `append_failed` is called from the
// store's writer threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "app/store_config.h"
#include "tools/bench/bench.h"

namespace strata::bench {

struct ColdBenchConfig {
  double gb = 1;  // GiB of event payload to archive
  uint32_t event_size = 1000;
  uint32_t streams = 1000;            // cold-0 … cold-<streams-1>
  uint32_t reads = 2000;              // single-event reads to time
  uint32_t takeover_partitions = 21;  // about a third: one dead member's of three
  bool keep = false;                  // keep the run's directory
  bool fill_only = false;  // stop after kFill and keep the backlog (for `strata archive flush`)
};

enum class ColdPhase { kFill, kArchive, kSnapshot, kReads, kScan, kRestore, kTakeOver };

// The figures, filled in phase by phase. Sizes in bytes, times in seconds.
struct ColdBenchReport {
  std::string url;       // the run's cold URL
  std::string data_dir;  // the filled store's directory
  // kFill
  uint64_t events = 0, payload_bytes = 0;
  double fill_mib_s = 0;
  // kArchive
  double open_seconds = 0;  // recovery re-indexes the fill's unindexed tail
  double archive_seconds = 0;
  uint64_t archive_uploaded_bytes = 0, segments = 0;
  // kSnapshot
  double snapshot_seconds = 0;
  uint64_t snapshot_bytes = 0;
  uint32_t snapshot_files = 0;
  // kReads
  uint32_t reads = 0;
  uint64_t cold_reads = 0;  // of them, records read from the cold tier
  double read_p50_ms = 0, read_p99_ms = 0;
  uint64_t read_cache_hits = 0, read_cache_misses = 0;
  // kScan
  uint64_t scan_events = 0, scan_bytes = 0;
  double scan_seconds = 0;
  uint64_t scan_cache_misses = 0;
  // kRestore: the snapshot downloaded and the store opened
  double restore_seconds = 0;
  uint64_t restore_bytes = 0;
  uint32_t restore_files = 0;
  // kTakeOver
  double takeover_seconds = 0, takeover_read_seconds = 0;
  uint64_t takeover_events = 0, takeover_read_bytes = 0, takeover_payload_bytes = 0;
};

struct ColdBenchCallbacks {
  std::function<void(uint64_t bytes, double mib_per_s)> filling;  // every 256 MiB
  std::function<void(const Error&)> append_failed;                // the fill goes on
  // After each phase, with the figures so far.
  std::function<void(ColdPhase, const ColdBenchReport&)> phase_done;
};

// Runs the phases above on the options of `store_config`; kInvalidConfig without a cold URL.
// On success the run's directory is removed unless config.keep or config.fill_only.
Result<ColdBenchReport> RunColdBench(const app::StoreConfig& store_config,
                                     const ColdBenchConfig& config,
                                     const ColdBenchCallbacks& callbacks,
                                     const StoreOpener& open = {});

}  // namespace strata::bench
