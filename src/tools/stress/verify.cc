// The stress verifier (stress.h): a recovered store against the ack log, one check per function.
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "model/stream_name.h"
#include "tools/stress/problem_list.h"
#include "tools/stress/stress.h"

namespace strata::stress {
namespace {

// What $all holds, from one scan of it.
struct StoreContents {
  struct Seen {
    std::string stream;
    uint64_t revision, position;
    RecordKind kind;
  };
  std::unordered_map<Uuid, Seen> seen;
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> per_stream;  // rev, pos
  std::map<std::string, uint64_t> truncate_before;                               // its $tb
  std::set<std::string> tombstones;
  std::map<std::string, std::vector<uint64_t>> per_index;  // index stream -> positions
  uint64_t last = 0, records = 0;

  // One record of the scan: in position order, its stream's next revision, not twice there.
  void Add(const RecordView& v, ProblemList& problems) {
    const uint64_t pos = v.header.position.value();
    if (pos <= last) problems.Add(fmt::format("$all position {} after {}", pos, last));
    last = pos;
    ++records;
    std::string stream(v.stream);
    if (v.header.kind == RecordKind::kTombstone) {
      tombstones.insert(stream);
      return;
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
      problems.Add(fmt::format("event {} is in {} twice (positions {} and {})",
                               v.header.event_id.ToString(), stream, it->second.position, pos));
    }
    auto& revs = per_stream[stream];
    uint64_t want = revs.empty() ? 0 : revs.back().first + 1;
    if (v.header.revision.value() != want) {
      problems.Add(fmt::format("{} has revision {} where {} was due (position {})", stream,
                               v.header.revision.value(), want, pos));
    }
    revs.emplace_back(v.header.revision.value(), pos);
    if (IsMetadataStream(stream) && v.type == kMetadataEventType) {
      auto j = nlohmann::json::parse(v.data, nullptr, false);
      if (j.is_object() && j.contains("$tb")) {
        truncate_before[std::string(OriginalStreamOf(stream))] = j["$tb"].get<uint64_t>();
      }
    }
  }
};

// Scans the whole of $all; the watermark must be just past its last record.
StoreContents ScanStore(LocalStore& store, ProblemList& problems) {
  StoreContents c;
  auto st = store.ScanAll(Position(1), Position(UINT64_MAX), [&](const RecordView& v) {
    c.Add(v, problems);
    return true;
  });
  if (!st) problems.Add("scanning $all failed: " + st.error().ToString());
  if (store.Watermark().value() < c.last + 1) {
    problems.Add(
        fmt::format("watermark {} but the last event is at {}", store.Watermark().value(), c.last));
  }
  return c;
}

// Every acknowledged event is there, once, where it was acknowledged; so is every tombstone.
void CheckAcknowledged(const AckLog& log, const StoreContents& c, ProblemList& problems) {
  for (const auto& [id, l] : log.events) {
    auto it = c.seen.find(id);
    if (it == c.seen.end()) {
      problems.Add(fmt::format("acknowledged event {} ({}@{} position {}) is missing",
                               id.ToString(), l.stream, l.revision, l.position));
    } else if (it->second.stream != l.stream || it->second.revision != l.revision ||
               it->second.position != l.position) {
      problems.Add(fmt::format("event {} acknowledged as {}@{} position {} is {}@{} position {}",
                               id.ToString(), l.stream, l.revision, l.position, it->second.stream,
                               it->second.revision, it->second.position));
    }
  }
  for (const auto& t : log.tombstoned) {
    if (!c.tombstones.count(t)) problems.Add("acknowledged tombstone of " + t + " is missing");
  }
}

// A whole stream read forwards through the stream index: (revision, position) per event.
struct StreamRead {
  std::vector<std::pair<uint64_t, uint64_t>> events;
  bool deleted = false, not_found = false;
};

StreamRead ReadWholeStream(LocalStore& store, const std::string& stream, ProblemList& problems) {
  StreamRead got;
  std::optional<Revision> from;
  while (true) {
    auto r = store.ReadStream({stream, Direction::kForwards, from, 1000});
    if (!r) {
      if (r.error().code() == ErrorCode::kStreamDeleted)
        got.deleted = true;
      else if (r.error().code() == ErrorCode::kStreamNotFound)
        got.not_found = true;
      else
        problems.Add("reading " + stream + ": " + r.error().ToString());
      break;
    }
    for (auto& e : r->events) got.events.emplace_back(e.revision.value(), e.position.value());
    if (r->end_of_stream || !r->next) break;
    from = r->next;
  }
  return got;
}

// The stream index agrees with $all: what a read gives is what $all holds from the stream's
// $tb on; a tombstoned stream reads as deleted, one with nothing left as not found.
uint64_t CheckStreamReads(LocalStore& store, const StoreContents& c, ProblemList& problems) {
  uint64_t streams_checked = 0;
  for (const auto& [stream, revs] : c.per_stream) {
    ++streams_checked;
    uint64_t tb = 0;
    if (auto it = c.truncate_before.find(stream);
        !IsMetadataStream(stream) && it != c.truncate_before.end()) {
      tb = it->second;
    }
    StreamRead got = ReadWholeStream(store, stream, problems);
    if (c.tombstones.count(stream)) {
      if (!got.deleted) problems.Add(stream + " is tombstoned but reads do not say so");
      continue;
    }
    std::vector<std::pair<uint64_t, uint64_t>> want;
    for (auto& rp : revs) {
      if (rp.first >= tb) want.push_back(rp);
    }
    if (want.empty()) {
      if (!got.not_found) problems.Add(stream + " should read as not found (soft-deleted)");
      continue;
    }
    if (got.events != want) {
      problems.Add(
          fmt::format("{}: the stream index gives {} events, the log {} (from revision {})", stream,
                      got.events.size(), want.size(), tb));
    }
  }
  return streams_checked;
}

// Waits up to 30 s for the index streams' indexer to reach `last`.
void WaitForIndexStreams(LocalStore& store, uint64_t last, ProblemList& problems) {
  for (int i = 0; i < 6000 && store.Stats().index_streams_position.value() < last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (store.Stats().index_streams_position.value() < last) {
    problems.Add(fmt::format("the index streams did not reach position {} in 30 s", last));
  }
}

// The positions index stream `name` lists, each link numbered by its revision there.
std::vector<uint64_t> ReadIndexStream(LocalStore& store, const std::string& name,
                                      ProblemList& problems) {
  std::vector<uint64_t> got;
  std::optional<Revision> from;
  while (true) {
    auto r = store.ReadStream({name, Direction::kForwards, from, 1000});
    if (!r) {
      problems.Add("reading " + name + ": " + r.error().ToString());
      break;
    }
    for (const auto& e : r->events) {
      if (!e.link || e.link->revision.value() != got.size()) {
        problems.Add(fmt::format("{}: revision {} is numbered {}", name, got.size(),
                                 e.link ? static_cast<int64_t>(e.link->revision.value()) : -1));
      }
      got.push_back(e.position.value());
    }
    if (r->end_of_stream || !r->next) break;
    from = r->next;
  }
  return got;
}

// The index streams ($ce-, $et-) agree with $all once the indexer has caught up.
void CheckIndexStreams(LocalStore& store, const StoreContents& c, ProblemList& problems) {
  WaitForIndexStreams(store, c.last, problems);
  for (const auto& [name, positions] : c.per_index) {
    std::vector<uint64_t> got = ReadIndexStream(store, name, problems);
    if (got != positions) {
      problems.Add(fmt::format("{}: the index gives {} events, the log {}", name, got.size(),
                               positions.size()));
    }
  }
}

}  // namespace

VerifyReport VerifyAgainstLog(LocalStore& store, const AckLog& log) {
  ProblemList problems(log.problems);
  const StoreContents contents = ScanStore(store, problems);
  CheckAcknowledged(log, contents, problems);
  VerifyReport report;
  report.streams_checked = CheckStreamReads(store, contents, problems);
  CheckIndexStreams(store, contents, problems);
  report.acknowledged_events = log.events.size();
  report.log_lines = log.append_lines;
  report.records = contents.records;
  report.last_position = contents.last;
  report.index_streams_checked = contents.per_index.size();
  report.problems = problems.Take();
  return report;
}

}  // namespace strata::stress
