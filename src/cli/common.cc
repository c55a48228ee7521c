#include "cli/common.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

namespace strata::cli {
namespace {

// RocksDB, the hot ring, idempotency and the index streams ("Tuning" in --help).
void RegisterTuningFlags(CLI::App* cmd, app::StoreConfig& c) {
  const char* tuning = "Tuning";
  cmd->add_option("--write-buffer-mb", c.write_buffer_mb, "RocksDB memtable size (events), MiB")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_option("--max-write-buffers", c.max_write_buffers, "RocksDB memtables per column family")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_option("--memtable-budget-mb", c.memtable_budget_mb, "All memtables of all shards, MiB")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_option("--block-cache-mb", c.block_cache_mb, "RocksDB block cache, MiB")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_option("--ring-mb", c.ring_mb, "Hot ring arena, MiB")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_option("--idempotency-window-hours", c.idempotency_hours,
                  "How long a retry with the same event ids is recognised")
      ->group(tuning)
      ->capture_default_str();
  cmd->add_flag("--index-streams,!--no-index-streams", c.index_streams,
                "Keep the $ce-<category> and $et-<type> index streams (default on; off saves "
                "their indexing work when nothing reads them)")
      ->group(tuning);
}

// The object store, segments, local retention and the archivers ("Cold tier" in --help).
void RegisterColdFlags(CLI::App* cmd, app::StoreConfig& c) {
  const char* cold_group = "Cold tier";
  cmd->add_option("--cold", c.cold,
                  "Object store for sealed segments and snapshots: file:///path, "
                  "s3://bucket/prefix, or none. Default: the store's last one, else "
                  "file://<data>-cold. S3 credentials come from AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY")
      ->group(cold_group);
  cmd->add_option("--s3-endpoint", c.s3_endpoint,
                  "S3 endpoint, e.g. http://127.0.0.1:7480 (default: AWS_ENDPOINT_URL, else AWS)")
      ->group(cold_group);
  cmd->add_option("--s3-region", c.s3_region, "S3 region (default: AWS_REGION, else us-east-1)")
      ->group(cold_group);
  cmd->add_flag("--s3-virtual-host", c.s3_virtual_host,
                "Address buckets as bucket.host instead of host/bucket")
      ->group(cold_group);
  cmd->add_option("--segment-seconds", c.segment_seconds, "Seal a shard's open segment after this")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--segment-mb", c.segment_mb, "... or once it holds this many MiB")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--local-retention-hours", c.local_retention_hours,
                  "Archived segments stay in the warm tier this long, then are read from cold")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--local-retention-gb", c.local_retention_gb,
                  "... or until a shard's warm log exceeds this (0: no size limit)")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--cold-cache-mb", c.cold_cache_mb, "Cache of decompressed cold blocks, MiB")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--cold-zstd-level", c.cold_zstd_level,
                  "zstd level of segment objects (higher: smaller objects, more archiver CPU)")
      ->check(CLI::Range(1, 19))
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--archive-threads", c.archive_threads,
                  "Segments exported (read and compressed) at once: the archivers' CPU budget "
                  "(0: half the cores, at least 1)")
      ->group(cold_group)
      ->capture_default_str();
}

}  // namespace

void StoreFlags::Register(CLI::App* cmd) {
  cmd->add_option("--data", data_dir, "Data directory of the store")->capture_default_str();
  // Read by ExpandConfigFile (config_file.h) before parsing; declared here for --help.
  cmd->add_option("--config",
                  "TOML file whose keys are this command's long flag names "
                  "(data = \"./data\"); flags on the command line override it");
  cmd->add_option("--server", server,
                  "HOST:PORT of a running 'strata serve' to work against instead of --data "
                  "(e.g. 127.0.0.1:2113)");
  cmd->add_option("--connections", connections,
                  "With --server: TCP connections to spread appends over")
      ->capture_default_str();
  cmd->add_option("--shards", shards,
                  "Shards for a new store (default 4); an existing store keeps its own");
  cmd->add_option("--durability", durability,
                  "sync: acknowledge after fsync; async: after write(2), fsync every 100 ms; "
                  "object-store: after fsync and once in a WAL object in the cold tier, so an "
                  "acknowledged event survives the loss of the node and its disk (docs/wal.md; "
                  "the default of serve --cluster)")
      ->check(CLI::IsMember({"sync", "async", "object-store"}))
      ->capture_default_str();
  cmd->add_option("--positions", positions,
                  "How appends are numbered in $all: dense (1, 2, 3, ... on this store) or "
                  "clock (microsecond ticks with the partition in the low 6 bits, unique across "
                  "a cluster and close to time; the default of serve --cluster). Both never "
                  "reuse a position, so a store may switch")
      ->check(CLI::IsMember({"dense", "clock"}))
      ->capture_default_str();
  cmd->add_option("--wal-interval-ms", wal_interval_ms,
                  "With --durability object-store: the WAL's commit interval, at most one PUT "
                  "per interval; an append waits about half of it plus one PUT")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--disk-reserve-mb", disk_reserve_mb,
                  "Free space kept on the data disk for recovery: appends are refused with "
                  "disk-full below it and resume on their own above it (0: only when a write "
                  "fails)")
      ->capture_default_str();
  RegisterTuningFlags(cmd, *this);
  RegisterColdFlags(cmd, *this);
}

std::unique_ptr<LocalStore> OpenOrReport(const StoreOptions& options) {
  auto store = LocalStore::Open(options);
  if (!store) {
    ReportError(store.error());
    return nullptr;
  }
  return std::move(*store);
}

app::StoreHandle OpenStoreOrReport(const StoreFlags& flags, bool create) {
  auto handle = app::OpenStore(flags, create);
  if (!handle) {
    ReportError(handle.error());
    return {};
  }
  return std::move(*handle);
}

int ReportError(const Error& e) {
  std::cerr << "strata: " << e.ToString() << "\n";
  return ClassOf(e.code()) == ErrorClass::kBadInput ? 2 : 1;  // exit 2: fix the command line
}

namespace {
bool IsPrintable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return false;
  }
  return true;
}
std::string Base64(const std::string& in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}
}  // namespace

std::string EventToJson(const RecordedEvent& e) {
  nlohmann::json j;
  j["position"] = e.position.value();
  j["stream"] = e.stream;
  j["revision"] = e.revision.value();
  j["id"] = e.event_id.ToString();
  j["type"] = e.type;
  j["content_type"] = e.content_type;
  j["source_ts"] = e.source_ts;
  j["recorded_ts"] = e.recorded_ts;
  j["segment_id"] = e.segment_id.value();
  if (e.link) j["link"] = {{"stream", e.link->stream}, {"revision", e.link->revision.value()}};
  auto put = [&](const char* key, const std::string& bytes) {
    if (e.content_type == "application/json") {
      auto parsed = nlohmann::json::parse(bytes, nullptr, false);
      if (!parsed.is_discarded()) {
        j[key] = parsed;
        return;
      }
    }
    if (IsPrintable(bytes)) {
      j[key] = bytes;
    } else {
      j[std::string(key) + "_base64"] = Base64(bytes);
    }
  };
  put("data", e.data);
  if (!e.metadata.empty()) put("metadata", e.metadata);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EventToLine(const RecordedEvent& e) {
  std::string data = IsPrintable(e.data) ? e.data : "<" + std::to_string(e.data.size()) + " bytes>";
  if (data.size() > 120) data = data.substr(0, 117) + "...";
  // Read through an index stream: the event's revision there first.
  const std::string link =
      e.link ? fmt::format("{}@{} -> ", e.link->stream, e.link->revision.value()) : "";
  return fmt::format("{:>10}  {}{}@{}  {}  {}", e.position.value(), link, e.stream,
                     e.revision.value(), e.type, data);
}

std::string Thousands(double v) {
  std::string s = fmt::format("{:.0f}", v);
  std::string out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.push_back(',');
    out.push_back(*it);
    ++n;
  }
  return {out.rbegin(), out.rend()};
}

Result<std::vector<projection::ProjectionSpec>> ParseProjectionFlags(
    const std::vector<std::string>& jsons) {
  std::vector<projection::ProjectionSpec> out;
  for (const auto& j : jsons) {
    auto spec = projection::ParseSpec(j);
    if (!spec) return spec.error();
    out.push_back(std::move(*spec));
  }
  return out;
}

}  // namespace strata::cli
