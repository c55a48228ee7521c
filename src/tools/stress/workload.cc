// The stress workload (stress.h): writer threads and an ordering-checking $all subscription.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "tools/stress/problem_list.h"
#include "tools/stress/stress.h"

namespace strata::stress {
namespace {
using Clock = std::chrono::steady_clock;

// What the workers share; they outlive none of it.
struct Shared {
  Store* store;
  AckLogWriter* log;
  const StressConfig* config;
  ProblemList* problems;
  std::atomic<uint64_t>* acked;
};

// One writer thread's workload: a random mix of operations until `until`. Its random stream
// depends only on the seed and its id, so a run repeats with the same seed.
class Worker {
 public:
  Worker(const Shared& shared, uint32_t id)
      : s_(shared), id_(id), rng_(shared.config->seed * 1000 + id) {}

  void Run(Clock::time_point until) {
    while (Clock::now() < until) {
      const std::string stream = fmt::format("s-{}", Pick(s_.config->streams));
      const uint64_t op = Pick(1000);
      if (op < 100 && last_acked_) {
        RetryLastAppend();
      } else if (op < 700) {
        Append(stream);
      } else if (op < 720) {
        Delete(stream, /*tombstone=*/false);
      } else if (op < 722 && stream.ends_with('7')) {
        Delete(stream, /*tombstone=*/true);
      } else if (op < 900) {
        ReadStream(stream);
      } else {
        ReadAllPage();
      }
    }
  }

 private:
  uint64_t Pick(uint64_t n) { return rng_() % n; }

  // Retries the last acknowledged append exactly: it must not be written twice.
  void RetryLastAppend() {
    auto r = s_.store->Append(*last_acked_);
    // Over gRPC the answer carries no deduplicated flag (the KurrentDB protocol has none):
    // there the positions below tell a second write apart.
    if (r && !r->deduplicated && s_.config->store_reports_deduplication) {
      s_.problems->Add(fmt::format("retry of {} wrote again at position {}", last_acked_->stream,
                                   r->first_position.value()));
    } else if (r && (r->first_position != last_result_->first_position ||
                     r->first_revision != last_result_->first_revision)) {
      s_.problems->Add(
          fmt::format("retry of {} returned position {} revision {}, first result was "
                      "position {} revision {}",
                      last_acked_->stream, r->first_position.value(), r->first_revision.value(),
                      last_result_->first_position.value(), last_result_->first_revision.value()));
    } else if (!r && r.error().code() != ErrorCode::kStreamDeleted) {
      s_.problems->Add("retry failed: " + r.error().ToString());
    }
  }

  // Exact (at what this worker last saw, or a random wrong one), any, no-stream, stream-exists.
  ExpectedRevision PickExpected(const std::string& stream) {
    const uint64_t mode = Pick(10);
    auto it = known_.find(stream);
    if (mode < 5 && it != known_.end() && it->second >= 0) {
      return ExpectedRevision::Exact(Revision(static_cast<uint64_t>(it->second)));
    }
    if (mode < 7) return ExpectedRevision::Any();
    if (mode < 8) return ExpectedRevision::NoStream();
    if (mode < 9) return ExpectedRevision::StreamExists();
    return ExpectedRevision::Exact(Revision(Pick(20)));
  }

  void Append(const std::string& stream) {
    AppendRequest req;
    req.stream = stream;
    req.expected = PickExpected(stream);
    const size_t n = 1 + Pick(5);
    for (size_t i = 0; i < n; ++i) {
      EventData e;
      e.event_id = Uuid::Random();
      e.type = Pick(2) ? "Credited" : "Debited";
      e.data = fmt::format("{{\"worker\":{},\"n\":{},\"pad\":\"{}\"}}", id_, i,
                           std::string(Pick(300), 'p'));
      req.events.push_back(std::move(e));
    }
    AppendRequest copy = req;
    auto r = s_.store->Append(std::move(req));
    if (r) {
      s_.log->Appended(stream, *r, copy.events);
      s_.acked->fetch_add(r->count);
      known_[stream] = static_cast<int64_t>(r->last_revision.value());
      last_acked_ = std::move(copy);
      last_result_ = *r;
    } else if (r.error().code() == ErrorCode::kWrongExpectedRevision) {
      known_[stream] =
          r.error().actual_revision ? static_cast<int64_t>(*r.error().actual_revision) : -1;
    } else if (r.error().code() != ErrorCode::kStreamDeleted) {
      s_.problems->Add("append failed: " + r.error().ToString());
    }
  }

  void Delete(const std::string& stream, bool tombstone) {
    auto r = s_.store->Delete({stream, ExpectedRevision::Any(), tombstone});
    if (r) s_.log->Deleted(stream, r->position, tombstone);
  }

  // A forward read must give consecutive revisions at growing positions.
  void ReadStream(const std::string& stream) {
    auto r = s_.store->ReadStream({stream, Direction::kForwards, std::nullopt, 200});
    if (!r) return;
    for (size_t i = 1; i < r->events.size(); ++i) {
      if (r->events[i].revision.value() != r->events[i - 1].revision.value() + 1 ||
          r->events[i].position <= r->events[i - 1].position) {
        s_.problems->Add(fmt::format("read of {} is not contiguous at revision {}", stream,
                                     r->events[i].revision.value()));
        break;
      }
    }
  }

  // A page of $all, either way, must be in position order.
  void ReadAllPage() {
    ReadAllRequest req;
    req.direction = Pick(2) ? Direction::kForwards : Direction::kBackwards;
    req.max_count = 200;
    auto r = s_.store->ReadAll(req);
    if (!r) return;
    for (size_t i = 1; i < r->events.size(); ++i) {
      bool ordered = req.direction == Direction::kForwards
                         ? r->events[i].position > r->events[i - 1].position
                         : r->events[i].position < r->events[i - 1].position;
      if (!ordered) s_.problems->Add("$all page out of order");
    }
  }

  const Shared s_;
  const uint32_t id_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, int64_t> known_;  // stream -> last revision we saw
  std::optional<AppendRequest> last_acked_;
  std::optional<AppendResult> last_result_;
};

// Watches $all live: positions must only grow.
class OrderChecker : public SubscriptionHandler {
 public:
  explicit OrderChecker(ProblemList* problems) : problems_(problems) {}
  bool OnEvent(const RecordedEvent& e) override {
    if (e.position.value() <= last_) {
      problems_->Add(
          fmt::format("subscription saw position {} after {}", e.position.value(), last_));
    }
    last_ = e.position.value();
    ++seen;
    return true;
  }
  std::atomic<uint64_t> seen{0};

 private:
  ProblemList* problems_;
  uint64_t last_ = 0;  // the subscription's thread only
};

}  // namespace

Result<WorkloadReport> RunWorkload(Store& store, AckLogWriter& log, const StressConfig& config) {
  ProblemList problems;
  auto checker = std::make_shared<OrderChecker>(&problems);
  SubscribeRequest sreq;
  sreq.all = true;
  sreq.from_end = true;
  auto sub = store.Subscribe(sreq, checker);
  if (!sub) return sub.error();
  std::atomic<uint64_t> acked{0};
  const Shared shared{&store, &log, &config, &problems, &acked};
  auto until = Clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(config.duration_seconds * 1000));
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < config.threads; ++i) {
    threads.emplace_back([shared, i, until] { Worker(shared, i).Run(until); });
  }
  for (auto& t : threads) t.join();
  (*sub)->Cancel();
  sub->reset();
  WorkloadReport report;
  report.acknowledged_events = acked.load();
  report.subscription_events = checker->seen.load();
  report.problems = problems.Take();
  return report;
}

}  // namespace strata::stress
