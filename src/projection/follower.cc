#include "projection/follower.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "base/clock.h"

namespace strata::projection {

Follower::Follower(Store* store, const ProjectionSpec& spec, Sink* sink, uint64_t generation,
                   FlushPolicy flush)
    : store_(store), spec_(spec), sink_(sink), generation_(generation), flush_(flush) {}

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
  const std::string fingerprint = spec_.Fingerprint();
  auto backoff = std::chrono::milliseconds(100);
  const auto kMaxBackoff = std::chrono::milliseconds(10'000);
  auto retry = [&](const Error& e) {
    errors_.fetch_add(1);
    {
      std::lock_guard lock(mu_);
      state_ = "retrying";
      last_error_ = e.ToString();
    }
    spdlog::warn("projection {}: {} (retrying in {} ms)", spec_.name, e.ToString(),
                 backoff.count());
    const bool go_on = Sleep(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
    return go_on;
  };

  // The sink's checkpoint: where to fold from. Back here when the sink lost commits.
restart:
  SinkState state;
  while (true) {
    auto s = sink_->State(generation_);
    if (s) {
      state = *s;
      break;
    }
    if (!retry(s.error())) return;
  }
  if (!state.fingerprint.empty() && state.fingerprint != fingerprint) {
    return Fail(Error(ErrorCode::kInvalidConfig,
                      "the definition of projection '" + spec_.name +
                          "' changed since this model was built; rebuild it with "
                          "'strata replay " +
                          spec_.name + "'"));
  }
  checkpoint_ = state.checkpoint.value();
  events_ = state.events;
  {
    std::lock_guard lock(mu_);
    last_error_.clear();
  }

  Extractor extractor(spec_);
  Model delta(spec_.op);
  // Replaying into an empty generation, a count or sum model is committed as whole values, which
  // Redis writes far faster than changes (Sink::PrefersAbsolute: one ZADD per 512 keys instead
  // of one ZINCRBY per key). That needs the whole model here, so only until the first time the
  // follower is caught up; live commits send changes and the copy is freed.
  bool absolute = (spec_.op == Op::kCount || spec_.op == Op::kSum) && sink_->PrefersAbsolute() &&
                  state.checkpoint.value() == 0;
  Model whole(spec_.op), values(spec_.op);
  std::vector<int64_t> pending_ts;  // recorded_ts of the delta's events (lag figures)
  Position committed = state.checkpoint, scanned = state.checkpoint;
  uint64_t pending = 0;
  bool live = false;  // reached the watermark once: lag figures are about live events from here
  auto batch_start = std::chrono::steady_clock::now();
  constexpr uint64_t kChunk = 65536;  // records per scan call: the stop flag is seen between

  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    // Fold until the batch is full, the flush interval passed, or the log is exhausted.
    const Position wm = store_->Watermark();
    const bool caught_up = scanned.value() + 1 >= wm.value();
    const auto now = std::chrono::steady_clock::now();
    const bool due = now - batch_start >= flush_.interval;
    // Catching up (a replay, a restart), batches may hold 10x the events: fewer, larger commits
    // aggregate more per key, and the flush interval still bounds how far a commit lags.
    const uint64_t batch_limit = live ? flush_.events : 10 * flush_.events;
    const bool full = pending >= batch_limit;
    if (!caught_up && !due && !full) {
      SetState(live ? "live" : "catching-up");
      // Positions below the watermark that hold no record (a restart skips ahead) never will:
      // a scan that visits everything up to `wm` has covered them too.
      const uint64_t from = scanned.value() + 1;
      const uint64_t skipped_before = extractor.skipped();
      uint64_t visited = 0;
      bool stopped_early = false;
      auto st = store_->ScanAll(Position(from), wm, [&](const RecordView& r) {
        scanned = r.header.position;
        Update u;
        if (extractor.Matches(r) && extractor.Extract(r, &u)) {
          delta.Apply(u);
          ++pending;
          pending_ts.push_back(r.header.recorded_ts);
          if (pending_ts.size() == 1) {
            std::lock_guard lock(mu_);
            oldest_pending_ts_ = r.header.recorded_ts;
          }
        }
        stopped_early = pending >= batch_limit || ++visited >= kChunk;
        return !stopped_early;
      });
      if (st && !stopped_early) scanned = Position(wm.value() - 1);
      skipped_.fetch_add(extractor.skipped() - skipped_before);
      if (!st) {
        if (!retry(st.error())) return;
      }
      continue;
    }
    // Caught up, or the batch is full or due.
    if (caught_up) {
      live = true;
      SetState("live");
    }
    if (scanned == committed) {  // nothing to commit: wait for appends
      if (!Sleep(std::chrono::milliseconds(1))) return;
      batch_start = std::chrono::steady_clock::now();  // the interval runs from the next event
      continue;
    }
    if (!due && !full) {  // caught up with a young batch: wait for more events or the interval
      if (!Sleep(std::chrono::milliseconds(1))) return;
      continue;
    }
    // Commit. An unknown outcome (the connection broke during EXEC) is resolved by reading the
    // checkpoint back: it is either the old one (retry) or the new one (it was applied).
    if (absolute && live) {
      absolute = false;
      whole = Model(spec_.op);
      values = Model(spec_.op);
    }
    if (absolute) {
      values.Clear();
      for (const auto& [k, v] : delta.numbers()) {
        double& w = whole.mutable_numbers()[k];
        w += v;
        values.mutable_numbers().emplace(k, w);
      }
    }
    SinkState after;
    after.generation = generation_;
    after.checkpoint = scanned;
    after.events = events_.load() + pending;
    after.fingerprint = fingerprint;
    after.updated_us = Clock::Real()->NowMicros();
    while (true) {
      auto st = absolute ? sink_->Commit(values, committed, after, /*absolute=*/true)
                         : sink_->Commit(delta, committed, after);
      if (st) break;
      if (st.error().code() == ErrorCode::kConflict) {
        // Forwards: another writer applied events (refuse to double them). Backwards: the sink
        // lost its last commits (a Redis crash with appendfsync everysec rolls the model and the
        // checkpoint back together): fold again from where it is.
        auto back = sink_->State(generation_);
        if (back && back->checkpoint < committed) {
          spdlog::warn(
              "projection {}: {} generation {} went back from checkpoint {} to {} (the "
              "sink lost commits); folding again from there",
              spec_.name, sink_->Describe(), generation_, committed.value(),
              back->checkpoint.value());
          errors_.fetch_add(1);
          goto restart;
        }
        return Fail(st.error());
      }
      if (!retry(st.error())) return;
      auto back = sink_->State(generation_);
      if (back && back->checkpoint == after.checkpoint && back->events == after.events) break;
      if (back && back->checkpoint != committed) {
        return Fail(Error(ErrorCode::kConflict,
                          "the checkpoint of generation " + std::to_string(generation_) +
                              " moved to " + std::to_string(back->checkpoint.value()) +
                              " under this writer: another writer applied events"));
      }
      after.updated_us = Clock::Real()->NowMicros();
    }
    backoff = std::chrono::milliseconds(100);
    const int64_t now_us = Clock::Real()->NowMicros();
    if (live) {
      std::lock_guard lock(mu_);
      for (int64_t ts : pending_ts) {
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
    committed = scanned;
    checkpoint_ = scanned.value();
    events_ = after.events;
    commits_.fetch_add(1);
    delta.Clear();
    pending_ts.clear();
    pending = 0;
    {
      std::lock_guard lock(mu_);
      oldest_pending_ts_ = 0;
      if (state_ == "retrying") state_ = live ? "live" : "catching-up";
      last_error_.clear();
    }
    batch_start = std::chrono::steady_clock::now();
  }
}

}  // namespace strata::projection
