// strata bench cold: the cold tier's figures on the real paths, in one run against one object
// store: archive throughput, snapshot upload, single-event cold read latency, $all scan rate from
// the cold tier, and restore time per GiB. bench/cold.sh adds what needs separate processes
// (peak RSS of archiving, a plain curl/cp of the same bytes as the baseline).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/latency.h"
#include "storage/snapshot.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ColdBenchFlags {
  StoreFlags store;
  double gb = 1;
  uint32_t event_size = 1000;
  uint32_t streams = 1000;
  uint32_t reads = 2000;
  bool keep = false;
  bool fill_only = false;
};

double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double MiB(double b) { return b / (1 << 20); }

int Run(ColdBenchFlags& f) {
  if (f.store.cold.empty() || f.store.cold == "none") {
    return ReportError(Error(ErrorCode::kInvalidConfig,
                             "bench cold needs --cold URL (file:///path or s3://bucket/prefix)"));
  }
  auto base = f.store.ToOptions();
  if (!base) return ReportError(base.error());
  const std::string dir =
      (fs::path(f.store.data_dir) /
       fmt::format("bench-cold-{}", std::chrono::system_clock::now().time_since_epoch().count()))
          .string();
  fs::create_directories(dir);
  StoreOptions o = *base;
  o.data_dir = dir + "/data";
  // Each run archives under its own prefix of the cold URL, so runs never share a manifest.
  const std::string run_url =
      o.cold.url + (o.cold.url.back() == '/' ? "" : "/") + fs::path(dir).filename().string();
  o.cold.url = run_url;
  o.cold.archive = false;
  nlohmann::json j = {{"url", run_url}, {"event_size", f.event_size}};

  // 1. Fill: the backlog to archive.
  const uint64_t target = static_cast<uint64_t>(f.gb * (1ull << 30));
  std::vector<uint64_t> stream_len(f.streams, 0);
  uint64_t events = 0, bytes = 0;
  {
    auto store = OpenOrReport(o);
    if (!store) return 1;
    // Payloads compress like text: slices of a 4 MiB pool of words from a small vocabulary,
    // each event at its own offset (zstd compresses each 64 KiB block on its own, so events
    // rarely repeat one another inside a block).
    std::mt19937 rng(7);
    static const char* const kWords[] = {
        "coupon",    "redeemed", "user",   "amount", "treasure", "dispatch", "order",  "shipped",
        "warehouse", "promo",    "player", "score",  "region",   "eu-west",  "status", "pending",
        "{\"id\":",  "\"sku\":", "12.50",  "true",   "false",    "null",     "2026",   "level"};
    std::string pool;
    while (pool.size() < (4u << 20)) {
      pool += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
      pool += (rng() % 4 == 0) ? std::to_string(rng() % 100000) : " ";
    }
    std::atomic<uint64_t> outstanding{0};
    const auto t0 = Clock::now();
    uint64_t next_report = 256ull << 20;
    while (bytes < target) {
      while (outstanding.load() > 64) std::this_thread::sleep_for(std::chrono::microseconds(100));
      AppendRequest req;
      const uint32_t s = rng() % f.streams;
      req.stream = fmt::format("cold-{}", s);
      for (int i = 0; i < 100; ++i) {
        EventData e;
        e.event_id = Uuid::Random();
        e.type = "Happened";
        e.data = pool.substr(rng() % (pool.size() - f.event_size), f.event_size);
        req.events.push_back(std::move(e));
      }
      stream_len[s] += 100;
      events += 100;
      bytes += 100ull * f.event_size;
      outstanding.fetch_add(1);
      store->AppendAsync(std::move(req), [&](Result<AppendResult> r) {
        if (!r) std::cerr << "append failed: " << r.error().ToString() << "\n";
        outstanding.fetch_sub(1);
      });
      if (bytes >= next_report) {
        std::cerr << fmt::format("  filled {:.0f} MiB ({:.0f} MiB/s)\n", MiB(bytes),
                                 MiB(bytes) / Secs(t0));
        next_report += 256ull << 20;
      }
    }
    while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    j["fill_mib_s"] = MiB(bytes) / Secs(t0);
    IgnoreError(store->Close());
  }
  j["events"] = events;
  j["payload_bytes"] = bytes;
  std::cout << fmt::format("filled {} events, {:.0f} MiB of payload\n", Thousands(events),
                           MiB(bytes));
  if (f.fill_only) {  // a backlog for `strata archive flush` (bench/cold.sh measures its RSS)
    j["data"] = o.data_dir;
    std::cout << j.dump() << "\n";
    return 0;
  }

  // 2. Archive the whole backlog (every segment is sealed by the reopen).
  {
    StoreOptions a = o;
    a.cold.archive = true;
    const auto t_open = Clock::now();
    auto store = OpenOrReport(a);
    if (!store) return 1;
    j["open_seconds"] = Secs(t_open);  // recovery re-indexes the fill's unindexed tail
    const auto t0 = Clock::now();
    auto st = store->ArchiveAll(DeadlineIn(std::chrono::hours(2)));
    if (!st) return ReportError(st.error());
    const double s = Secs(t0);
    auto status = store->Archive();
    if (!status) return ReportError(status.error());
    uint64_t uploaded = 0, segments = 0;
    for (const auto& sh : status->shards) {
      uploaded += sh.uploaded_bytes;
      segments += sh.uploaded_segments;
    }
    j["archive_seconds"] = s;
    j["archive_payload_mib_s"] = MiB(bytes) / s;
    j["archive_uploaded_bytes"] = uploaded;
    j["archive_uploaded_mib_s"] = MiB(uploaded) / s;
    j["segments"] = segments;
    std::cout << fmt::format(
        "archive: {} segments, {:.0f} MiB uploaded ({:.1f}x smaller than the payload) in {:.1f} s: "
        "{:.1f} MiB/s of payload, {:.1f} MiB/s uploaded\n",
        segments, MiB(uploaded), static_cast<double>(bytes) / uploaded, s, MiB(bytes) / s,
        MiB(uploaded) / s);

    // 3. Snapshot.
    const auto t1 = Clock::now();
    auto snap = store->Snapshot(nullptr);
    if (!snap) return ReportError(snap.error());
    j["snapshot_seconds"] = Secs(t1);
    j["snapshot_bytes"] = snap->bytes;
    std::cout << fmt::format("snapshot: {} files, {:.0f} MiB in {:.1f} s ({:.1f} MiB/s)\n",
                             snap->files, MiB(snap->bytes), Secs(t1), MiB(snap->bytes) / Secs(t1));
    IgnoreError(store->Close());
  }

  // 4. Local retention 0: everything but each shard's newest segment leaves the warm tier.
  {
    StoreOptions r = o;
    r.cold.archive = true;
    r.cold.local_retention = std::chrono::seconds(0);
    auto store = OpenOrReport(r);
    if (!store) return 1;
    for (int i = 0; i < 600; ++i) {
      auto a = store->Archive();
      bool all = a.has_value();
      for (const auto& sh : a ? a->shards : std::vector<ArchiveShardStatus>{}) {
        all = all && (sh.segments < 2 || sh.warm_floor.value() > 1);
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    IgnoreError(store->Close());
  }

  // 5. Cold reads: single events by stream revision (a block cache much smaller than the data,
  // so most reads fetch a block from the object store), then a $all scan.
  {
    StoreOptions r = o;
    auto store = OpenOrReport(r);
    if (!store) return 1;
    std::mt19937 rng(11);
    Latencies lat;
    uint64_t cold_before = store->Archive()->cold_reads;
    for (uint32_t i = 0; i < f.reads; ++i) {
      uint32_t s = rng() % f.streams;
      while (stream_len[s] == 0) s = rng() % f.streams;
      ReadStreamRequest req;
      req.stream = fmt::format("cold-{}", s);
      req.from = Revision(rng() % stream_len[s]);
      req.max_count = 1;
      const auto t0 = Clock::now();
      auto got = store->ReadStream(req);
      lat.Add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      if (!got || got->events.size() != 1) {
        return ReportError(got ? Error(ErrorCode::kInternal, "a cold read returned no event")
                               : got.error());
      }
    }
    auto a = store->Archive();
    const uint64_t cold_reads = a->cold_reads - cold_before;
    j["read_p50_ms"] = lat.PercentileMs(0.5);
    j["read_p99_ms"] = lat.PercentileMs(0.99);
    j["reads_cold_fraction"] = static_cast<double>(cold_reads) / f.reads;
    j["read_cache_hits"] = a->cache_hits;
    j["read_cache_misses"] = a->cache_misses;
    std::cout << fmt::format(
        "single-event reads: {} reads, {:.0f}% from the cold tier ({} block cache misses): "
        "p50 {:.2f} ms, p99 {:.2f} ms\n",
        f.reads, 100.0 * cold_reads / f.reads, a->cache_misses, lat.PercentileMs(0.5),
        lat.PercentileMs(0.99));
    IgnoreError(store->Close());
  }
  {
    auto store = OpenOrReport(o);  // a fresh cache
    if (!store) return 1;
    uint64_t n = 0, scanned = 0;
    const auto t0 = Clock::now();
    auto st = store->ScanAll(Position(1), store->Watermark(), [&](const RecordView& v) {
      ++n;
      scanned += v.data.size();
      return true;
    });
    if (!st) return ReportError(st.error());
    const double s = Secs(t0);
    auto a = store->Archive();
    j["scan_events_s"] = n / s;
    j["scan_mib_s"] = MiB(scanned) / s;
    j["scan_cache_misses"] = a->cache_misses;
    std::cout << fmt::format(
        "$all scan: {} events ({} through the cold cursor, {} cache misses) in {:.1f} s: {} "
        "events/s, {:.0f} MiB/s of payload\n",
        Thousands(n), a->cache_misses > 0 ? "most" : "none", a->cache_misses, s, Thousands(n / s),
        MiB(scanned) / s);
    IgnoreError(store->Close());
  }

  // 6. Restore onto an empty directory, including opening the restored store.
  {
    RestoreOptions ro;
    ro.from = run_url;
    ro.s3 = o.cold.s3;
    ro.data_dir = dir + "/restored";
    const auto t0 = Clock::now();
    auto r = RestoreStore(ro);
    if (!r) return ReportError(r.error());
    StoreOptions ropt = o;
    ropt.data_dir = ro.data_dir;
    ropt.create_if_missing = false;
    auto store = OpenOrReport(ropt);
    if (!store) return 1;
    const double s = Secs(t0);
    IgnoreError(store->Close());
    const double gib = static_cast<double>(r->bytes) / (1ull << 30);
    j["restore_seconds"] = s;
    j["restore_bytes"] = r->bytes;
    j["restore_s_per_gib"] = s / gib;
    j["restore_s_per_payload_gib"] = s / f.gb;
    std::cout << fmt::format(
        "restore: snapshot of {:.0f} MiB ({} files) downloaded and opened in {:.1f} s: {:.1f} s "
        "per GiB of store, {:.1f} s per GiB of payload\n",
        MiB(r->bytes), r->files, s, s / gib, s / f.gb);
  }
  std::cout << j.dump() << "\n";
  if (!f.keep) fs::remove_all(dir);
  return 0;
}

}  // namespace

void RegisterBenchCold(CLI::App* bench, int& exit_code) {
  auto f = std::make_shared<ColdBenchFlags>();
  auto* cmd = bench->add_subcommand(
      "cold",
      "Cold tier: archive throughput, snapshot, cold single-event reads, $all scan from cold, "
      "restore s/GiB");
  f->store.Register(cmd);
  cmd->add_option("--gb", f->gb, "GiB of event payload to archive")->capture_default_str();
  cmd->add_option("--event-size", f->event_size, "Bytes of data per event")->capture_default_str();
  cmd->add_option("--streams", f->streams, "Streams")->capture_default_str();
  cmd->add_option("--reads", f->reads, "Single-event reads to time")->capture_default_str();
  cmd->add_flag("--keep", f->keep, "Keep the run's data directory");
  cmd->add_flag("--fill-only", f->fill_only,
                "Only write the backlog (nothing archived) and keep it; prints its --data and URL");
  cmd->footer("Example: strata bench cold --data /tmp/b --cold file:///tmp/b-cold --gb 1");
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
