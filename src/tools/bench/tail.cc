// strata bench tail (bench.h): time from an append's acknowledgement to a live $all subscriber
// receiving it.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tools/bench/bench.h"
#include "tools/bench/latencies.h"

namespace strata::bench {
namespace {
using Stamps = std::vector<std::atomic<int64_t>>;  // per event (position - base): ns, 0 = not yet

// Stamps each event's delivery time.
struct Handler : SubscriptionHandler {
  Stamps* delivered;
  uint64_t base;
  std::atomic<uint64_t> count{0};
  bool OnEvent(const RecordedEvent& e) override {
    uint64_t i = e.position.value() - base;
    if (i < delivered->size()) (*delivered)[i].store(Clock::now().time_since_epoch().count());
    count.fetch_add(1);
    return true;
  }
};

// Issues `total` one-event appends at `rate` a second, stamping each acknowledgement; returns
// when every one has been answered.
void AppendAtRate(Store& store, const BenchConfig& f, uint64_t total, double rate, uint64_t base,
                  Stamps& acked) {
  std::string payload(f.event_size, 'x');
  std::atomic<uint64_t> outstanding{0};
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
    store.AppendAsync(std::move(req), [&](Result<AppendResult> r) {
      if (r) {
        uint64_t k = r->first_position.value() - base;
        if (k < acked.size()) acked[k].store(Clock::now().time_since_epoch().count());
      }
      outstanding.fetch_sub(1);
    });
  }
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// The delivery latency of every event both acknowledged and delivered.
TailReport Measure(const Stamps& acked, const Stamps& delivered, uint64_t total) {
  Latencies lat;
  TailReport r;
  for (uint64_t i = 0; i < total; ++i) {
    int64_t a = acked[i].load(), d = delivered[i].load();
    if (a == 0 || d == 0) {
      ++r.missing;
      continue;
    }
    if (d < a) ++r.before_ack;
    lat.Add(std::max<int64_t>(0, d - a));
  }
  r.p50 = lat.PercentileMs(0.5);
  r.p99 = lat.PercentileMs(0.99);
  r.p999 = lat.PercentileMs(0.999);
  r.events = lat.size();
  return r;
}

}  // namespace

Result<TailReport> RunTail(BenchStore& store, const BenchConfig& config,
                           const std::function<void(uint64_t events, double rate)>& subscribed) {
  const double rate = config.rate > 0 ? config.rate : 20000;
  const uint64_t total = static_cast<uint64_t>(rate * config.duration);
  Stamps acked(total + 2), delivered(total + 2);
  const uint64_t base = store.store().Watermark().value();
  auto handler = std::make_shared<Handler>();
  handler->delivered = &delivered;
  handler->base = base;
  SubscribeRequest sreq;
  sreq.all = true;
  sreq.from_end = true;
  auto sub = store.store().Subscribe(sreq, handler);
  if (!sub) return sub.error();
  if (subscribed) subscribed(total, rate);
  AppendAtRate(store.store(), config, total, rate, base, acked);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (handler->count.load() < total && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*sub)->Cancel();
  sub->reset();
  return Measure(acked, delivered, total);
}

}  // namespace strata::bench
