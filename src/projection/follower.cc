#include "projection/follower.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "base/clock.h"
#include "base/uuid.h"

namespace strata::projection {
namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(10'000);
constexpr auto kProbeInterval = std::chrono::seconds(1);
constexpr uint64_t kChunk = 65536;  // records per scan call: the stop flag is seen between

// host/pid/48 random bits: unique per follower, and says where it runs (conflict messages).
std::string NewWriterId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) std::snprintf(host, 8, "unknown");
  std::string random = Uuid::Random().ToString();
  std::erase(random, '-');
  return fmt::format("{}/{}/{}", host, getpid(), random.substr(0, 12));
}

}  // namespace

Verdict Judge(const SinkState& found, const SinkState& mine, const SinkState* attempted) {
  if (found.writer == mine.writer && found.epoch == mine.epoch) {
    if (attempted && found.checkpoint == attempted->checkpoint &&
        found.events == attempted->events) {
      return Verdict::kApplied;
    }
    if (found.checkpoint == mine.checkpoint) return Verdict::kUnchanged;
    // Under its claim only this writer commits, and only forwards: a checkpoint behind its last
    // commit is a loss; one ahead of it was written by someone else.
    return found.checkpoint < mine.checkpoint ? Verdict::kRolledBack : Verdict::kTakenOver;
  }
  // Every claim sets an epoch above the one it found, so a state with an epoch below this
  // writer's was written before this writer claimed: the claim and what followed were lost (a
  // state that is gone altogether reads as epoch 0). An epoch at or above it under another
  // writer was claimed by that writer after this one.
  return found.epoch < mine.epoch ? Verdict::kRolledBack : Verdict::kTakenOver;
}

// One pass of folding from the checkpoint the claim found; a refold starts a new one.
struct Follower::Pass {
  explicit Pass(const ProjectionSpec& spec)
      : extractor(spec), delta(spec.op), whole(spec.op), values(spec.op) {}
  SinkState owner;  // as claimed; checkpoint and events: this writer's last commit
  Extractor extractor;
  Model delta;  // folded since the last commit
  // Replaying into an empty generation, a count or sum model is committed as whole values,
  // which Redis writes far faster than changes (Sink::PrefersAbsolute: one ZADD per 512 keys
  // instead of one ZINCRBY per key). That needs the whole model here, so only until the first
  // time the follower is caught up; live commits send changes and the copy is freed.
  bool absolute = false;
  Model whole, values;
  std::vector<int64_t> pending_ts;  // recorded_ts of the delta's events (lag figures)
  Position scanned;
  uint64_t pending = 0;
  bool live = false;  // reached the watermark once: lag figures are about live events from here
  std::chrono::steady_clock::time_point batch_start, last_probe;
};

Follower::Follower(LocalStore* store, const ProjectionSpec& spec, Sink* sink, uint64_t generation,
                   FlushPolicy flush)
    : store_(store),
      spec_(spec),
      sink_(sink),
      generation_(generation),
      flush_(flush),
      fingerprint_(spec.Fingerprint()),
      writer_(NewWriterId()),
      backoff_({.min = kFirstBackoff, .max = kMaxBackoff}) {}

Follower::~Follower() { Stop(); }

void Follower::Start() {
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void Follower::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (!failed_) state_ = "stopped";
}

bool Follower::Stopping() {
  std::lock_guard lock(mu_);
  return stop_;
}

bool Follower::Retry(const Error& e) {
  errors_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    state_ = "retrying";
    last_error_ = e.ToString();
  }
  const std::chrono::milliseconds pause = backoff_.Next();
  spdlog::warn("projection {}: {} (retrying in {} ms)", spec_.name, e.ToString(), pause.count());
  return Sleep(pause);
}

bool Follower::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stop_; });
}

void Follower::SetState(const char* state) {
  std::lock_guard lock(mu_);
  state_ = state;
}

void Follower::Fail(const Error& e) {
  spdlog::error("projection {}: {} generation {} stopped: {}", spec_.name, sink_->Describe(),
                generation_, e.ToString());
  std::lock_guard lock(mu_);
  failed_ = true;
  state_ = "failed";
  last_error_ = e.ToString();
}

FollowerStatus Follower::Status() const {
  FollowerStatus s;
  s.sink = sink_->Describe();
  s.generation = generation_;
  s.checkpoint = Position(checkpoint_.load());
  s.events = events_.load();
  s.skipped = skipped_.load();
  s.commits = commits_.load();
  s.errors = errors_.load();
  s.writer = writer_;
  s.epoch = epoch_.load();
  s.rollbacks = rollbacks_.load();
  const uint64_t last = store_->Watermark().value() - 1;
  s.lag_positions = last > s.checkpoint.value() ? last - s.checkpoint.value() : 0;
  s.commit_lag = commit_lag_.Read();
  std::lock_guard lock(mu_);
  s.state = state_;
  s.last_error = last_error_;
  if (!lag_window_.empty()) {
    std::vector<int64_t> v = lag_window_;
    auto at = [&](double q) {
      auto it = v.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(v.size() - 1));
      std::nth_element(v.begin(), it, v.end());
      return *it;
    };
    s.lag_samples = v.size();
    s.lag_p50_us = at(0.5);
    s.lag_p99_us = at(0.99);
    s.lag_max_us = *std::max_element(v.begin(), v.end());
  }
  if (oldest_pending_ts_ > 0) {
    s.lag_seconds = std::max<double>(
        0, static_cast<double>(Clock::Real()->NowMicros() - oldest_pending_ts_) / 1e6);
  }
  return s;
}

void Follower::Run() {
  while (true) {
    Pass p(spec_);
    if (!Begin(p)) return;
    if (Follow(p) != Step::kRefold) return;
  }
}

// Reads the state (a changed definition stops here, before taking anything over), claims the
// generation, and sets the pass up to fold from the claimed checkpoint.
bool Follower::Begin(Pass& p) {
  while (true) {
    auto claimed = [&]() -> Result<SinkState> {
      auto seen = sink_->State(generation_);
      if (!seen) return seen.error();
      if (!seen->fingerprint.empty() && seen->fingerprint != fingerprint_) {
        return Error(ErrorCode::kInvalidConfig,
                     "the definition of projection '" + spec_.name +
                         "' changed since this model was built; rebuild it with 'strata replay " +
                         spec_.name + "'");
      }
      return sink_->Claim(generation_, writer_, epoch_.load());
    }();
    if (claimed) {
      p.owner = *claimed;
      break;
    }
    if (claimed.error().code() == ErrorCode::kInvalidConfig) {
      Fail(claimed.error());
      return false;
    }
    if (!Retry(claimed.error())) return false;
  }
  epoch_ = p.owner.epoch;
  checkpoint_ = p.owner.checkpoint.value();
  events_ = p.owner.events;
  {
    std::lock_guard lock(mu_);
    last_error_.clear();
  }
  p.scanned = p.owner.checkpoint;
  p.absolute = (spec_.op == Op::kCount || spec_.op == Op::kSum) && sink_->PrefersAbsolute() &&
               p.owner.checkpoint.value() == 0;
  p.batch_start = std::chrono::steady_clock::now();
  return true;
}

Follower::Step Follower::Follow(Pass& p) {
  while (!Stopping()) {
    // Fold until the batch is full, the flush interval passed, or the log is exhausted.
    const Position wm = store_->Watermark();
    const bool caught_up = p.scanned.value() + 1 >= wm.value();
    const auto now = std::chrono::steady_clock::now();
    const bool due = now - p.batch_start >= flush_.interval;
    // Catching up (a replay, a restart), batches may hold 10x the events: fewer, larger commits
    // aggregate more per key, and the flush interval still bounds how far a commit lags.
    const uint64_t limit = p.live ? flush_.events : 10 * flush_.events;
    const bool full = p.pending >= limit;
    if (!caught_up && !due && !full) {
      SetState(p.live ? "live" : "catching-up");
      if (!Scan(p, wm, limit)) return Step::kStop;
      continue;
    }
    if (caught_up) {
      p.live = true;
      SetState("live");
    }
    Step step = Step::kContinue;
    if (p.live && now - p.last_probe >= kProbeInterval) step = Probe(p);
    if (step != Step::kContinue) return step;
    if (p.scanned == p.owner.checkpoint) {  // nothing to commit: wait for appends
      if (!Sleep(std::chrono::milliseconds(1))) return Step::kStop;
      p.batch_start = std::chrono::steady_clock::now();  // the interval runs from the next event
    } else if (!due && !full) {  // caught up with a young batch: wait for more or the interval
      if (!Sleep(std::chrono::milliseconds(1))) return Step::kStop;
    } else {
      step = CommitBatch(p);
      if (step != Step::kContinue) return step;
    }
  }
  return Step::kStop;
}

// Folds from p.scanned towards `wm`, at most kChunk records and until the batch is full.
bool Follower::Scan(Pass& p, Position wm, uint64_t limit) {
  // Positions below the watermark that hold no record (a restart skips ahead) never will: a
  // scan that visits everything up to `wm` has covered them too.
  const uint64_t skipped_before = p.extractor.skipped();
  uint64_t visited = 0;
  bool stopped_early = false;
  auto st = store_->ScanAll(Position(p.scanned.value() + 1), wm, [&](const RecordView& r) {
    p.scanned = r.header.position;
    Update u;
    if (p.extractor.Matches(r) && p.extractor.Extract(r, &u)) {
      p.delta.Apply(u);
      ++p.pending;
      p.pending_ts.push_back(r.header.recorded_ts);
      if (p.pending_ts.size() == 1) {
        std::lock_guard lock(mu_);
        oldest_pending_ts_ = r.header.recorded_ts;
      }
    }
    stopped_early = p.pending >= limit || ++visited >= kChunk;
    return !stopped_early;
  });
  if (st && !stopped_early) p.scanned = Position(wm.value() - 1);
  skipped_.fetch_add(p.extractor.skipped() - skipped_before);
  return st || Retry(st.error());
}

// Commits the batch. A refused commit is judged from the state read back. A failed one may have
// been applied (the connection broke during EXEC): after the backoff the state read back holds
// either this writer's last commit (commit again) or this one (applied).
Follower::Step Follower::CommitBatch(Pass& p) {
  if (p.absolute && p.live) {
    p.absolute = false;
    p.whole = Model(spec_.op);
    p.values = Model(spec_.op);
  }
  if (p.absolute) {
    p.values.Clear();
    for (const auto& [k, v] : p.delta.numbers()) {
      double& w = p.whole.mutable_numbers()[k];
      w += v;
      p.values.mutable_numbers().emplace(k, w);
    }
  }
  SinkState after = p.owner;
  after.checkpoint = p.scanned;
  after.events = p.owner.events + p.pending;
  after.fingerprint = fingerprint_;
  while (true) {
    after.updated_us = Clock::Real()->NowMicros();
    auto st = p.absolute ? sink_->Commit(p.values, p.owner.checkpoint, after, /*absolute=*/true)
                         : sink_->Commit(p.delta, p.owner.checkpoint, after);
    if (st) break;
    const bool refused = st.error().code() == ErrorCode::kConflict;
    if (!refused && !Retry(st.error())) return Step::kStop;
    auto found = sink_->State(generation_);
    if (!found) {
      if (refused && !Retry(found.error())) return Step::kStop;
      continue;  // commit again: the fence decides
    }
    const Verdict v = Judge(*found, p.owner, &after);
    if (v == Verdict::kApplied) break;
    if (v == Verdict::kUnchanged) {
      // Refused yet unchanged: EXEC found the meta touched, by a write of the same values.
      if (refused && !Retry(st.error())) return Step::kStop;
      continue;
    }
    return Resolve(p, *found, v);
  }
  Committed(p, after);
  return Step::kContinue;
}

void Follower::Committed(Pass& p, const SinkState& after) {
  backoff_.Reset();
  const int64_t now_us = Clock::Real()->NowMicros();
  if (p.live) {
    std::lock_guard lock(mu_);
    for (int64_t ts : p.pending_ts) {
      const int64_t lag = std::max<int64_t>(0, now_us - ts);
      commit_lag_.Record(std::chrono::microseconds(lag));
      if (lag_window_.size() < kLagWindow) {
        lag_window_.push_back(lag);
      } else {
        lag_window_[lag_next_] = lag;
      }
      lag_next_ = (lag_next_ + 1) % kLagWindow;
    }
  }
  p.owner.checkpoint = after.checkpoint;
  p.owner.events = after.events;
  checkpoint_ = after.checkpoint.value();
  events_ = after.events;
  commits_.fetch_add(1);
  p.delta.Clear();
  p.pending_ts.clear();
  p.pending = 0;
  {
    std::lock_guard lock(mu_);
    oldest_pending_ts_ = 0;
    if (state_ == "retrying") state_ = p.live ? "live" : "catching-up";
    last_error_.clear();
  }
  p.batch_start = std::chrono::steady_clock::now();
}

Follower::Step Follower::Probe(Pass& p) {
  p.last_probe = std::chrono::steady_clock::now();
  const bool idle = p.scanned == p.owner.checkpoint;  // no commit is coming to notice a loss
  auto checked = [&]() -> Result<Step> {
    if (idle) {
      auto found = sink_->State(generation_);
      if (!found) return found.error();
      const Verdict v = Judge(*found, p.owner, nullptr);
      if (v != Verdict::kUnchanged) return Resolve(p, *found, v);
    }
    return CheckCurrent(p);
  }();
  if (!checked) return Retry(checked.error()) ? Step::kContinue : Step::kStop;
  if (*checked == Step::kContinue && idle) {  // the sink answers again
    backoff_.Reset();
    std::lock_guard lock(mu_);
    if (state_ == "retrying") state_ = "live";
    last_error_.clear();
  }
  return *checked;
}

// A serving follower's generation is the one readers must find. `current` behind it (or gone) is
// a sink that went back in time, since this runtime published it: put it back. Past it, another
// server published a newer generation (a replay or reset there): stop.
Result<Follower::Step> Follower::CheckCurrent(const Pass& p) {
  if (!serving_) return Step::kContinue;
  auto current = sink_->Current();
  if (!current) return current.error();
  if (*current == generation_) return Step::kContinue;
  if (*current > generation_) {
    Fail(Error(ErrorCode::kConflict,
               fmt::format("{} serves generation {} of projection '{}', past this server's {}: "
                           "another server replayed or reset it against the same sink. Run it "
                           "on one server only (or give each its own redis_prefix), then restart "
                           "this one ('strata projection start {}')",
                           sink_->Describe(), *current, spec_.name, generation_, spec_.name)));
    return Step::kStop;
  }
  spdlog::warn(
      "projection {}: {} lost its current generation ({} instead of {}: the sink went back in "
      "time); publishing generation {} again at checkpoint {}",
      spec_.name, sink_->Describe(), *current, generation_, generation_,
      p.owner.checkpoint.value());
  STRATA_TRY(sink_->Publish(generation_));
  return Step::kContinue;
}

Follower::Step Follower::Resolve(const Pass& p, const SinkState& found, Verdict v) {
  if (v == Verdict::kRolledBack) {
    spdlog::warn(
        "projection {}: {} generation {} went back from checkpoint {} (writer '{}' epoch {}) to "
        "{} (writer '{}' epoch {}): the sink lost writes; folding again from there",
        spec_.name, sink_->Describe(), generation_, p.owner.checkpoint.value(), writer_,
        p.owner.epoch, found.checkpoint.value(), found.writer, found.epoch);
    errors_.fetch_add(1);
    checkpoint_ = found.checkpoint.value();  // before the count: no one sees the old one after it
    events_ = found.events;
    rollbacks_.fetch_add(1);
    return Step::kRefold;
  }
  const std::string who =
      found.writer == writer_
          ? fmt::format(
                "was moved to checkpoint {} under this writer's claim by another writer "
                "(one that does not claim: an older Strata?)",
                found.checkpoint.value())
          : fmt::format(
                "is owned by writer '{}' (epoch {}, checkpoint {}), not by this one ('{}', "
                "epoch {}, checkpoint {}): another server runs this projection",
                found.writer, found.epoch, found.checkpoint.value(), writer_, p.owner.epoch,
                p.owner.checkpoint.value());
  Fail(Error(ErrorCode::kConflict,
             fmt::format("{} generation {} of projection '{}' {}. Nothing was applied twice. Run "
                         "it on one server only (or give each its own redis_prefix), then "
                         "restart this one ('strata projection start {}')",
                         sink_->Describe(), generation_, spec_.name, who, spec_.name)));
  return Step::kStop;
}

}  // namespace strata::projection
