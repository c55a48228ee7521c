// strata bench cold (cold_bench.h): one function per phase, in the order they run.
#include "tools/bench/cold_bench.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "storage/adopt.h"
#include "storage/snapshot.h"
#include "tools/bench/latencies.h"

namespace strata::bench {
namespace {

namespace fs = std::filesystem;
double MiB(double b) { return b / (1 << 20); }

// Payloads compress like text: slices of a 4 MiB pool of words from a small vocabulary, each
// event at its own offset (zstd compresses each 64 KiB block on its own, so events rarely repeat
// one another inside a block).
std::string TextPool(std::mt19937& rng) {
  static const char* const kWords[] = {
      "coupon",    "redeemed", "user",   "amount", "treasure", "dispatch", "order",  "shipped",
      "warehouse", "promo",    "player", "score",  "region",   "eu-west",  "status", "pending",
      "{\"id\":",  "\"sku\":", "12.50",  "true",   "false",    "null",     "2026",   "level"};
  std::string pool;
  while (pool.size() < (4u << 20)) {
    pool += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    pool += (rng() % 4 == 0) ? std::to_string(rng() % 100000) : " ";
  }
  return pool;
}

class ColdBench {
 public:
  ColdBench(StoreOptions options, std::string dir, const ColdBenchConfig& config,
            const ColdBenchCallbacks& callbacks, StoreOpener open)
      : o_(std::move(options)),
        dir_(std::move(dir)),
        f_(config),
        cb_(callbacks),
        open_(std::move(open)),
        stream_len_(config.streams, 0) {
    report.url = o_.cold.url;
    report.data_dir = o_.data_dir;
  }

  // 1. Fill: the backlog to archive.
  Status Fill() {
    const uint64_t target = static_cast<uint64_t>(f_.gb * (1ull << 30));
    auto store = open_(o_);
    if (!store) return store.error();
    std::mt19937 rng(7);
    const std::string pool = TextPool(rng);
    std::atomic<uint64_t> outstanding{0};
    const auto t0 = Clock::now();
    uint64_t next_report = 256ull << 20;
    uint64_t& bytes = report.payload_bytes;
    while (bytes < target) {
      while (outstanding.load() > 64) std::this_thread::sleep_for(std::chrono::microseconds(100));
      AppendRequest req;
      const uint32_t s = rng() % f_.streams;
      req.stream = fmt::format("cold-{}", s);
      for (int i = 0; i < 100; ++i) {
        EventData e;
        e.event_id = Uuid::Random();
        e.type = "Happened";
        e.data = pool.substr(rng() % (pool.size() - f_.event_size), f_.event_size);
        req.events.push_back(std::move(e));
      }
      stream_len_[s] += 100;
      report.events += 100;
      bytes += 100ull * f_.event_size;
      outstanding.fetch_add(1);
      (*store)->AppendAsync(std::move(req), [&](Result<AppendResult> r) {
        if (!r && cb_.append_failed) cb_.append_failed(r.error());
        outstanding.fetch_sub(1);
      });
      if (bytes >= next_report) {
        if (cb_.filling) cb_.filling(bytes, MiB(bytes) / Secs(t0));
        next_report += 256ull << 20;
      }
    }
    while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    report.fill_mib_s = MiB(bytes) / Secs(t0);
    IgnoreError((*store)->Close());
    Done(ColdPhase::kFill);
    return OkStatus();
  }

  // 2. Archive the whole backlog (every segment is sealed by the reopen), 3. then snapshot.
  Status ArchiveAndSnapshot() {
    StoreOptions a = o_;
    a.cold.archive = true;
    const auto t_open = Clock::now();
    auto store = open_(a);
    if (!store) return store.error();
    report.open_seconds = Secs(t_open);
    const auto t0 = Clock::now();
    STRATA_TRY((*store)->ArchiveAll(DeadlineIn(std::chrono::hours(2))));
    report.archive_seconds = Secs(t0);
    auto status = (*store)->Archive();
    if (!status) return status.error();
    for (const auto& sh : status->shards) {
      report.archive_uploaded_bytes += sh.uploaded_bytes;
      report.segments += sh.uploaded_segments;
    }
    Done(ColdPhase::kArchive);
    const auto t1 = Clock::now();
    auto snap = (*store)->Snapshot(nullptr);
    if (!snap) return snap.error();
    report.snapshot_seconds = Secs(t1);
    report.snapshot_bytes = snap->bytes;
    report.snapshot_files = snap->files;
    Done(ColdPhase::kSnapshot);
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  // 4. Local retention 0: everything but each shard's newest segment leaves the warm tier.
  Status DropWarm() {
    StoreOptions r = o_;
    r.cold.archive = true;
    r.cold.local_retention = std::chrono::seconds(0);
    auto store = open_(r);
    if (!store) return store.error();
    for (int i = 0; i < 600; ++i) {
      auto a = (*store)->Archive();
      bool all = a.has_value();
      for (const auto& sh : a ? a->shards : std::vector<ArchiveShardStatus>{}) {
        all = all && (sh.segments < 2 || sh.warm_floor.value() > 1);
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  // 5. Cold reads: single events by stream revision (a block cache much smaller than the data,
  // so most reads fetch a block from the object store), then a $all scan.
  Status ColdReads() {
    auto store = open_(o_);
    if (!store) return store.error();
    std::mt19937 rng(11);
    Latencies lat;
    uint64_t cold_before = (*store)->Archive()->cold_reads;
    for (uint32_t i = 0; i < f_.reads; ++i) {
      uint32_t s = rng() % f_.streams;
      while (stream_len_[s] == 0) s = rng() % f_.streams;
      ReadStreamRequest req;
      req.stream = fmt::format("cold-{}", s);
      req.from = Revision(rng() % stream_len_[s]);
      req.max_count = 1;
      const auto t0 = Clock::now();
      auto got = (*store)->ReadStream(req);
      lat.Add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      if (!got || got->events.size() != 1) {
        return got ? Error(ErrorCode::kInternal, "a cold read returned no event") : got.error();
      }
    }
    auto a = (*store)->Archive();
    report.reads = f_.reads;
    report.cold_reads = a->cold_reads - cold_before;
    report.read_p50_ms = lat.PercentileMs(0.5);
    report.read_p99_ms = lat.PercentileMs(0.99);
    report.read_cache_hits = a->cache_hits;
    report.read_cache_misses = a->cache_misses;
    Done(ColdPhase::kReads);
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  Status Scan() {
    auto store = open_(o_);  // a fresh cache
    if (!store) return store.error();
    const auto t0 = Clock::now();
    auto st = (*store)->ScanAll(Position(1), (*store)->Watermark(), [&](const RecordView& v) {
      ++report.scan_events;
      report.scan_bytes += v.data.size();
      return true;
    });
    if (!st) return st.error();
    report.scan_seconds = Secs(t0);
    report.scan_cache_misses = (*store)->Archive()->cache_misses;
    Done(ColdPhase::kScan);
    IgnoreError((*store)->Close());
    return OkStatus();
  }

  // 6. Restore onto an empty directory, including opening the restored store.
  Status Restore() {
    RestoreOptions ro;
    ro.from = report.url;
    ro.s3 = o_.cold.s3;
    ro.data_dir = dir_ + "/restored";
    const auto t0 = Clock::now();
    auto r = RestoreStore(ro);
    if (!r) return r.error();
    StoreOptions ropt = o_;
    ropt.data_dir = ro.data_dir;
    ropt.create_if_missing = false;
    auto store = open_(ropt);
    if (!store) return store.error();
    report.restore_seconds = Secs(t0);
    IgnoreError((*store)->Close());
    report.restore_bytes = r->bytes;
    report.restore_files = r->files;
    Done(ColdPhase::kRestore);
    return OkStatus();
  }

  // 7. A takeover: partitions copied from the object store into an empty store.
  Status TakeOver() {
    auto os = objstore::Open(report.url, o_.cold.s3);
    if (!os) return os.error();
    StoreOptions to = o_;
    to.data_dir = dir_ + "/took-over";
    to.cold.url.clear();
    auto store = open_(to);
    if (!store) return store.error();
    std::vector<uint32_t> partitions;
    for (uint32_t p = 0; p < std::min(f_.takeover_partitions, o_.partitions); ++p) {
      partitions.push_back(p);
    }
    auto r = storage::AdoptPartitions(**store, **os, partitions, o_.partitions);
    if (!r) return r.error();
    IgnoreError((*store)->Close());
    report.takeover_seconds = r->seconds;
    report.takeover_read_seconds = r->read_seconds;
    report.takeover_events = r->events;
    report.takeover_read_bytes = r->bytes;
    report.takeover_payload_bytes = r->events * f_.event_size;
    Done(ColdPhase::kTakeOver);
    return OkStatus();
  }

  ColdBenchReport report;

 private:
  void Done(ColdPhase phase) {
    if (cb_.phase_done) cb_.phase_done(phase, report);
  }

  const StoreOptions o_;  // the filled store's
  const std::string dir_;
  const ColdBenchConfig& f_;
  const ColdBenchCallbacks& cb_;
  const StoreOpener open_;
  std::vector<uint64_t> stream_len_;  // events appended to each stream cold-<i>
};

}  // namespace

Result<ColdBenchReport> RunColdBench(const app::StoreConfig& store_config,
                                     const ColdBenchConfig& config,
                                     const ColdBenchCallbacks& callbacks, const StoreOpener& open) {
  if (store_config.cold.empty() || store_config.cold == "none") {
    return Error(ErrorCode::kInvalidConfig,
                 "bench cold needs --cold URL (file:///path or s3://bucket/prefix)");
  }
  auto base = app::ToStoreOptions(store_config);
  if (!base) return base.error();
  const std::string dir = MakeRunDir(store_config.data_dir, "cold");
  StoreOptions o = *base;
  o.data_dir = dir + "/data";
  // Each run archives under its own prefix of the cold URL, so runs never share a manifest.
  o.cold.url += (o.cold.url.back() == '/' ? "" : "/") + fs::path(dir).filename().string();
  o.cold.archive = false;
  ColdBench bench(std::move(o), dir, config, callbacks,
                  open ? open : StoreOpener(&LocalStore::Open));
  STRATA_TRY(bench.Fill());
  if (config.fill_only) return bench.report;  // a backlog for `strata archive flush`
  STRATA_TRY(bench.ArchiveAndSnapshot());
  STRATA_TRY(bench.DropWarm());
  STRATA_TRY(bench.ColdReads());
  STRATA_TRY(bench.Scan());
  STRATA_TRY(bench.Restore());
  STRATA_TRY(bench.TakeOver());
  if (!config.keep) fs::remove_all(dir);
  return bench.report;
}

}  // namespace strata::bench
