// strata bench read (bench.h): $all scans and stream reads from the warm tier.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "tools/bench/bench.h"

namespace strata::bench {
namespace {
using Clock = std::chrono::steady_clock;

// Loads `events` events with async appends (expected any) for the read benchmarks.
void Load(Store& store, const BenchConfig& f, const ReadCallbacks& callbacks) {
  std::string payload(f.event_size, 'x');
  std::atomic<uint64_t> outstanding{0};
  uint64_t issued = 0;
  const uint32_t batch = 100;
  std::mt19937 rng(7);
  auto t0 = Clock::now();
  while (issued < f.events) {
    while (outstanding.load() > 256) std::this_thread::sleep_for(std::chrono::microseconds(100));
    AppendRequest req;
    req.stream = fmt::format("bench-{}", rng() % f.streams);
    for (uint32_t i = 0; i < batch; ++i) {
      EventData e;
      e.event_id = Uuid::Random();
      e.type = i % 2 ? "OrderPlaced" : "OrderShipped";
      e.data = payload;
      req.events.push_back(std::move(e));
    }
    issued += batch;
    outstanding.fetch_add(1);
    store.AppendAsync(std::move(req), [&](Result<AppendResult>) { outstanding.fetch_sub(1); });
    if (issued % 500'000 == 0 && callbacks.loaded) {
      callbacks.loaded(issued, issued / std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Three rounds of a whole $all scan each way: ScanAll (no copy), then ReadAll in pages of 4096,
// materialising every event as a reader gets it. Fills the medians of `report`.
Status TimeScans(LocalStore& store, const ReadCallbacks& callbacks, ReadReport* report) {
  std::vector<double> scan_rates, view_rates;
  for (int round = 0; round < 3; ++round) {
    uint64_t n = 0, bytes = 0;
    auto t0 = Clock::now();
    auto st = store.ScanAll(Position(1), Position(UINT64_MAX), [&](const RecordView& v) {
      ++n;
      bytes += v.data.size();
      return true;
    });
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!st) return st.error();
    view_rates.push_back(n / secs);
    n = 0;
    t0 = Clock::now();
    std::optional<Position> from;
    while (true) {
      ReadAllRequest req;
      req.from = from;
      req.max_count = 4096;
      auto r = store.ReadAll(req);
      if (!r) return r.error();
      n += r->events.size();
      if (r->end) break;
      from = r->next;
    }
    secs = std::chrono::duration<double>(Clock::now() - t0).count();
    scan_rates.push_back(n / secs);
    if (callbacks.round) callbacks.round({round + 1, view_rates.back(), scan_rates.back(), n});
  }
  std::sort(scan_rates.begin(), scan_rates.end());
  std::sort(view_rates.begin(), view_rates.end());
  report->readall_events_per_sec = scan_rates[1];
  report->scanall_events_per_sec = view_rates[1];
  return OkStatus();
}

// Stream reads for 3 s: whole streams (about events/streams events each), random order.
void TimeStreamReads(Store& store, const BenchConfig& f, ReadReport* report) {
  std::mt19937 rng(11);
  uint64_t reads = 0, events = 0;
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < 3) {
    ReadStreamRequest req;
    req.stream = fmt::format("bench-{}", rng() % f.streams);
    req.max_count = 1000;
    auto r = store.ReadStream(req);
    if (r) events += r->events.size();
    ++reads;
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  report->stream_reads_per_sec = reads / secs;
  report->stream_read_events_per_sec = events / secs;
}

}  // namespace

Result<ReadReport> RunRead(const app::StoreConfig& store_config, const BenchConfig& config,
                           const ReadCallbacks& callbacks, const StoreOpener& opener) {
  if (!store_config.server.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "bench read loads and scans its own fresh store; run it without --server");
  }
  const StoreOpener open = opener ? opener : StoreOpener(&LocalStore::Open);
  auto options = app::ToStoreOptions(store_config);
  if (!options) return options.error();
  options->data_dir = MakeRunDir(store_config.data_dir, "read");
  options->durability = Durability::kAsync;  // loading only
  {
    auto store = open(*options);
    if (!store) return store.error();
    if (callbacks.loading) callbacks.loading();
    Load(**store, config, callbacks);
  }
  // Reopen: the ring is empty, so every read comes from the warm tier.
  auto store = open(*options);
  if (!store) return store.error();
  ReadReport report;
  STRATA_TRY(TimeScans(**store, callbacks, &report));
  TimeStreamReads(**store, config, &report);
  IgnoreError((*store)->Close());
  store->reset();
  if (!config.keep) std::filesystem::remove_all(options->data_dir);
  return report;
}

}  // namespace strata::bench
