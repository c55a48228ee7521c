// strata bench ingest | read | tail: end-to-end benchmarks of the embedded store.
// Every figure printed comes from the real append/read path; see bench/README.md.
#include <fmt/format.h>

#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/latency.h"

namespace strata::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  StoreFlags store;
  uint32_t producers = 4;
  uint32_t inflight = 512;  // appends in flight per producer
  uint32_t streams = 10000;
  uint32_t event_size = 200;
  uint32_t events_per_append = 1;
  double duration = 10;
  double warmup = 2;
  double rate = 0;        // events/s target, 0 = as fast as possible
  double burst_rate = 0;  // after burst_after seconds, switch to this rate (0: no burst)
  double burst_after = 0;
  uint64_t events = 2'000'000;  // read bench: events to load
  bool keep = false, json = false;
  // Stream names are "<prefix>-N"; against a server each run gets its own prefix, so a rerun
  // does not start on streams an earlier run left at other revisions.
  std::string prefix = "bench";
};

// A fresh directory for the run under --data, removed afterwards unless --keep.
std::string RunDir(const BenchFlags& f, const char* what) {
  auto dir =
      fs::path(f.store.data_dir) /
      fmt::format("bench-{}-{}", what, std::chrono::system_clock::now().time_since_epoch().count());
  fs::create_directories(dir);
  return dir.string();
}

// The store a benchmark runs on: the server of --server (its own data, left as it is), or a
// fresh store in a new directory under --data (*dir, removed afterwards unless --keep).
std::unique_ptr<Store> OpenBenchStore(const BenchFlags& f, const char* what, std::string* dir) {
  if (!f.store.server.empty()) return OpenStoreOrReport(f.store, false);
  auto options = f.store.ToOptions();
  if (!options) {
    ReportError(options.error());
    return nullptr;
  }
  options->data_dir = *dir = RunDir(f, what);
  // Benchmarks measure the warm path; a cold tier only when asked for with --cold (the default
  // one would be shared by every run under --data).
  // With --cold the archivers run during the benchmark (their cost on the append path).
  if (f.store.cold.empty()) options->cold.url.clear();
  options->cold.archive = !f.store.cold.empty();
  return OpenOrReport(*options);
}

void CloseBenchStore(const BenchFlags& f, std::unique_ptr<Store> store, const std::string& dir) {
  IgnoreError(store->Close());
  store.reset();
  if (!f.keep && !dir.empty()) fs::remove_all(dir);
}

struct IngestResult {
  double events_per_sec = 0;
  uint64_t events = 0, errors = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;           // call -> ack
  double sched_p50 = 0, sched_p99 = 0, sched_p999 = 0;  // intended -> ack
};

// One producer: owns streams i ≡ id (mod producers); keeps `inflight` appends outstanding, each
// with an exact expected revision and fresh event ids.
class Producer {
 public:
  Producer(Store* store, const BenchFlags& f, uint32_t id)
      : store_(store), f_(f), id_(id), payload_(f.event_size, 'x') {
    for (uint32_t s = id; s < f.streams; s += f.producers) {
      streams_.push_back({fmt::format("{}-{}", f.prefix, s), -1});
    }
  }

  void Run(Clock::time_point measure_from, Clock::time_point until) {
    std::vector<uint32_t> idle(streams_.size());
    for (uint32_t i = 0; i < idle.size(); ++i) idle[i] = i;
    std::mt19937 rng(id_);
    std::shuffle(idle.begin(), idle.end(), rng);
    uint32_t outstanding = 0;
    const double per_producer_rate = f_.rate / f_.producers;  // events/s
    const auto start = Clock::now();
    const auto burst_start =
        start + std::chrono::milliseconds(static_cast<int64_t>(f_.burst_after * 1000));
    uint64_t issued_events = 0, burst_issued = 0;
    std::vector<Done> done;
    while (true) {
      auto now = Clock::now();
      bool stop = now >= until;
      // Issue while there is room (and, with --rate, while on schedule).
      while (!stop && outstanding < f_.inflight && !idle.empty()) {
        Clock::time_point intended = now;
        if (f_.burst_rate > 0 && now >= burst_start) {
          if (burst_issued == 0) burst_issued = 1;
          intended = burst_start + std::chrono::nanoseconds(static_cast<int64_t>(
                                       (burst_issued - 1) * 1e9 / (f_.burst_rate / f_.producers)));
          if (intended > now) break;
          burst_issued += f_.events_per_append;
        } else if (per_producer_rate > 0) {
          intended = start + std::chrono::nanoseconds(
                                 static_cast<int64_t>(issued_events * 1e9 / per_producer_rate));
          if (intended > now) break;
        }
        uint32_t s = idle.back();
        idle.pop_back();
        Issue(s, intended, measure_from);
        issued_events += f_.events_per_append;
        ++outstanding;
      }
      if (stop && outstanding == 0) break;
      {
        std::unique_lock lock(mu_);
        if (completions_.empty()) {
          auto wake = (per_producer_rate > 0 || f_.burst_rate > 0)
                          ? now + std::chrono::microseconds(200)
                          : until;
          if (stop) wake = now + std::chrono::milliseconds(100);
          cv_.wait_until(lock, wake, [&] { return !completions_.empty(); });
        }
        done.swap(completions_);
      }
      for (const Done& d : done) {
        --outstanding;
        idle.push_back(d.stream);
        if (d.ok) {
          streams_[d.stream].revision = d.revision;
        } else {
          ++errors_;
          // Resynchronise: the next append to it uses its actual revision.
          streams_[d.stream].revision = d.revision;
        }
      }
      done.clear();
    }
  }

  Latencies latencies;           // AppendAsync call -> acknowledgement
  Latencies schedule_latencies;  // intended send time (--rate) -> acknowledgement
  uint64_t events_measured = 0;
  uint64_t errors_ = 0;

 private:
  struct StreamState {
    std::string name;
    int64_t revision;
  };
  struct Done {
    uint32_t stream;
    bool ok;
    int64_t revision;
  };

  void Issue(uint32_t s, Clock::time_point intended, Clock::time_point measure_from) {
    AppendRequest req;
    req.stream = streams_[s].name;
    req.expected =
        streams_[s].revision < 0
            ? ExpectedRevision::NoStream()
            : ExpectedRevision::Exact(Revision(static_cast<uint64_t>(streams_[s].revision)));
    req.events.resize(f_.events_per_append);
    for (auto& e : req.events) {
      e.event_id = Uuid::Random();
      e.type = "BenchEvent";
      e.data = payload_;
    }
    const int64_t start_ns = intended.time_since_epoch().count();
    const int64_t call_ns = Clock::now().time_since_epoch().count();
    const bool measured = intended >= measure_from;
    const int64_t prev = streams_[s].revision;
    store_->AppendAsync(
        std::move(req), [this, s, start_ns, call_ns, measured, prev](Result<AppendResult> r) {
          const int64_t now = Clock::now().time_since_epoch().count();
          std::lock_guard lock(mu_);
          if (r) {
            if (measured) {
              latencies.Add(now - call_ns);
              schedule_latencies.Add(now - start_ns);
              events_measured += r->count;
            }
            completions_.push_back({s, true, static_cast<int64_t>(r->last_revision.value())});
          } else {
            int64_t actual =
                r.error().actual_revision ? static_cast<int64_t>(*r.error().actual_revision) : prev;
            completions_.push_back({s, false, actual});
          }
          if (completions_.size() == 1) cv_.notify_one();  // the producer drains them all at once
        });
  }

  Store* store_;
  const BenchFlags& f_;
  uint32_t id_;
  std::string payload_;
  std::vector<StreamState> streams_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> completions_;  // GUARDED_BY(mu_)
};

IngestResult RunIngest(Store* store, const BenchFlags& f, bool progress) {
  std::vector<std::unique_ptr<Producer>> producers;
  for (uint32_t i = 0; i < f.producers; ++i)
    producers.push_back(std::make_unique<Producer>(store, f, i));
  auto t0 = Clock::now();
  auto measure_from = t0 + std::chrono::milliseconds(static_cast<int64_t>(f.warmup * 1000));
  auto until = measure_from + std::chrono::milliseconds(static_cast<int64_t>(f.duration * 1000));
  std::vector<std::thread> threads;
  for (auto& p : producers) threads.emplace_back([&, p = p.get()] { p->Run(measure_from, until); });
  std::atomic<bool> done{false};
  std::thread reporter([&] {
    uint64_t last_appends = 0;
    auto last_t = Clock::now();
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      if (done) break;
      auto st = store->Stats();
      uint64_t appends = 0, queued = 0;
      for (auto& s : st.shards) {
        appends += s.appends;
        queued += s.queue_depth;
      }
      auto now = Clock::now();
      double secs = std::chrono::duration<double>(now - last_t).count();
      double rate = (appends - last_appends) * f.events_per_append / secs;
      if (progress) {
        std::cerr << fmt::format("  {:5.1f}s  {:>10} events/s  queued {:>6}  rss {} MiB{}\n",
                                 std::chrono::duration<double>(now - t0).count(), Thousands(rate),
                                 queued, ReadRss().current >> 20,
                                 now < measure_from ? "  (warm-up)" : "");
      }
      last_appends = appends;
      last_t = now;
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  reporter.join();
  IngestResult r;
  Latencies all, sched;
  for (auto& p : producers) {
    all.Merge(p->latencies);
    sched.Merge(p->schedule_latencies);
    r.events += p->events_measured;
    r.errors += p->errors_;
  }
  r.events_per_sec = r.events / f.duration;
  r.p50 = all.PercentileMs(0.5);
  r.p99 = all.PercentileMs(0.99);
  r.p999 = all.PercentileMs(0.999);
  r.max = all.PercentileMs(1.0);
  r.sched_p50 = sched.PercentileMs(0.5);
  r.sched_p99 = sched.PercentileMs(0.99);
  r.sched_p999 = sched.PercentileMs(0.999);
  return r;
}

int Ingest(BenchFlags& f) {
  if (!f.store.server.empty()) {
    f.prefix = fmt::format("bench{}", std::chrono::system_clock::now().time_since_epoch().count() /
                                          1000000 % 100000000);
  }
  std::string dir;
  auto store = OpenBenchStore(f, "ingest", &dir);
  if (!store) return 1;
  std::cerr << fmt::format(
      "bench ingest: {} producers x {} in flight, {} streams, {}-byte events, {} per append, "
      "{}, {}{}s (+{}s warm-up)\n",
      f.producers, f.inflight, f.streams, f.event_size, f.events_per_append,
      f.store.server.empty() ? fmt::format("in-process, durability={}, {} shards",
                                           f.store.durability, f.store.shards ? f.store.shards : 4)
                             : fmt::format("over gRPC to {} (BatchAppend, {} connections)",
                                           f.store.server, f.store.connections),
      f.rate > 0 ? "rate " + Thousands(f.rate) + " events/s, " : "", f.duration, f.warmup);
  IngestResult r = RunIngest(store.get(), f, true);
  Rss rss = ReadRss();
  auto st = store->Stats();
  uint64_t groups = 0, appends = 0, stall = 0;
  for (auto& s : st.shards) {
    groups += s.groups;
    appends += s.appends;
    stall += s.write_stall_micros;
  }
  CloseBenchStore(f, std::move(store), dir);
  std::cout << fmt::format(
      "ingest: {} events/s ({} events in {}s), append latency (call -> ack) p50 {:.2f} ms  p99 "
      "{:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms; {} appends per group commit; errors {}; rss {} "
      "MiB (peak {} MiB); write stalls {} ms\n",
      Thousands(r.events_per_sec), Thousands(r.events), f.duration, r.p50, r.p99, r.p999, r.max,
      groups ? appends / groups : 0, r.errors, rss.current >> 20, rss.peak >> 20, stall / 1000);
  if (f.rate > 0 || f.burst_rate > 0) {
    std::cout << fmt::format(
        "        open-loop latency (intended send time -> ack, includes the producers' own "
        "scheduling delay): p50 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms\n",
        r.sched_p50, r.sched_p99, r.sched_p999);
  }
  if (f.json) {
    nlohmann::json j = {{"bench", "ingest"},
                        {"events_per_sec", r.events_per_sec},
                        {"events", r.events},
                        {"p50_ms", r.p50},
                        {"p99_ms", r.p99},
                        {"p999_ms", r.p999},
                        {"max_ms", r.max},
                        {"errors", r.errors},
                        {"sched_p50_ms", r.sched_p50},
                        {"sched_p99_ms", r.sched_p99},
                        {"sched_p999_ms", r.sched_p999},
                        {"producers", f.producers},
                        {"inflight", f.inflight},
                        {"streams", f.streams},
                        {"event_size", f.event_size},
                        {"events_per_append", f.events_per_append},
                        {"durability", f.store.durability},
                        {"server", f.store.server},
                        {"connections", f.store.connections},
                        {"rate", f.rate},
                        {"appends_per_group", groups ? appends / groups : 0},
                        {"rss_bytes", rss.current},
                        {"rss_peak_bytes", rss.peak},
                        {"write_stall_ms", stall / 1000}};
    std::cout << j.dump() << "\n";
  }
  return 0;
}

// Loads `events` events with async appends (expected any) for the read benchmarks.
void Load(Store* store, const BenchFlags& f) {
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
    store->AppendAsync(std::move(req), [&](Result<AppendResult>) { outstanding.fetch_sub(1); });
    if (issued % 500'000 == 0) {
      std::cerr << fmt::format("  loaded {} events ({:.0f}/s)\n", Thousands(issued),
                               issued / std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int Read(BenchFlags& f) {
  if (!f.store.server.empty()) {
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "bench read loads and scans its own fresh store; run it without "
                             "--server"));
  }
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  options->data_dir = RunDir(f, "read");
  options->durability = Durability::kAsync;  // loading only
  {
    auto store = OpenOrReport(*options);
    if (!store) return 1;
    std::cerr << fmt::format("bench read: loading {} events of {} bytes over {} streams\n",
                             Thousands(f.events), f.event_size, f.streams);
    Load(store.get(), f);
  }
  // Reopen: the ring is empty, so every read comes from the warm tier.
  auto store = OpenOrReport(*options);
  if (!store) return 1;
  std::vector<double> scan_rates, view_rates;
  for (int round = 0; round < 3; ++round) {
    uint64_t n = 0, bytes = 0;
    auto t0 = Clock::now();
    auto st = store->ScanAll(Position(1), Position(UINT64_MAX), [&](const RecordView& v) {
      ++n;
      bytes += v.data.size();
      return true;
    });
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!st) return ReportError(st.error());
    view_rates.push_back(n / secs);
    // ReadAll in pages of 4096, materialising every event as a reader gets it.
    n = 0;
    t0 = Clock::now();
    std::optional<Position> from;
    while (true) {
      ReadAllRequest req;
      req.from = from;
      req.max_count = 4096;
      auto r = store->ReadAll(req);
      if (!r) return ReportError(r.error());
      n += r->events.size();
      if (r->end) break;
      from = r->next;
    }
    secs = std::chrono::duration<double>(Clock::now() - t0).count();
    scan_rates.push_back(n / secs);
    std::cerr << fmt::format("  round {}: ScanAll {} events/s, ReadAll {} events/s ({} events)\n",
                             round + 1, Thousands(view_rates.back()), Thousands(scan_rates.back()),
                             Thousands(n));
  }
  // Stream reads: whole streams (about events/streams events each), random order.
  std::mt19937 rng(11);
  uint64_t reads = 0, events = 0;
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < 3) {
    ReadStreamRequest req;
    req.stream = fmt::format("bench-{}", rng() % f.streams);
    req.max_count = 1000;
    auto r = store->ReadStream(req);
    if (r) events += r->events.size();
    ++reads;
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(scan_rates.begin(), scan_rates.end());
  std::sort(view_rates.begin(), view_rates.end());
  std::cout << fmt::format(
      "read: $all scan from the warm tier (median of 3): ReadAll {} events/s, ScanAll (no copy) "
      "{} events/s; stream reads {} reads/s ({} events/s)\n",
      Thousands(scan_rates[1]), Thousands(view_rates[1]), Thousands(reads / secs),
      Thousands(events / secs));
  if (f.json) {
    std::cout << nlohmann::json({{"bench", "read"},
                                 {"readall_events_per_sec", scan_rates[1]},
                                 {"scanall_events_per_sec", view_rates[1]},
                                 {"stream_reads_per_sec", reads / secs},
                                 {"stream_read_events_per_sec", events / secs}})
                     .dump()
              << "\n";
  }
  IgnoreError(store->Close());
  store.reset();
  if (!f.keep) fs::remove_all(options->data_dir);
  return 0;
}

// Tail latency: time from an append's acknowledgement to a live $all subscriber receiving it.
int Tail(BenchFlags& f) {
  std::string dir;
  auto store = OpenBenchStore(f, "tail", &dir);
  if (!store) return 1;
  const uint64_t total = static_cast<uint64_t>((f.rate > 0 ? f.rate : 20000) * f.duration);
  std::vector<std::atomic<int64_t>> acked(total + 2), delivered(total + 2);
  const uint64_t base = store->Watermark().value();

  struct Handler : SubscriptionHandler {
    std::vector<std::atomic<int64_t>>* delivered;
    uint64_t base;
    std::atomic<uint64_t> count{0};
    bool OnEvent(const RecordedEvent& e) override {
      uint64_t i = e.position.value() - base;
      if (i < delivered->size()) (*delivered)[i].store(Clock::now().time_since_epoch().count());
      count.fetch_add(1);
      return true;
    }
  };
  auto handler = std::make_shared<Handler>();
  handler->delivered = &delivered;
  handler->base = base;
  SubscribeRequest sreq;
  sreq.all = true;
  sreq.from_end = true;
  auto sub = store->Subscribe(sreq, handler);
  if (!sub) return ReportError(sub.error());
  std::cerr << fmt::format("bench tail: {} events at {} events/s, one live $all subscriber\n",
                           Thousands(total), Thousands(f.rate > 0 ? f.rate : 20000));
  std::string payload(f.event_size, 'x');
  std::atomic<uint64_t> outstanding{0};
  const double rate = f.rate > 0 ? f.rate : 20000;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < total; ++i) {
    auto when = t0 + std::chrono::nanoseconds(static_cast<int64_t>(i * 1e9 / rate));
    // Sleep, not spin: on 2 cores a spinning generator takes the CPU the server and the gRPC
    // client need. Each wake-up issues every append that is due (~10 at 20k/s).
    while (Clock::now() < when) std::this_thread::sleep_for(std::chrono::microseconds(500));
    AppendRequest req;
    req.stream = fmt::format("bench-{}", i % f.streams);
    EventData e;
    e.event_id = Uuid::Random();
    e.type = "BenchEvent";
    e.data = payload;
    req.events.push_back(std::move(e));
    outstanding.fetch_add(1);
    store->AppendAsync(std::move(req), [&](Result<AppendResult> r) {
      if (r) {
        uint64_t k = r->first_position.value() - base;
        if (k < acked.size()) acked[k].store(Clock::now().time_since_epoch().count());
      }
      outstanding.fetch_sub(1);
    });
  }
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (handler->count.load() < total && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*sub)->Cancel();
  sub->reset();
  Latencies lat;
  uint64_t missing = 0, before_ack = 0;
  for (uint64_t i = 0; i < total; ++i) {
    int64_t a = acked[i].load(), d = delivered[i].load();
    if (a == 0 || d == 0) {
      ++missing;
      continue;
    }
    if (d < a) ++before_ack;
    lat.Add(std::max<int64_t>(0, d - a));
  }
  std::cout << fmt::format(
      "tail: ack -> subscriber delivery p50 {:.3f} ms  p99 {:.3f} ms  p99.9 {:.3f} ms over {} "
      "events ({} delivered before the appender saw its ack; {} missing)\n",
      lat.PercentileMs(0.5), lat.PercentileMs(0.99), lat.PercentileMs(0.999), Thousands(lat.size()),
      Thousands(before_ack), missing);
  if (f.json) {
    std::cout << nlohmann::json({{"bench", "tail"},
                                 {"p50_ms", lat.PercentileMs(0.5)},
                                 {"p99_ms", lat.PercentileMs(0.99)},
                                 {"p999_ms", lat.PercentileMs(0.999)},
                                 {"events", lat.size()},
                                 {"missing", missing}})
                     .dump()
              << "\n";
  }
  CloseBenchStore(f, std::move(store), dir);
  return missing == 0 ? 0 : 1;
}

void Common(CLI::App* cmd, BenchFlags& f) {
  f.store.Register(cmd);
  cmd->add_option("--streams", f.streams, "Streams to spread events over")->capture_default_str();
  cmd->add_option("--event-size", f.event_size, "Bytes of data per event")->capture_default_str();
  cmd->add_flag("--keep", f.keep, "Keep the run's data directory");
  cmd->add_flag("--json", f.json, "Also print one JSON object as the last line");
}
}  // namespace

void RegisterBench(CLI::App& app, int& exit_code) {
  auto* bench = app.add_subcommand("bench", "Benchmarks of the real append and read paths");
  bench->require_subcommand(1);
  bench->footer("Each run uses a fresh directory under --data and removes it (unless --keep).");

  auto fi = std::make_shared<BenchFlags>();
  auto* ingest = bench->add_subcommand(
      "ingest", "Durable ingest: many producers, expected revisions and event ids on every append");
  Common(ingest, *fi);
  ingest->add_option("--producers", fi->producers, "Producer threads")->capture_default_str();
  ingest->add_option("--inflight", fi->inflight, "Appends in flight per producer")
      ->capture_default_str();
  ingest->add_option("--events-per-append", fi->events_per_append, "Events in each append")
      ->capture_default_str();
  ingest->add_option("--duration", fi->duration, "Measured seconds")->capture_default_str();
  ingest->add_option("--warmup", fi->warmup, "Unmeasured seconds first")->capture_default_str();
  ingest->add_option("--rate", fi->rate, "Target events/s (0: as fast as possible)")
      ->capture_default_str();
  ingest->add_option("--burst-rate", fi->burst_rate,
                     "Switch to this events/s after --burst-after seconds (a load burst)");
  ingest->add_option("--burst-after", fi->burst_after, "Seconds before the burst (from the start)");
  ingest->callback([fi, &exit_code] { exit_code = Ingest(*fi); });

  auto fr = std::make_shared<BenchFlags>();
  auto* read = bench->add_subcommand("read", "$all scans and stream reads from the warm tier");
  Common(read, *fr);
  read->add_option("--events", fr->events, "Events to load first")->capture_default_str();
  read->callback([fr, &exit_code] { exit_code = Read(*fr); });

  auto ft = std::make_shared<BenchFlags>();
  ft->duration = 5;
  ft->rate = 20000;
  auto* tail =
      bench->add_subcommand("tail", "Delivery latency from append ack to a live subscriber");
  Common(tail, *ft);
  tail->add_option("--rate", ft->rate, "Appends per second")->capture_default_str();
  tail->add_option("--duration", ft->duration, "Seconds")->capture_default_str();
  tail->callback([ft, &exit_code] { exit_code = Tail(*ft); });

  RegisterBenchCold(bench, exit_code);
  RegisterBenchProjection(bench, exit_code);
}

}  // namespace strata::cli
