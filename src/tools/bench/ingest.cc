// strata bench ingest (bench.h): producers keeping appends in flight, closed or open loop.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tools/bench/bench.h"
#include "tools/bench/latencies.h"

namespace strata::bench {
namespace {

// One producer: owns streams i ≡ id (mod producers); keeps `inflight` appends outstanding, each
// with an exact expected revision and fresh event ids.
class Producer {
 public:
  Producer(Store* store, const BenchConfig& f, uint32_t id)
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
  const BenchConfig& f_;
  uint32_t id_;
  std::string payload_;
  std::vector<StreamState> streams_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> completions_;  // GUARDED_BY(mu_)
};

// Once a second until `done`: the append rate and queue depth across the shards.
void ReportProgress(StoreOperations& ops, const BenchConfig& f, Clock::time_point t0,
                    Clock::time_point measure_from, const std::atomic<bool>& done,
                    const std::function<void(const IngestProgress&)>& progress) {
  uint64_t last_appends = 0;
  auto last_t = Clock::now();
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    if (done) break;
    auto st = ops.Stats();
    uint64_t appends = 0, queued = 0;
    for (auto& s : st.shards) {
      appends += s.appends;
      queued += s.queue_depth;
    }
    auto now = Clock::now();
    double secs = std::chrono::duration<double>(now - last_t).count();
    double rate = (appends - last_appends) * f.events_per_append / secs;
    if (progress) {
      progress({std::chrono::duration<double>(now - t0).count(), rate, queued, ReadRss().current,
                now < measure_from});
    }
    last_appends = appends;
    last_t = now;
  }
}

// The producers' figures, merged.
IngestReport Collect(const std::vector<std::unique_ptr<Producer>>& producers,
                     const BenchConfig& f) {
  IngestReport r;
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

}  // namespace

IngestReport RunIngest(BenchStore& store, const BenchConfig& config,
                       const std::function<void(const IngestProgress&)>& progress) {
  BenchConfig f = config;
  if (store.remote()) {
    f.prefix = fmt::format("bench{}", std::chrono::system_clock::now().time_since_epoch().count() /
                                          1000000 % 100000000);
  }
  std::vector<std::unique_ptr<Producer>> producers;
  for (uint32_t i = 0; i < f.producers; ++i)
    producers.push_back(std::make_unique<Producer>(&store.store(), f, i));
  const StoreStats before = store.operations().Stats();
  auto t0 = Clock::now();
  auto measure_from = t0 + std::chrono::milliseconds(static_cast<int64_t>(f.warmup * 1000));
  auto until = measure_from + std::chrono::milliseconds(static_cast<int64_t>(f.duration * 1000));
  std::vector<std::thread> threads;
  for (auto& p : producers) threads.emplace_back([&, p = p.get()] { p->Run(measure_from, until); });
  std::atomic<bool> done{false};
  std::thread reporter(
      [&] { ReportProgress(store.operations(), f, t0, measure_from, done, progress); });
  for (auto& t : threads) t.join();
  done = true;
  reporter.join();
  IngestReport r = Collect(producers, f);
  r.rss = ReadRss();
  auto st = store.operations().Stats();
  uint64_t groups = 0, appends = 0, stall = 0;
  for (auto& s : st.shards) {
    groups += s.groups;
    appends += s.appends;
    stall += s.write_stall_micros;
  }
  r.appends_per_group = groups ? appends / groups : 0;
  r.write_stall_ms = stall / 1000;
  if (st.wal) {
    const uint64_t puts = st.wal_objects - before.wal_objects;
    r.wal_puts_per_sec = puts / std::chrono::duration<double>(Clock::now() - t0).count();
    r.wal_bytes_per_put = puts ? (st.wal_bytes - before.wal_bytes) / puts : 0;
  }
  return r;
}

}  // namespace strata::bench
