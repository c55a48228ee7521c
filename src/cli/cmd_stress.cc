// strata stress: a randomized workload that records every acknowledged write in an ack log, and
// strata stress --verify: checks a store against that log after a crash (like RocksDB's
// db_stress). The ack log is written with write(2) right after each acknowledgement, so it
// survives SIGKILL of the process; an acknowledgement whose log line was not yet written is
// simply not checked.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "cli/commands.h"
#include "cli/common.h"
#include "env/file.h"
#include "model/stream_name.h"

namespace strata::cli {
namespace {
using Clock = std::chrono::steady_clock;

struct StressFlags {
  StoreFlags store;
  std::string log;
  double duration = 10;
  uint64_t seed = 1;
  uint32_t threads = 4;
  uint32_t streams = 64;
  bool verify = false;
};

// The ack log: one line per acknowledged write, written through the file seam unbuffered (one
// write(2) per line) so it survives a SIGKILL of this process right after the acknowledgement.
// Keep it outside the store's disk in power-loss tests: it stands for what clients were told.
class AckLog {
 public:
  explicit AckLog(const std::string& path) {
    auto f = env::WritableFile::Open(path, env::WritableFile::Mode::kAppend, /*buffer_bytes=*/0);
    if (f) {
      file_ = std::move(*f);
    } else {
      error_ = f.error().ToString();
    }
  }
  bool ok() const { return file_ != nullptr; }
  const std::string& error() const { return error_; }
  void Write(const std::string& line) {
    std::lock_guard lock(mu_);
    if (auto st = file_->Append(line); !st && !failed_) {
      failed_ = true;  // later acks go unchecked; say so once
      std::cerr << "strata: the ack log stopped: " << st.error().ToString() << "\n";
    }
  }

 private:
  std::unique_ptr<env::WritableFile> file_;
  std::string error_;
  std::mutex mu_;
  bool failed_ = false;
};

std::string AppendLine(const std::string& stream, const AppendResult& r,
                       const std::vector<EventData>& events) {
  std::string ids;
  for (size_t i = 0; i < events.size(); ++i) {
    if (i) ids += ',';
    ids += events[i].event_id.ToString();
  }
  return fmt::format("A {} {} {} {} {}\n", stream, r.first_revision.value(),
                     r.first_position.value(), r.count, ids);
}

struct Failure {
  std::mutex mu;
  std::vector<std::string> problems;
  void Add(std::string p) {
    std::lock_guard l(mu);
    if (problems.size() < 50) problems.push_back(std::move(p));
  }
};

void Worker(Store* store, AckLog* log, const StressFlags& f, uint32_t id, Clock::time_point until,
            Failure* failure, std::atomic<uint64_t>* acked) {
  std::mt19937_64 rng(f.seed * 1000 + id);
  std::unordered_map<std::string, int64_t> known;  // stream -> last revision we saw
  std::optional<AppendRequest> last_acked;
  std::optional<AppendResult> last_result;
  auto pick = [&](uint64_t n) { return rng() % n; };
  while (Clock::now() < until) {
    const std::string stream = fmt::format("s-{}", pick(f.streams));
    const uint64_t op = pick(1000);
    if (op < 100 && last_acked) {
      // Retry the last acknowledged append exactly: it must not be written twice.
      auto r = store->Append(*last_acked);
      // Over gRPC the answer carries no deduplicated flag (the KurrentDB protocol has none):
      // there the positions below tell a second write apart.
      if (r && !r->deduplicated && f.store.server.empty()) {
        failure->Add(fmt::format("retry of {} wrote again at position {}", last_acked->stream,
                                 r->first_position.value()));
      } else if (r && (r->first_position != last_result->first_position ||
                       r->first_revision != last_result->first_revision)) {
        failure->Add(
            fmt::format("retry of {} returned position {} revision {}, first result was "
                        "position {} revision {}",
                        last_acked->stream, r->first_position.value(), r->first_revision.value(),
                        last_result->first_position.value(), last_result->first_revision.value()));
      } else if (!r && r.error().code() != ErrorCode::kStreamDeleted) {
        failure->Add("retry failed: " + r.error().ToString());
      }
      continue;
    }
    if (op < 700) {
      AppendRequest req;
      req.stream = stream;
      const uint64_t mode = pick(10);
      auto it = known.find(stream);
      if (mode < 5 && it != known.end() && it->second >= 0) {
        req.expected = ExpectedRevision::Exact(Revision(static_cast<uint64_t>(it->second)));
      } else if (mode < 7) {
        req.expected = ExpectedRevision::Any();
      } else if (mode < 8) {
        req.expected = ExpectedRevision::NoStream();
      } else if (mode < 9) {
        req.expected = ExpectedRevision::StreamExists();
      } else {
        req.expected = ExpectedRevision::Exact(Revision(pick(20)));
      }
      const size_t n = 1 + pick(5);
      for (size_t i = 0; i < n; ++i) {
        EventData e;
        e.event_id = Uuid::Random();
        e.type = pick(2) ? "Credited" : "Debited";
        e.data = fmt::format("{{\"worker\":{},\"n\":{},\"pad\":\"{}\"}}", id, i,
                             std::string(pick(300), 'p'));
        req.events.push_back(std::move(e));
      }
      AppendRequest copy = req;
      auto r = store->Append(std::move(req));
      if (r) {
        log->Write(AppendLine(stream, *r, copy.events));
        acked->fetch_add(r->count);
        known[stream] = static_cast<int64_t>(r->last_revision.value());
        last_acked = std::move(copy);
        last_result = *r;
      } else if (r.error().code() == ErrorCode::kWrongExpectedRevision) {
        known[stream] =
            r.error().actual_revision ? static_cast<int64_t>(*r.error().actual_revision) : -1;
      } else if (r.error().code() != ErrorCode::kStreamDeleted) {
        failure->Add("append failed: " + r.error().ToString());
      }
      continue;
    }
    if (op < 720) {
      auto r = store->Delete({stream, ExpectedRevision::Any(), false});
      if (r) log->Write(fmt::format("S {} {}\n", stream, r->position.value()));
      continue;
    }
    if (op < 722 && stream.ends_with('7')) {
      auto r = store->Delete({stream, ExpectedRevision::Any(), true});
      if (r) log->Write(fmt::format("T {} {}\n", stream, r->position.value()));
      continue;
    }
    if (op < 900) {
      auto r = store->ReadStream({stream, Direction::kForwards, std::nullopt, 200});
      if (r) {
        for (size_t i = 1; i < r->events.size(); ++i) {
          if (r->events[i].revision.value() != r->events[i - 1].revision.value() + 1 ||
              r->events[i].position <= r->events[i - 1].position) {
            failure->Add(fmt::format("read of {} is not contiguous at revision {}", stream,
                                     r->events[i].revision.value()));
            break;
          }
        }
      }
      continue;
    }
    ReadAllRequest req;
    req.direction = pick(2) ? Direction::kForwards : Direction::kBackwards;
    req.max_count = 200;
    auto r = store->ReadAll(req);
    if (r) {
      for (size_t i = 1; i < r->events.size(); ++i) {
        bool ordered = req.direction == Direction::kForwards
                           ? r->events[i].position > r->events[i - 1].position
                           : r->events[i].position < r->events[i - 1].position;
        if (!ordered) failure->Add("$all page out of order");
      }
    }
  }
}

// Watches $all live: positions must only grow.
class OrderChecker : public SubscriptionHandler {
 public:
  explicit OrderChecker(Failure* f) : failure_(f) {}
  bool OnEvent(const RecordedEvent& e) override {
    if (e.position.value() <= last_) {
      failure_->Add(
          fmt::format("subscription saw position {} after {}", e.position.value(), last_));
    }
    last_ = e.position.value();
    ++seen;
    return true;
  }
  std::atomic<uint64_t> seen{0};

 private:
  Failure* failure_;
  uint64_t last_ = 0;
};

int RunWorkload(const StressFlags& f, StoreOptions options) {
  // --server: the workload goes to a running `strata serve`; --verify later opens its --data.
  auto store = f.store.server.empty() ? OpenOrReport(f.store, options)
                                      : OpenStoreOrReport(f.store, /*create=*/true);
  if (!store) return 1;
  AckLog log(f.log);
  if (!log.ok()) {
    std::cerr << "strata: cannot open the ack log: " << log.error() << "\n";
    return 1;
  }
  Failure failure;
  auto checker = std::make_shared<OrderChecker>(&failure);
  SubscribeRequest sreq;
  sreq.all = true;
  sreq.from_end = true;
  auto sub = store->Subscribe(sreq, checker);
  if (!sub) return ReportError(sub.error());
  std::atomic<uint64_t> acked{0};
  auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(f.duration * 1000));
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < f.threads; ++i) {
    threads.emplace_back(Worker, store.get(), &log, std::cref(f), i, until, &failure, &acked);
  }
  for (auto& t : threads) t.join();
  (*sub)->Cancel();
  sub->reset();
  IgnoreError(store->Close());
  std::cout << fmt::format("stress: {} events acknowledged, subscription saw {}; {} problems\n",
                           acked.load(), checker->seen.load(), failure.problems.size());
  for (auto& p : failure.problems) std::cout << "  problem: " << p << "\n";
  return failure.problems.empty() ? 0 : 1;
}

struct Logged {
  std::string stream;
  uint64_t revision, position;
};

int Verify(const StressFlags& f, StoreOptions options) {
  options.create_if_missing = false;
  std::vector<std::string> problems;
  auto problem = [&](std::string p) {
    if (problems.size() < 50) problems.push_back(std::move(p));
  };
  // 1. The ack log.
  std::unordered_map<Uuid, Logged> logged;
  std::set<std::string> tombstoned;
  std::ifstream in(f.log);
  std::string line;
  uint64_t lines = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, stream;
    ls >> kind >> stream;
    if (kind == "A") {
      uint64_t rev, pos, n;
      std::string ids;
      ls >> rev >> pos >> n >> ids;
      if (!ls) continue;  // a torn last line
      std::istringstream is(ids);
      std::string id;
      for (uint64_t i = 0; std::getline(is, id, ','); ++i) {
        auto u = Uuid::Parse(id);
        if (!u) continue;
        Logged l{stream, rev + i, pos + i};
        auto [it, inserted] = logged.emplace(*u, l);
        if (!inserted && (it->second.position != l.position || it->second.revision != l.revision)) {
          problem(fmt::format("event {} acknowledged twice with different places", id));
        }
      }
      ++lines;
    } else if (kind == "T") {
      tombstoned.insert(stream);
    }
  }
  // 2. The store, recovered. A run killed while the store was still being created leaves no
  // store (its STRATA file is written last); that is correct only if nothing was acknowledged.
  if (logged.empty() && tombstoned.empty() &&
      !std::filesystem::exists(std::filesystem::path(options.data_dir) / "STRATA")) {
    std::cout << "verify: no store was created and nothing was acknowledged: nothing lost\n";
    return 0;
  }
  auto store = OpenOrReport(options);
  if (!store) return 1;
  struct Seen {
    std::string stream;
    uint64_t revision, position;
    RecordKind kind;
  };
  std::unordered_map<Uuid, Seen> seen;
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> per_stream;  // rev, pos
  std::map<std::string, uint64_t> truncate_before;
  std::set<std::string> tombstones_seen;
  std::map<std::string, std::vector<uint64_t>> per_index;  // index stream -> positions
  uint64_t last = 0, events = 0;
  auto st = store->ScanAll(Position(1), Position(UINT64_MAX), [&](const RecordView& v) {
    uint64_t pos = v.header.position.value();
    if (pos <= last) problem(fmt::format("$all position {} after {}", pos, last));
    last = pos;
    ++events;
    std::string stream(v.stream);
    if (v.header.kind == RecordKind::kTombstone) {
      tombstones_seen.insert(stream);
      return true;
    }
    // The index streams' rule (docs/index-streams.md), written out again here.
    if (!stream.starts_with("$")) {
      auto dash = stream.find('-');
      if (dash != std::string::npos && dash > 0) {
        per_index["$ce-" + stream.substr(0, dash)].push_back(pos);
      }
      if (!v.type.starts_with("$")) per_index["$et-" + std::string(v.type)].push_back(pos);
    }
    auto [it, inserted] = seen.emplace(v.header.event_id,
                                       Seen{stream, v.header.revision.value(), pos, v.header.kind});
    if (!inserted && it->second.stream == stream) {
      problem(fmt::format("event {} is in {} twice (positions {} and {})",
                          v.header.event_id.ToString(), stream, it->second.position, pos));
    }
    auto& revs = per_stream[stream];
    uint64_t want = revs.empty() ? 0 : revs.back().first + 1;
    if (v.header.revision.value() != want) {
      problem(fmt::format("{} has revision {} where {} was due (position {})", stream,
                          v.header.revision.value(), want, pos));
    }
    revs.emplace_back(v.header.revision.value(), pos);
    if (IsMetadataStream(stream) && v.type == kMetadataEventType) {
      auto j = nlohmann::json::parse(v.data, nullptr, false);
      if (j.is_object() && j.contains("$tb")) {
        truncate_before[std::string(OriginalStreamOf(stream))] = j["$tb"].get<uint64_t>();
      }
    }
    return true;
  });
  if (!st) problem("scanning $all failed: " + st.error().ToString());
  if (store->Watermark().value() < last + 1) {
    problem(
        fmt::format("watermark {} but the last event is at {}", store->Watermark().value(), last));
  }
  // 3. Every acknowledged event is there, once, where it was acknowledged.
  for (const auto& [id, l] : logged) {
    auto it = seen.find(id);
    if (it == seen.end()) {
      problem(fmt::format("acknowledged event {} ({}@{} position {}) is missing", id.ToString(),
                          l.stream, l.revision, l.position));
    } else if (it->second.stream != l.stream || it->second.revision != l.revision ||
               it->second.position != l.position) {
      problem(fmt::format("event {} acknowledged as {}@{} position {} is {}@{} position {}",
                          id.ToString(), l.stream, l.revision, l.position, it->second.stream,
                          it->second.revision, it->second.position));
    }
  }
  for (const auto& t : tombstoned) {
    if (!tombstones_seen.count(t)) problem("acknowledged tombstone of " + t + " is missing");
  }
  // 4. The stream index agrees with the log.
  uint64_t streams_checked = 0;
  for (const auto& [stream, revs] : per_stream) {
    ++streams_checked;
    uint64_t tb = IsMetadataStream(stream)
                      ? 0
                      : (truncate_before.count(stream) ? truncate_before[stream] : 0);
    std::vector<std::pair<uint64_t, uint64_t>> got;
    std::optional<Revision> from;
    bool deleted = false, not_found = false;
    while (true) {
      auto r = store->ReadStream({stream, Direction::kForwards, from, 1000});
      if (!r) {
        if (r.error().code() == ErrorCode::kStreamDeleted)
          deleted = true;
        else if (r.error().code() == ErrorCode::kStreamNotFound)
          not_found = true;
        else
          problem("reading " + stream + ": " + r.error().ToString());
        break;
      }
      for (auto& e : r->events) got.emplace_back(e.revision.value(), e.position.value());
      if (r->end_of_stream || !r->next) break;
      from = r->next;
    }
    if (tombstones_seen.count(stream)) {
      if (!deleted) problem(stream + " is tombstoned but reads do not say so");
      continue;
    }
    std::vector<std::pair<uint64_t, uint64_t>> want;
    for (auto& rp : revs) {
      if (rp.first >= tb) want.push_back(rp);
    }
    if (want.empty()) {
      if (!not_found) problem(stream + " should read as not found (soft-deleted)");
      continue;
    }
    if (got != want) {
      problem(fmt::format("{}: the stream index gives {} events, the log {} (from revision {})",
                          stream, got.size(), want.size(), tb));
    }
  }
  // 5. The index streams ($ce-, $et-) agree with the log once the indexer has caught up.
  for (int i = 0; i < 6000 && store->Stats().index_streams_position.value() < last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (store->Stats().index_streams_position.value() < last) {
    problem(fmt::format("the index streams did not reach position {} in 30 s", last));
  }
  for (const auto& [name, positions] : per_index) {
    std::vector<uint64_t> got;
    std::optional<Revision> from;
    while (true) {
      auto r = store->ReadStream({name, Direction::kForwards, from, 1000});
      if (!r) {
        problem("reading " + name + ": " + r.error().ToString());
        break;
      }
      for (size_t k = 0; k < r->events.size(); ++k) {
        const auto& e = r->events[k];
        if (!e.link || e.link->revision.value() != got.size()) {
          problem(fmt::format("{}: revision {} is numbered {}", name, got.size(),
                              e.link ? static_cast<int64_t>(e.link->revision.value()) : -1));
        }
        got.push_back(e.position.value());
      }
      if (r->end_of_stream || !r->next) break;
      from = r->next;
    }
    if (got != positions) {
      problem(fmt::format("{}: the index gives {} events, the log {}", name, got.size(),
                          positions.size()));
    }
  }
  std::cout << fmt::format(
      "verify: {} acknowledged events in {} log lines; $all has {} records up to position {} "
      "({} positions left unused by crashes: claimed by appends that were never acknowledged); "
      "{} streams and {} index streams checked; {} problems\n",
      logged.size(), lines, events, last, last - events, streams_checked, per_index.size(),
      problems.size());
  for (auto& p : problems) std::cout << "  problem: " << p << "\n";
  return problems.empty() ? 0 : 1;
}
}  // namespace

void RegisterStress(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<StressFlags>();
  auto* cmd = app.add_subcommand(
      "stress", "Randomized workload with an ack log; --verify checks a store against it");
  cmd->footer(
      "Crash testing: run 'strata stress', kill it at any moment (even SIGKILL), then run\n"
      "'strata stress --verify' with the same --data and --log: every acknowledged event must be\n"
      "present exactly once at its revision and position, $all ordered, indexes consistent.\n"
      "With --server HOST:PORT the workload goes to a running 'strata serve' (keep --log off its\n"
      "disk); verify with --data pointing at the server's data directory after it stopped.");
  f->store.Register(cmd);
  cmd->add_option("--log", f->log, "Ack log file (default: DATA/stress-ack.log)");
  cmd->add_option("--duration", f->duration, "Seconds to run")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Writer threads")->capture_default_str();
  cmd->add_option("--streams", f->streams, "Streams to spread over")->capture_default_str();
  cmd->add_flag("--verify", f->verify, "Verify the store against the ack log instead of running");
  cmd->add_flag("--archive", f->store.archive,
                "Run the cold tier's archivers (and local retention) during the workload");
  cmd->callback([f, &exit_code] {
    if (f->log.empty()) f->log = f->store.data_dir + "/stress-ack.log";
    auto options = f->store.ToOptions();
    if (!options) {
      exit_code = ReportError(options.error());
      return;
    }
    if (!f->verify && f->store.server.empty())
      std::filesystem::create_directories(f->store.data_dir);
    exit_code = f->verify ? Verify(*f, *options) : RunWorkload(*f, *options);
  });
}

}  // namespace strata::cli
