// Shared pieces of the CLI: the store flags every command takes, and output helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "projection/spec.h"
#include "storage/store.h"

namespace strata::cli {

// Flags that configure the store; every command that opens one takes them.
struct StoreFlags {
  std::string data_dir = "./data";
  uint32_t shards = 0;  // 0: the store's own (4 for a new store)
  std::string durability = "sync";
  // Tuning (defaults from StoreOptions; see docs/warm-layout.md).
  size_t write_buffer_mb = 128;
  int max_write_buffers = 4;
  size_t memtable_budget_mb = 1024;
  size_t block_cache_mb = 256;
  size_t ring_mb = 128;
  double idempotency_hours = 7 * 24;
  bool index_streams = true;
  size_t disk_reserve_mb = 256;
  // Work against a running `strata serve` instead of a data directory.
  std::string server;
  uint32_t connections = 1;
  // Cold tier (docs/cold-tier.md). cold: a URL, "none", or empty for the URL this store was
  // last opened with (kept in <data>/cold-url), else file://<data>-cold.
  std::string cold;
  std::string s3_endpoint, s3_region;
  bool s3_virtual_host = false;
  double segment_seconds = 10;
  size_t segment_mb = 512;
  double local_retention_hours = 7 * 24;
  double local_retention_gb = 0;
  size_t cold_cache_mb = 64;
  int cold_zstd_level = 3;
  uint32_t archive_threads = 0;
  // Whether this command runs the archivers (serve does; one-shot commands only read cold).
  bool archive = false;

  void Register(CLI::App* cmd);
  // Options from the flags; kInvalidConfig for a bad value.
  Result<StoreOptions> ToOptions() const;
  // Records the store's cold URL in <data>/cold-url after a successful open.
  void RememberCold(const StoreOptions& options) const;
};

// Opens the store or prints the error and returns nullptr.
std::unique_ptr<Store> OpenOrReport(const StoreOptions& options);
// The same, then records the store's cold URL (StoreFlags::RememberCold).
std::unique_ptr<Store> OpenOrReport(const StoreFlags& flags, const StoreOptions& options);
// The store the flags name: the server of --server, else the data directory of --data (created
// only if `create`). Prints the error and returns nullptr on failure.
std::unique_ptr<Store> OpenStoreOrReport(const StoreFlags& flags, bool create);

// The specs of repeated --projection JSON flags (a config's [[projection]] tables become those).
Result<std::vector<projection::ProjectionSpec>> ParseProjectionFlags(
    const std::vector<std::string>& jsons);

// Prints "strata: <code>: <message>" to stderr; returns the exit code for it.
int ReportError(const Error& e);

// One event as a JSON object (data as text when it is valid UTF-8 JSON/text, else base64).
std::string EventToJson(const RecordedEvent& e);
// One event as a human line: "pos  stream@rev  type  data".
std::string EventToLine(const RecordedEvent& e);

// Resident set size and its peak, in bytes, from /proc/self/status.
struct Rss {
  uint64_t current = 0, peak = 0;
};
Rss ReadRss();

// "1,234,567"
std::string Thousands(double v);

}  // namespace strata::cli
