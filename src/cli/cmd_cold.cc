// The cold tier's commands: archive status, segments list, snapshot, restore.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "storage/snapshot.h"

namespace strata::cli {
namespace {

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", b, units[u]) : fmt::format("{:.1f} {}", b, units[u]);
}

// Prints progress at most twice a second, on one line when stderr is a terminal.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::string what) : what_(std::move(what)), tty_(::isatty(2)) {}
  void operator()(const SnapshotProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.phase != "done" && p.phase == last_phase_ &&
        now - last_ < std::chrono::milliseconds(500)) {
      return;
    }
    last_ = now;
    last_phase_ = p.phase;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::string line = fmt::format("{}: {}", what_, p.phase);
    if (p.bytes_total > 0) {
      line += fmt::format(
          " {} / {} ({:.0f}%)", Bytes(static_cast<double>(p.bytes_done)),
          Bytes(static_cast<double>(p.bytes_total)),
          100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total));
    }
    if (p.files_total > 0) line += fmt::format(", {}/{} files", p.files_done, p.files_total);
    if (secs > 0.5 && p.bytes_done > 0) {
      line += fmt::format(", {}/s", Bytes(static_cast<double>(p.bytes_done) / secs));
    }
    if (tty_) {
      std::cerr << "\r\033[K" << line << (p.phase == "done" ? "\n" : "") << std::flush;
    } else {
      std::cerr << line << "\n";
    }
  }

 private:
  std::string what_;
  bool tty_;
  std::string last_phase_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

struct ColdFlags {
  StoreFlags store;
  bool json = false;
  int shard = -1;
  bool list = false;
  // restore
  std::string from, snapshot;
  double timeout_seconds = 600;
};

int ArchiveStatusCmd(ColdFlags& f) {
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  auto a = store.operations().Archive();
  if (!a) return ReportError(a.error());
  if (f.json) {
    nlohmann::json j = {{"enabled", a->enabled},           {"url", a->url},
                        {"cold_reads", a->cold_reads},     {"cache_hits", a->cache_hits},
                        {"cache_misses", a->cache_misses}, {"cache_bytes", a->cache_bytes}};
    j["shards"] = nlohmann::json::array();
    for (const auto& s : a->shards) {
      j["shards"].push_back({{"shard", s.shard},
                             {"segments", s.segments},
                             {"archived_upto", s.archived_upto.value()},
                             {"warm_floor", s.warm_floor.value()},
                             {"backlog_bytes", s.backlog_bytes},
                             {"backlog_age_us", s.backlog_age_us},
                             {"uploaded_segments", s.uploaded_segments},
                             {"uploaded_bytes", s.uploaded_bytes},
                             {"upload_seconds", s.upload_seconds},
                             {"errors", s.errors},
                             {"last_error", s.last_error}});
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (!a->enabled) {
    std::cout << "no cold tier: every event stays in the warm tier (configure one with --cold)\n";
    return 0;
  }
  std::cout << "cold tier: " << a->url << "\n";
  std::cout << fmt::format("{:>5} {:>9} {:>13} {:>12} {:>11} {:>9} {:>9} {:>11} {:>7}\n", "shard",
                           "segments", "archived to", "warm floor", "backlog", "age s", "uploaded",
                           "rate", "errors");
  for (const auto& s : a->shards) {
    const double rate =
        s.upload_seconds > 0 ? static_cast<double>(s.uploaded_bytes) / s.upload_seconds : 0;
    std::cout << fmt::format("{:>5} {:>9} {:>13} {:>12} {:>11} {:>9.1f} {:>9} {:>11} {:>7}\n",
                             s.shard, s.segments, s.archived_upto.value(), s.warm_floor.value(),
                             Bytes(static_cast<double>(s.backlog_bytes)),
                             static_cast<double>(s.backlog_age_us) / 1e6, s.uploaded_segments,
                             rate > 0 ? Bytes(rate) + "/s" : "-", s.errors);
    if (!s.last_error.empty()) {
      std::cout << "      shard " << s.shard << " last error: " << s.last_error << "\n";
    }
  }
  std::cout << fmt::format("cold reads since open: {}; block cache {} hits, {} misses, {} held\n",
                           a->cold_reads, a->cache_hits, a->cache_misses,
                           Bytes(static_cast<double>(a->cache_bytes)));
  if (f.store.server.empty()) {
    std::cout << "(uploads and errors count since this command opened the store; "
                 "ask the server with --server for its figures)\n";
  }
  return 0;
}

int ArchiveFlushCmd(ColdFlags& f) {
  f.store.archive = true;  // this command runs the archivers while it waits
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  const auto started = std::chrono::steady_clock::now();
  auto st = store.operations().ArchiveAll(
      DeadlineIn(std::chrono::milliseconds(static_cast<int64_t>(f.timeout_seconds * 1000))));
  if (!st) return ReportError(st.error());
  auto a = store.operations().Archive();
  if (!a) return ReportError(a.error());
  uint64_t segments = 0;
  for (const auto& s : a->shards) segments += s.segments;
  std::cout << fmt::format(
      "every sealed segment is archived: {} segments in {} ({:.1f} s)\n", segments, a->url,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}

int SegmentsListCmd(ColdFlags& f) {
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  auto segs = store.operations().ListSegments();
  if (!segs) return ReportError(segs.error());
  nlohmann::json j = nlohmann::json::array();
  if (!f.json) {
    std::cout << fmt::format("{:>5} {:>18} {:>12} {:>12} {:>9} {:>10}  {}\n", "shard", "segment",
                             "first pos", "last pos", "events", "size", "key");
  }
  uint64_t n = 0, bytes = 0, events = 0;
  for (const auto& s : *segs) {
    if (f.shard >= 0 && s.shard != static_cast<uint32_t>(f.shard)) continue;
    ++n;
    bytes += s.bytes;
    events += s.events;
    if (f.json) {
      j.push_back({{"shard", s.shard},
                   {"segment_id", s.segment_id},
                   {"first_position", s.first_position.value()},
                   {"last_position", s.last_position.value()},
                   {"min_source_ts", s.min_source_ts},
                   {"max_source_ts", s.max_source_ts},
                   {"max_recorded_ts", s.max_recorded_ts},
                   {"events", s.events},
                   {"bytes", s.bytes},
                   {"key", s.key}});
    } else {
      std::cout << fmt::format("{:>5} {:>18x} {:>12} {:>12} {:>9} {:>10}  {}\n", s.shard,
                               s.segment_id, s.first_position.value(), s.last_position.value(),
                               s.events, Bytes(static_cast<double>(s.bytes)), s.key);
    }
  }
  if (f.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << fmt::format("{} segments, {} events, {}\n", n, events,
                             Bytes(static_cast<double>(bytes)));
  }
  return 0;
}

int SnapshotCmd(ColdFlags& f) {
  if (f.list) {
    auto options = f.store.ToOptions();
    if (!options) return ReportError(options.error());
    if (options->cold.url.empty()) {
      return ReportError(Error(ErrorCode::kInvalidConfig, "no cold tier: give --cold URL"));
    }
    auto os = objstore::Open(options->cold.url, options->cold.s3);
    if (!os) return ReportError(os.error());
    auto snaps = ListSnapshots(**os);
    if (!snaps) return ReportError(snaps.error());
    if (f.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& s : *snaps) {
        j.push_back({{"id", s.id},
                     {"created_us", s.created_us},
                     {"bytes", s.bytes},
                     {"files", s.files},
                     {"shards", s.shards}});
      }
      std::cout << j.dump() << "\n";
      return 0;
    }
    for (const auto& s : *snaps) {
      std::cout << fmt::format("{}  {} shards, {} files, {}\n", s.id, s.shards, s.files,
                               Bytes(static_cast<double>(s.bytes)));
    }
    std::cout << snaps->size() << " complete snapshots in " << (*os)->url() << "\n";
    return 0;
  }
  auto store = OpenStoreOrReport(f.store, false);
  if (!store) return 1;
  ProgressPrinter printer("snapshot");
  auto info = store.operations().Snapshot([&](const SnapshotProgress& p) { printer(p); });
  if (!info) return ReportError(info.error());
  if (f.json) {
    std::cout << nlohmann::json({{"id", info->id},
                                 {"bytes", info->bytes},
                                 {"files", info->files},
                                 {"reused_files", info->reused_files},
                                 {"seconds", info->seconds}})
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format(
        "snapshot {}: {} files, {} in {:.1f} s{}\n", info->id, info->files,
        Bytes(static_cast<double>(info->bytes)), info->seconds,
        info->reused_files ? fmt::format(" ({} files were already uploaded)", info->reused_files)
                           : "");
  }
  return 0;
}

int RestoreCmd(ColdFlags& f) {
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  RestoreOptions ro;
  ro.from = f.from;
  ro.s3 = options->cold.s3;
  ro.data_dir = options->data_dir;
  ro.snapshot = f.snapshot;
  ProgressPrinter printer("restore");
  ro.progress = [&](const SnapshotProgress& p) { printer(p); };
  auto r = RestoreStore(ro);
  if (!r) return ReportError(r.error());
  // Open once: recovery indexes the records copied in from segments, and the check that the
  // store opens belongs to the restore.
  StoreOptions so = *options;
  so.cold.url = f.from;
  so.cold.archive = false;
  so.create_if_missing = false;
  const auto started = std::chrono::steady_clock::now();
  auto store = OpenOrReport(so);
  if (!store) return 1;
  const Position watermark = store->Watermark();
  IgnoreError(store->Close());
  const double open_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double total = r->seconds + open_s;
  if (f.json) {
    std::cout << nlohmann::json({{"snapshot", r->snapshot},
                                 {"bytes", r->bytes},
                                 {"files", r->files},
                                 {"segments", r->segments},
                                 {"events", r->events},
                                 {"wal_objects", r->wal_objects},
                                 {"wal_events", r->wal_events},
                                 {"download_seconds", r->seconds},
                                 {"open_seconds", open_s},
                                 {"seconds", total},
                                 {"next_position", watermark.value()}})
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << fmt::format(
      "restored {} into {}: {} ({} files), {} archived segments after it ({} events), {} "
      "records of the object-store WAL after those; {:.1f} s to download and copy, {:.1f} s to "
      "open; next position {}\n",
      r->snapshot.empty() ? std::string("from segments only (no snapshot)")
                          : "snapshot " + r->snapshot,
      options->data_dir, Bytes(static_cast<double>(r->bytes)), r->files, r->segments, r->events,
      r->wal_events, r->seconds, open_s, watermark.value());
  std::cout << "start it with: strata serve --data " << options->data_dir << " --cold " << f.from
            << "\n";
  return 0;
}

}  // namespace

void RegisterCold(CLI::App& app, int& exit_code) {
  {
    auto f = std::make_shared<ColdFlags>();
    auto* archive = app.add_subcommand("archive", "The cold tier's archivers");
    archive->require_subcommand(1);
    auto* status = archive->add_subcommand(
        "status", "Per shard: segments archived, warm floor, backlog, upload rate, errors");
    f->store.Register(status);
    status->add_flag("--json", f->json, "One JSON object");
    status->callback([f, &exit_code] { exit_code = ArchiveStatusCmd(*f); });
    auto g = std::make_shared<ColdFlags>();
    auto* flush = archive->add_subcommand(
        "flush",
        "Seal every shard's open segment and wait until everything is archived (before taking a "
        "node down, or to test a cold tier)");
    g->store.Register(flush);
    flush->add_option("--timeout", g->timeout_seconds, "Give up after this many seconds")
        ->capture_default_str();
    flush->callback([g, &exit_code] { exit_code = ArchiveFlushCmd(*g); });
  }
  {
    auto f = std::make_shared<ColdFlags>();
    auto* segments = app.add_subcommand("segments", "Archived segments");
    segments->require_subcommand(1);
    auto* list = segments->add_subcommand("list", "Every archived segment of every shard");
    f->store.Register(list);
    list->add_option("--shard", f->shard, "Only this shard");
    list->add_flag("--json", f->json, "One JSON array");
    list->callback([f, &exit_code] { exit_code = SegmentsListCmd(*f); });
  }
  {
    auto f = std::make_shared<ColdFlags>();
    auto* snap = app.add_subcommand(
        "snapshot",
        "Stream a consistent checkpoint of every shard to the cold tier (resumes an interrupted "
        "one); --list shows the snapshots there");
    f->store.Register(snap);
    snap->add_flag("--list", f->list, "List the complete snapshots in the cold tier instead");
    snap->add_flag("--json", f->json, "JSON output");
    snap->footer(
        "Against a running server: strata snapshot --server 127.0.0.1:2113\n"
        "Restore with: strata restore --from <cold URL> --data <empty dir>");
    snap->callback([f, &exit_code] { exit_code = SnapshotCmd(*f); });
  }
  {
    auto f = std::make_shared<ColdFlags>();
    auto* restore = app.add_subcommand(
        "restore",
        "Rebuild an empty data directory from a snapshot in an object store and the archived "
        "segments after it");
    f->store.Register(restore);
    restore->add_option("--from", f->from, "Object store URL the store archived to")->required();
    restore->add_option("--snapshot", f->snapshot, "Snapshot id (default: the latest)");
    restore->add_flag("--json", f->json, "JSON output");
    restore->callback([f, &exit_code] { exit_code = RestoreCmd(*f); });
  }
}

}  // namespace strata::cli
