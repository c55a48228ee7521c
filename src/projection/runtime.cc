#include "projection/runtime.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

#include "base/clock.h"
#include "projection/memory_sink.h"
#include "projection/sink_factory.h"

namespace strata::projection {

// One sink of a projection, with the follower that serves readers and, during a replay, the one
// that builds the next generation.
struct ProjectionRuntime::Slot {
  std::string kind;  // "memory" or "redis"
  std::unique_ptr<Sink> sink;
  FlushPolicy flush;
  std::unique_ptr<Follower> live;
  std::unique_ptr<Follower> rebuild;
  bool live_stopped_for_switch = false;
  ReplayInfo replay;
  std::vector<std::pair<std::chrono::steady_clock::time_point, uint64_t>> drops;  // due, gen
  std::string error;  // why `live` could not start
};

struct ProjectionRuntime::Entry {
  ProjectionSpec spec;
  bool running = false;
  std::vector<Slot> slots;  // [0] memory, then redis if any
};

namespace {
Error NoSuch(const std::string& name) {
  return Error(ErrorCode::kInvalidArgument, "no projection named '" + name +
                                                "'; 'strata projection list' shows them, and "
                                                "they are declared with --projection or "
                                                "[[projection]] in the config");
}
}  // namespace

ProjectionRuntime::ProjectionRuntime(LocalStore* store, RuntimeOptions options)
    : store_(store), options_(options) {}

Result<std::unique_ptr<ProjectionRuntime>> ProjectionRuntime::Start(
    LocalStore* store, std::vector<ProjectionSpec> specs, RuntimeOptions options) {
  std::unique_ptr<ProjectionRuntime> rt(new ProjectionRuntime(store, options));
  std::set<std::string> names;
  for (auto& spec : specs) {
    if (!names.insert(spec.name).second) {
      return Error(ErrorCode::kInvalidConfig,
                   "projection '" + spec.name + "' is declared twice; names must be unique");
    }
    auto e = std::make_unique<Entry>();
    e->spec = spec;
    if (options.memory_sink) {
      Slot memory;
      memory.kind = "memory";
      auto sink = MakeSink(spec, "memory");
      if (!sink) return sink.error();
      memory.sink = std::move(*sink);
      memory.flush = options.memory_flush;
      e->slots.push_back(std::move(memory));
    }
    if (!spec.redis.empty()) {
      auto sink = MakeSink(spec, "redis", {.redis_timeout = options.redis_timeout});
      if (!sink) return sink.error();
      Slot redis;
      redis.kind = "redis";
      redis.sink = std::move(*sink);
      redis.flush = FlushPolicy{std::chrono::milliseconds(spec.flush_ms), spec.flush_events};
      e->slots.push_back(std::move(redis));
    }
    e->running = spec.enabled;
    rt->entries_.push_back(std::move(e));
  }
  {
    std::lock_guard lock(rt->mu_);
    for (auto& e : rt->entries_) {
      if (!e->running) continue;
      for (auto& s : e->slots) IgnoreError(rt->EnsureLive(*e, s));  // the supervisor retries
    }
  }
  rt->supervisor_ = std::thread([r = rt.get()] { r->Supervise(); });
  return rt;
}

ProjectionRuntime::~ProjectionRuntime() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  std::lock_guard lock(mu_);
  DropDue(std::chrono::steady_clock::now());  // with drop_grace 0, nothing is left behind
  for (auto& e : entries_) {
    for (auto& s : e->slots) {
      if (s.rebuild) s.rebuild->Stop();
      if (s.live) s.live->Stop();
    }
  }
}

ProjectionRuntime::Entry* ProjectionRuntime::Find(const std::string& name) {
  for (auto& e : entries_) {
    if (e->spec.name == name) return e.get();
  }
  return nullptr;
}

// Starts the follower of the current generation (publishing generation 1 of a new sink).
Status ProjectionRuntime::EnsureLive(Entry& e, Slot& s) {
  if (s.live) return OkStatus();
  auto fail = [&](const Error& err) {
    if (s.error != err.ToString()) {
      spdlog::warn("projection {}: {} sink not started: {}", e.spec.name, s.kind, err.ToString());
    }
    s.error = err.ToString();
    return err;
  };
  auto current = s.sink->Current();
  if (!current) return fail(current.error());
  uint64_t g = *current;
  if (g == 0) {
    auto fresh = s.sink->NewGeneration();
    if (!fresh) return fail(fresh.error());
    auto st = s.sink->Publish(*fresh);
    if (!st) return fail(st.error());
    // Two servers starting together on an empty sink both publish: follow whichever was last,
    // so that they meet on one generation and its claim stops one of them.
    auto published = s.sink->Current();
    if (!published) return fail(published.error());
    g = *published ? *published : *fresh;
  }
  s.error.clear();
  s.live = std::make_unique<Follower>(store_, e.spec, s.sink.get(), g, s.flush);
  s.live->Serve(true);
  s.live->Start();
  return OkStatus();
}

std::vector<std::string> ProjectionRuntime::Names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e->spec.name);
  return out;
}

Result<ProjectionInfo> ProjectionRuntime::Info(const std::string& name) {
  std::lock_guard lock(mu_);
  Entry* e = Find(name);
  if (!e) return NoSuch(name);
  ProjectionInfo info;
  info.spec = e->spec;
  info.running = e->running;
  for (auto& s : e->slots) {
    if (!s.error.empty()) info.error = s.kind + ": " + s.error;
    if (s.live) {
      info.sinks.push_back({"live", s.live->Status()});
    } else {
      FollowerStatus f;
      f.sink = s.sink->Describe();
      f.state = e->running ? "waiting-for-sink" : "stopped";
      f.last_error = s.error;
      info.sinks.push_back({"live", f});
    }
    if (s.rebuild) info.sinks.push_back({"rebuild", s.rebuild->Status()});
    if (!s.replay.state.empty()) info.replays.push_back(s.replay);
  }
  return info;
}

Status ProjectionRuntime::StartProjection(const std::string& name) {
  std::lock_guard lock(mu_);
  Entry* e = Find(name);
  if (!e) return NoSuch(name);
  e->running = true;
  for (auto& s : e->slots) {
    if (s.live && s.live->failed()) s.live.reset();  // start again: it claims anew
    IgnoreError(EnsureLive(*e, s));                  // the supervisor retries
  }
  return OkStatus();
}

Status ProjectionRuntime::StopProjection(const std::string& name) {
  std::lock_guard lock(mu_);
  Entry* e = Find(name);
  if (!e) return NoSuch(name);
  e->running = false;
  for (auto& s : e->slots) {
    if (s.rebuild) {
      s.rebuild->Stop();
      s.rebuild.reset();
      s.replay.state = "failed";
      s.replay.error = "the projection was stopped";
    }
    if (s.live) {
      s.live->Stop();
      s.live.reset();
    }
  }
  return OkStatus();
}

Status ProjectionRuntime::Reset(const std::string& name) {
  std::lock_guard lock(mu_);
  Entry* e = Find(name);
  if (!e) return NoSuch(name);
  for (auto& s : e->slots) {
    if (s.rebuild) {
      s.rebuild->Stop();
      s.rebuild.reset();
    }
    uint64_t old = s.live ? s.live->generation() : 0;
    if (s.live) {
      s.live->Stop();
      s.live.reset();
    }
    if (!old) {
      auto c = s.sink->Current();
      if (!c) return c.error();
      old = *c;
    }
    auto fresh = s.sink->NewGeneration();
    if (!fresh) return fresh.error();
    STRATA_TRY(s.sink->Publish(*fresh));
    if (old) IgnoreError(s.sink->Drop(old));  // a leftover is harmless; replay drops it too
  }
  if (e->running) {
    for (auto& s : e->slots) IgnoreError(EnsureLive(*e, s));
  }
  spdlog::info("projection {}: reset; folding again from the start", name);
  return OkStatus();
}

Status ProjectionRuntime::Replay(const std::string& name, const std::string& sink) {
  std::lock_guard lock(mu_);
  Entry* e = Find(name);
  if (!e) return NoSuch(name);
  if (!sink.empty() && sink != "memory" && sink != "redis") {
    return Error(ErrorCode::kInvalidArgument, "--sink must be memory or redis, not '" + sink + "'");
  }
  bool any = false;
  for (auto& s : e->slots) {
    if (!sink.empty() && s.kind != sink) continue;
    any = true;
    if (s.rebuild) {
      return Error(ErrorCode::kInvalidArgument,
                   "a replay of '" + name + "' into " + s.kind + " is already running");
    }
  }
  if (!any) {
    return Error(ErrorCode::kInvalidArgument, "projection '" + name + "' has no " + sink + " sink");
  }
  for (auto& s : e->slots) {
    if (!sink.empty() && s.kind != sink) continue;
    auto g = s.sink->NewGeneration();
    // A sink that lost its generation counter (a Redis that came back empty) counts from 1
    // again until the live follower's claim raises it: never rebuild into a number in use.
    const uint64_t in_use = s.live ? s.live->generation() : 0;
    while (g && *g <= in_use) g = s.sink->NewGeneration();
    if (!g) return g.error();
    IgnoreError(s.sink->Drop(*g));  // nothing should be there; a fresh start if something is
    s.replay = ReplayInfo{};
    s.replay.state = "building";
    s.replay.sink = s.sink->Describe();
    s.replay.from_generation = s.live ? s.live->generation() : 0;
    s.replay.to_generation = *g;
    s.replay.started_us = Clock::Real()->NowMicros();
    s.live_stopped_for_switch = false;
    s.rebuild = std::make_unique<Follower>(store_, e->spec, s.sink.get(), *g, s.flush);
    s.rebuild->Start();
    spdlog::info("projection {}: replaying into {} generation {} while generation {} serves", name,
                 s.kind, *g, s.replay.from_generation);
  }
  e->running = true;
  cv_.notify_all();
  return OkStatus();
}

void ProjectionRuntime::Supervise() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (stop_) return;
    Tick();
  }
}

// Deferred drops of replaced generations. Caller holds mu_.
void ProjectionRuntime::DropDue(std::chrono::steady_clock::time_point now) {
  for (auto& e : entries_) {
    for (auto& s : e->slots) {
      for (auto it = s.drops.begin(); it != s.drops.end();) {
        if (it->first > now) {
          ++it;
          continue;
        }
        auto st = s.sink->Drop(it->second);
        if (!st && st.error().code() == ErrorCode::kUnavailable) {
          ++it;  // try again later
          continue;
        }
        it = s.drops.erase(it);
      }
    }
  }
}

// Caller holds mu_.
void ProjectionRuntime::Tick() {
  const auto now = std::chrono::steady_clock::now();
  DropDue(now);
  for (auto& e : entries_) {
    for (auto& s : e->slots) {
      if (!e->running) continue;
      if (!s.live && !s.rebuild) {
        IgnoreError(EnsureLive(*e, s));
        continue;
      }
      if (!s.rebuild) continue;
      // A replay: switch once the new generation has reached the end of the log once and has
      // caught up with where the old one stopped.
      if (s.rebuild->failed()) {
        s.replay.state = "failed";
        s.replay.error = s.rebuild->Status().last_error;
        s.rebuild.reset();
        if (s.live_stopped_for_switch && s.live) s.live->Start();
        continue;
      }
      if (s.rebuild->Status().state != "live") continue;
      if (s.live && !s.live_stopped_for_switch) {
        s.live->Stop();  // readers keep the old generation at its last commit until the switch
        s.live_stopped_for_switch = true;
        s.replay.state = "switching";
      }
      if (s.live && s.rebuild->checkpoint() < s.live->checkpoint()) continue;
      auto st = s.sink->Publish(s.rebuild->generation());
      if (!st) {
        s.replay.error = st.error().ToString();
        continue;  // retried next tick
      }
      if (s.live) s.drops.emplace_back(now + options_.drop_grace, s.live->generation());
      s.live = std::move(s.rebuild);
      s.live->Serve(true);
      s.replay.state = "done";
      s.replay.error.clear();
      s.replay.finished_us = Clock::Real()->NowMicros();
      spdlog::info("projection {}: {} readers switched to generation {}", e->spec.name, s.kind,
                   s.live->generation());
    }
  }
}

Result<ReadResult> ProjectionRuntime::Get(const std::string& name, const ReadRequest& request) {
  Sink* sink = nullptr;
  {
    std::lock_guard lock(mu_);
    Entry* e = Find(name);
    if (!e) return NoSuch(name);
    for (auto& s : e->slots) {
      if (s.kind == "memory") sink = s.sink.get();
    }
    if (!sink)
      return Error(ErrorCode::kInvalidArgument,
                   "projection '" + name + "' keeps no in-memory model here");
  }
  auto g = sink->Current();
  if (!g) return g.error();
  return sink->Read(*g, request);
}

Result<VerifyReport> ProjectionRuntime::Verify(const std::string& name, const std::string& sink,
                                               const VerifyOptions& options) {
  Sink* target = nullptr;
  ProjectionSpec spec;
  {
    std::lock_guard lock(mu_);
    Entry* e = Find(name);
    if (!e) return NoSuch(name);
    spec = e->spec;
    std::string want = sink;
    if (want.empty()) want = e->spec.redis.empty() ? "memory" : "redis";
    for (auto& s : e->slots) {
      if (s.kind == want) target = s.sink.get();
    }
    if (!target) {
      return Error(ErrorCode::kInvalidArgument,
                   "projection '" + name + "' has no " + want + " sink");
    }
  }
  // Sinks outlive this call: entries are never removed while the runtime exists.
  return projection::Verify(store_, spec, target, options);
}

std::string ProjectionRuntime::Metrics() {
  std::string out;
  out +=
      "# HELP strata_projection_checkpoint Last $all position applied by a projection's sink.\n"
      "# TYPE strata_projection_checkpoint gauge\n"
      "# HELP strata_projection_lag_positions Positions a projection's sink is behind the log.\n"
      "# TYPE strata_projection_lag_positions gauge\n"
      "# HELP strata_projection_lag_seconds Age of the oldest event not yet committed to a sink.\n"
      "# TYPE strata_projection_lag_seconds gauge\n"
      "# HELP strata_projection_events_total Events applied to a sink (its current generation).\n"
      "# TYPE strata_projection_events_total counter\n"
      "# HELP strata_projection_errors_total Failed sink operations since start (retried).\n"
      "# TYPE strata_projection_errors_total counter\n"
      "# HELP strata_projection_up 1 when the sink's follower runs (live or catching up).\n"
      "# TYPE strata_projection_up gauge\n";
  for (const auto& name : Names()) {
    auto info = Info(name);
    if (!info) continue;
    for (const auto& s : info->sinks) {
      const auto& f = s.follower;
      const std::string labels =
          fmt::format("{{projection=\"{}\",sink=\"{}\",role=\"{}\"}}", name, f.sink, s.role);
      out += fmt::format("strata_projection_checkpoint{} {}\n", labels, f.checkpoint.value());
      out += fmt::format("strata_projection_lag_positions{} {}\n", labels, f.lag_positions);
      out += fmt::format("strata_projection_lag_seconds{} {:.3f}\n", labels, f.lag_seconds);
      out += fmt::format("strata_projection_events_total{} {}\n", labels, f.events);
      out += fmt::format("strata_projection_errors_total{} {}\n", labels, f.errors);
      const bool up = f.state == "live" || f.state == "catching-up";
      out += fmt::format("strata_projection_up{} {}\n", labels, up ? 1 : 0);
    }
  }
  return out;
}

}  // namespace strata::projection
