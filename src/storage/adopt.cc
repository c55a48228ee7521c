#include "storage/adopt.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/record.h"
#include "storage/cold/partition_history.h"

namespace strata::storage {
namespace {

constexpr size_t kMaxBatchEvents = 256;
constexpr size_t kMaxBatchBytes = 1u << 20;
constexpr size_t kStreamsInFlight = 64;

// One step of a stream's history: an append of consecutive revisions, or its tombstone.
struct Step {
  std::string stream;  // the stream, or its metadata stream $$stream
  bool tombstone = false;
  uint64_t first_revision = 0;
  std::vector<EventData> events;
  size_t bytes = 0;
};

// A stream and its metadata stream, whose steps run one at a time in the history's order (a
// soft delete's metadata lands between the events it truncates and the ones after).
struct StreamSteps {
  std::string name;  // the stream's
  std::deque<Step> steps;
  bool tombstoned = false;  // the history ends with its tombstone
  bool busy = false;        // a step of it is in flight
};

// Groups a partition's records by stream, in revision order, into batches.
Status PlanSteps(const std::map<uint64_t, std::string>& records, std::vector<StreamSteps>& out) {
  std::unordered_map<std::string, size_t> index;
  for (const auto& [position, bytes] : records) {
    auto r = DecodeRecord(bytes);
    if (!r) return r.error();
    std::string_view base = r->stream;
    if (base.starts_with("$$")) base.remove_prefix(2);
    auto [it, added] = index.emplace(std::string(base), out.size());
    if (added) out.push_back({std::string(base), {}, false, false});
    StreamSteps& s = out[it->second];
    if (r->header.kind == RecordKind::kTombstone) {
      s.steps.push_back({std::string(r->stream), true, 0, {}, 0});
      s.tombstoned = true;
      continue;
    }
    const uint64_t rev = r->header.revision.value();
    const size_t size = bytes.size();
    const Step* last = s.steps.empty() ? nullptr : &s.steps.back();
    if (!last || last->tombstone || last->stream != r->stream ||
        rev != last->first_revision + last->events.size() ||
        last->events.size() >= kMaxBatchEvents || last->bytes + size > kMaxBatchBytes) {
      s.steps.push_back({std::string(r->stream), false, rev, {}, 0});
    }
    EventData e;
    e.event_id = r->header.event_id;
    e.type = std::string(r->type);
    e.content_type = std::string(r->content_type);
    e.metadata = std::string(r->metadata);
    e.data = std::string(r->data);
    e.source_ts = r->header.source_ts;
    s.steps.back().events.push_back(std::move(e));
    s.steps.back().bytes += size;
  }
  return OkStatus();
}

// Runs the steps: each stream's in order, one at a time; up to kStreamsInFlight streams at once.
class Runner {
 public:
  Runner(Store& into, std::vector<StreamSteps>& streams, AdoptResult& result)
      : into_(into), streams_(streams), result_(result) {}

  Status Run() {
    std::unique_lock lock(mu_);
    while (true) {
      while (!error_ && in_flight_ < kStreamsInFlight) {
        StreamSteps* s = PickReady();
        if (!s) break;
        Start(*s, lock);
      }
      if (in_flight_ == 0 && done_.empty()) break;  // nothing runs, and nothing more may start
      cv_.wait(lock, [&] { return !done_.empty(); });
      while (!done_.empty()) {
        done_.front()->busy = false;
        done_.pop_front();
        --in_flight_;
      }
    }
    if (error_) return *error_;
    return OkStatus();
  }

 private:
  // A stream with a step to run and none in flight: one already started, else the next one.
  StreamSteps* PickReady() {
    for (StreamSteps* s : started_) {
      if (!s->busy && !s->steps.empty()) return s;
    }
    std::erase_if(started_, [](StreamSteps* s) { return !s->busy && s->steps.empty(); });
    if (next_ < streams_.size()) {
      started_.push_back(&streams_[next_++]);
      return started_.back();
    }
    return nullptr;
  }

  void Start(StreamSteps& s, std::unique_lock<std::mutex>& lock) {
    Step step = std::move(s.steps.front());
    s.steps.pop_front();
    s.busy = true;
    ++in_flight_;
    if (step.tombstone) {
      lock.unlock();
      auto r =
          into_.Delete({step.stream, ExpectedRevision::Any(), /*tombstone=*/true, NoDeadline()});
      lock.lock();
      if (r) {
        ++result_.written;
      } else if (r.error().code() == ErrorCode::kStreamDeleted) {
        ++result_.deduplicated;  // tombstoned here already
      } else {
        Fail(step.stream, 0, r.error());
      }
      done_.push_back(&s);
      return;
    }
    AppendRequest req;
    req.stream = step.stream;
    req.expected = step.first_revision == 0
                       ? ExpectedRevision::NoStream()
                       : ExpectedRevision::Exact(Revision(step.first_revision - 1));
    const uint64_t first = step.first_revision;
    const uint64_t count = step.events.size();
    req.events = std::move(step.events);
    lock.unlock();
    into_.AppendAsync(std::move(req),
                      [this, &s, stream = step.stream, first, count](Result<AppendResult> r) {
                        Completed(s, stream, first, count, r);
                      });
    lock.lock();
  }

  // An append's answer, on a writer thread.
  void Completed(StreamSteps& s, const std::string& stream, uint64_t first, uint64_t count,
                 const Result<AppendResult>& r) {
    std::lock_guard l(mu_);
    if (!r && r.error().code() == ErrorCode::kStreamDeleted && s.tombstoned) {
      result_.deduplicated += count;  // tombstoned here already, as the history ends
    } else if (!r) {
      Fail(stream, first, r.error());
    } else if (r->deduplicated) {
      result_.deduplicated += count;
    } else {
      result_.written += count;
    }
    done_.push_back(&s);
    cv_.notify_one();
  }

  void Fail(const std::string& stream, uint64_t revision, const Error& e) {
    if (error_) return;
    error_ = Error(e.code(), "taking over '" + stream + "' at revision " +
                                 std::to_string(revision) + ": " + e.message());
  }

  Store& into_;
  std::vector<StreamSteps>& streams_;
  AdoptResult& result_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamSteps*> done_;      // GUARDED_BY(mu_): completed steps, not yet seen by Run
  std::vector<StreamSteps*> started_;  // Run's thread only
  size_t next_ = 0;                    // Run's thread only: streams_[0, next_) are started
  size_t in_flight_ = 0;
  std::optional<Error> error_;  // GUARDED_BY(mu_)
};

}  // namespace

Result<AdoptResult> AdoptPartitions(Store& into, objstore::ObjectStore& from,
                                    const std::vector<uint32_t>& partitions,
                                    uint32_t partition_count) {
  const auto started = std::chrono::steady_clock::now();
  auto history = cold::ReadPartitionHistory(from, partitions);
  if (!history) return history.error();
  if (history->partitions != partition_count) {
    return Error(ErrorCode::kInvalidConfig,
                 "the store in " + from.url() + " has " + std::to_string(history->partitions) +
                     " partitions and this one " + std::to_string(partition_count) +
                     "; a partition can only move between stores of one layout");
  }
  AdoptResult result;
  result.segments = history->segments;
  result.wal_objects = history->wal_objects;
  result.bytes = history->bytes;
  result.read_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<StreamSteps> streams;  // a stream is in one partition: none is planned twice
  for (auto& [p, records] : history->records) {
    result.events += records.size();
    STRATA_TRY(PlanSteps(records, streams));
    records.clear();
  }
  result.streams = streams.size();
  Runner runner(into, streams, result);
  STRATA_TRY(runner.Run());
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace strata::storage
