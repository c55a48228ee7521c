// strata bench ingest | read | tail: end-to-end benchmarks of the embedded store.
// Every figure printed comes from the real append/read path; see bench/README.md. The
// benchmarks are src/tools/bench (bench.h); this file is their flags and their output.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "tools/bench/bench.h"

namespace strata::cli {
namespace {

struct BenchFlags {
  StoreFlags store;
  bench::BenchConfig bench;
  bool json = false;
};

void PrintIngest(const BenchFlags& f, const bench::IngestReport& r) {
  const bench::BenchConfig& c = f.bench;
  std::cout << fmt::format(
      "ingest: {} events/s ({} events in {}s), append latency (call -> ack) p50 {:.2f} ms  p99 "
      "{:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms; {} appends per group commit; errors {}; rss {} "
      "MiB (peak {} MiB); write stalls {} ms\n",
      Thousands(r.events_per_sec), Thousands(r.events), c.duration, r.p50, r.p99, r.p999, r.max,
      r.appends_per_group, r.errors, r.rss.current >> 20, r.rss.peak >> 20, r.write_stall_ms);
  if (r.wal_puts_per_sec > 0) {
    std::cout << fmt::format("        object-store WAL: {:.1f} PUTs/s, {} bytes per PUT\n",
                             r.wal_puts_per_sec, Thousands(r.wal_bytes_per_put));
  }
  if (c.rate > 0 || c.burst_rate > 0) {
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
                        {"wal_puts_per_sec", r.wal_puts_per_sec},
                        {"wal_bytes_per_put", r.wal_bytes_per_put},
                        {"sched_p99_ms", r.sched_p99},
                        {"sched_p999_ms", r.sched_p999},
                        {"producers", c.producers},
                        {"inflight", c.inflight},
                        {"streams", c.streams},
                        {"event_size", c.event_size},
                        {"events_per_append", c.events_per_append},
                        {"durability", f.store.durability},
                        {"server", f.store.server},
                        {"connections", f.store.connections},
                        {"rate", c.rate},
                        {"appends_per_group", r.appends_per_group},
                        {"rss_bytes", r.rss.current},
                        {"rss_peak_bytes", r.rss.peak},
                        {"write_stall_ms", r.write_stall_ms}};
    std::cout << j.dump() << "\n";
  }
}

int Ingest(const BenchFlags& f) {
  auto store = bench::BenchStore::Open(f.store, "ingest", f.bench.keep);
  if (!store) {
    ReportError(store.error());
    return 1;
  }
  const bench::BenchConfig& c = f.bench;
  std::cerr << fmt::format(
      "bench ingest: {} producers x {} in flight, {} streams, {}-byte events, {} per append, "
      "{}, {}{}s (+{}s warm-up)\n",
      c.producers, c.inflight, c.streams, c.event_size, c.events_per_append,
      f.store.server.empty() ? fmt::format("in-process, durability={}, {} shards",
                                           f.store.durability, f.store.shards ? f.store.shards : 4)
                             : fmt::format("over gRPC to {} (BatchAppend, {} connections)",
                                           f.store.server, f.store.connections),
      c.rate > 0 ? "rate " + Thousands(c.rate) + " events/s, " : "", c.duration, c.warmup);
  bench::IngestReport r = bench::RunIngest(*store, c, [](const bench::IngestProgress& p) {
    std::cerr << fmt::format("  {:5.1f}s  {:>10} events/s  queued {:>6}  rss {} MiB{}\n", p.seconds,
                             Thousands(p.events_per_sec), p.queued, p.rss_bytes >> 20,
                             p.warmup ? "  (warm-up)" : "");
  });
  store->Close();
  PrintIngest(f, r);
  return 0;
}

int Read(const BenchFlags& f) {
  bench::ReadCallbacks cb;
  cb.loading = [&f] {
    std::cerr << fmt::format("bench read: loading {} events of {} bytes over {} streams\n",
                             Thousands(f.bench.events), f.bench.event_size, f.bench.streams);
  };
  cb.loaded = [](uint64_t events, double per_sec) {
    std::cerr << fmt::format("  loaded {} events ({:.0f}/s)\n", Thousands(events), per_sec);
  };
  cb.round = [](const bench::ReadRound& r) {
    std::cerr << fmt::format("  round {}: ScanAll {} events/s, ReadAll {} events/s ({} events)\n",
                             r.round, Thousands(r.scanall_events_per_sec),
                             Thousands(r.readall_events_per_sec), Thousands(r.events));
  };
  bool open_failed = false;
  auto r = bench::RunRead(f.store, f.bench, cb, bench::OpenNotingFailure(&open_failed));
  if (!r) {
    const int code = ReportError(r.error());
    return open_failed ? 1 : code;
  }
  std::cout << fmt::format(
      "read: $all scan from the warm tier (median of 3): ReadAll {} events/s, ScanAll (no copy) "
      "{} events/s; stream reads {} reads/s ({} events/s)\n",
      Thousands(r->readall_events_per_sec), Thousands(r->scanall_events_per_sec),
      Thousands(r->stream_reads_per_sec), Thousands(r->stream_read_events_per_sec));
  if (f.json) {
    std::cout << nlohmann::json({{"bench", "read"},
                                 {"readall_events_per_sec", r->readall_events_per_sec},
                                 {"scanall_events_per_sec", r->scanall_events_per_sec},
                                 {"stream_reads_per_sec", r->stream_reads_per_sec},
                                 {"stream_read_events_per_sec", r->stream_read_events_per_sec}})
                     .dump()
              << "\n";
  }
  return 0;
}

// Tail latency: time from an append's acknowledgement to a live $all subscriber receiving it.
int Tail(const BenchFlags& f) {
  auto store = bench::BenchStore::Open(f.store, "tail", f.bench.keep);
  if (!store) {
    ReportError(store.error());
    return 1;
  }
  auto r = bench::RunTail(*store, f.bench, [](uint64_t total, double rate) {
    std::cerr << fmt::format("bench tail: {} events at {} events/s, one live $all subscriber\n",
                             Thousands(total), Thousands(rate));
  });
  if (!r) return ReportError(r.error());
  std::cout << fmt::format(
      "tail: ack -> subscriber delivery p50 {:.3f} ms  p99 {:.3f} ms  p99.9 {:.3f} ms over {} "
      "events ({} delivered before the appender saw its ack; {} missing)\n",
      r->p50, r->p99, r->p999, Thousands(r->events), Thousands(r->before_ack), r->missing);
  if (f.json) {
    std::cout << nlohmann::json({{"bench", "tail"},
                                 {"p50_ms", r->p50},
                                 {"p99_ms", r->p99},
                                 {"p999_ms", r->p999},
                                 {"events", r->events},
                                 {"missing", r->missing}})
                     .dump()
              << "\n";
  }
  store->Close();
  return r->missing == 0 ? 0 : 1;
}

void Common(CLI::App* cmd, BenchFlags& f) {
  f.store.Register(cmd);
  cmd->add_option("--streams", f.bench.streams, "Streams to spread events over")
      ->capture_default_str();
  cmd->add_option("--event-size", f.bench.event_size, "Bytes of data per event")
      ->capture_default_str();
  cmd->add_flag("--keep", f.bench.keep, "Keep the run's data directory");
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
  ingest->add_option("--producers", fi->bench.producers, "Producer threads")->capture_default_str();
  ingest->add_option("--inflight", fi->bench.inflight, "Appends in flight per producer")
      ->capture_default_str();
  ingest->add_option("--events-per-append", fi->bench.events_per_append, "Events in each append")
      ->capture_default_str();
  ingest->add_option("--duration", fi->bench.duration, "Measured seconds")->capture_default_str();
  ingest->add_option("--warmup", fi->bench.warmup, "Unmeasured seconds first")
      ->capture_default_str();
  ingest->add_option("--rate", fi->bench.rate, "Target events/s (0: as fast as possible)")
      ->capture_default_str();
  ingest->add_option("--burst-rate", fi->bench.burst_rate,
                     "Switch to this events/s after --burst-after seconds (a load burst)");
  ingest->add_option("--burst-after", fi->bench.burst_after,
                     "Seconds before the burst (from the start)");
  ingest->callback([fi, &exit_code] { exit_code = Ingest(*fi); });

  auto fr = std::make_shared<BenchFlags>();
  auto* read = bench->add_subcommand("read", "$all scans and stream reads from the warm tier");
  Common(read, *fr);
  read->add_option("--events", fr->bench.events, "Events to load first")->capture_default_str();
  read->callback([fr, &exit_code] { exit_code = Read(*fr); });

  auto ft = std::make_shared<BenchFlags>();
  ft->bench.duration = 5;
  ft->bench.rate = 20000;
  auto* tail =
      bench->add_subcommand("tail", "Delivery latency from append ack to a live subscriber");
  Common(tail, *ft);
  tail->add_option("--rate", ft->bench.rate, "Appends per second")->capture_default_str();
  tail->add_option("--duration", ft->bench.duration, "Seconds")->capture_default_str();
  tail->callback([ft, &exit_code] { exit_code = Tail(*ft); });

  RegisterBenchCold(bench, exit_code);
  RegisterBenchProjection(bench, exit_code);
}

}  // namespace strata::cli
