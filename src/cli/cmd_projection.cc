// Projections from the command line (docs/projections.md):
//   strata projection list|status|start|stop|reset|get   against a running `strata serve`
//   strata verify NAME    compare a sink with a recount from the store (a deploy gate)
//   strata replay NAME    rebuild a projection's sinks into a new generation, then switch
// verify and replay work against a server (--server) or, with the server stopped, directly on a
// data directory (--data) with the projection's definition from --projection or the config.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "client/remote_store.h"
#include "projection/api.h"
#include "projection/runtime.h"
#include "projection/sink_factory.h"
#include "projection/verify.h"

namespace strata::cli {
namespace {

using nlohmann::json;

struct ProjectionFlags {
  StoreFlags store;
  std::vector<std::string> projections;  // --projection JSON (local mode)
  std::string name;
  bool json_out = false;
  // get
  std::vector<std::string> keys;
  uint32_t top = 0;
  // verify
  uint64_t sample = 0;
  uint64_t max_lag = 0;
  uint64_t seed = 0;
  std::string sink;
  double timeout_seconds = 600;
};

Result<std::string> Call(const ProjectionFlags& f, const std::string& action,
                         const std::string& args, double timeout_seconds = 30) {
  client::RemoteOptions o;
  o.target = f.store.server.empty() ? "127.0.0.1:2113" : f.store.server;
  return client::CallProjection(
      o, action, f.name, args,
      std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
}

std::string Lag(const json& s) {
  return fmt::format("{} positions, {:.1f} s", s.value("lag_positions", 0ull),
                     s.value("lag_seconds", 0.0));
}

void PrintInfo(const json& p) {
  const json& spec = p["spec"];
  std::cout << fmt::format("{}  ({}{})  {}\n", p["name"].get<std::string>(),
                           spec["kind"].get<std::string>(),
                           spec.contains("score") ? " by " + spec["score"].get<std::string>() : "",
                           p["running"].get<bool>() ? "running" : "stopped");
  if (p.contains("error")) std::cout << "  error: " << p["error"].get<std::string>() << "\n";
  for (const auto& s : p["sinks"]) {
    std::cout << fmt::format(
        "  {:<28} {:<7} gen {:<3} {:<12} checkpoint {:<10} events {:<10} lag {}\n",
        s["sink"].get<std::string>(), s["role"].get<std::string>(), s["generation"].get<uint64_t>(),
        s["state"].get<std::string>(), s["checkpoint"].get<uint64_t>(), s["events"].get<uint64_t>(),
        Lag(s));
    if (!s["last_error"].get<std::string>().empty()) {
      std::cout << "    last error: " << s["last_error"].get<std::string>() << "\n";
    }
  }
  for (const auto& r : p["replays"]) {
    std::cout << fmt::format(
        "  replay into {} generation {}: {}{}\n", r["sink"].get<std::string>(),
        r["to_generation"].get<uint64_t>(), r["state"].get<std::string>(),
        r["error"].get<std::string>().empty() ? "" : " (" + r["error"].get<std::string>() + ")");
  }
}

int Control(ProjectionFlags& f, const std::string& action) {
  auto r = Call(f, action, "");
  if (!r) return ReportError(r.error());
  json j = json::parse(*r);
  if (f.json_out) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (action == "list") {
    if (j["projections"].empty()) std::cout << "no projections\n";
    for (const auto& p : j["projections"]) PrintInfo(p);
  } else {
    PrintInfo(j);
  }
  return 0;
}

int Get(ProjectionFlags& f) {
  json args;
  args["keys"] = f.keys;
  args["top"] = f.top;
  auto r = Call(f, "get", args.dump());
  if (!r) return ReportError(r.error());
  json j = json::parse(*r);
  if (f.json_out) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << fmt::format("{}: {} keys at checkpoint {} (generation {})\n",
                           j["projection"].get<std::string>(), j["keys"].get<uint64_t>(),
                           j["checkpoint"].get<uint64_t>(), j["generation"].get<uint64_t>());
  for (const auto& [k, v] : j["values"].items()) {
    std::cout << "  " << k << " = "
              << (v.is_null()     ? "(none)"
                  : v.is_string() ? v.get<std::string>()
                                  : v.dump())
              << "\n";
  }
  int rank = 1;
  for (const auto& e : j["top"]) {
    std::cout << fmt::format("  #{:<4} {:<30} {}\n", rank++, e[0].get<std::string>(), e[1].dump());
  }
  return 0;
}

// The spec named f.name among --projection flags (local mode).
Result<projection::ProjectionSpec> LocalSpec(const ProjectionFlags& f) {
  auto specs = ParseProjectionFlags(f.projections);
  if (!specs) return specs.error();
  for (auto& s : *specs) {
    if (s.name == f.name) return s;
  }
  return Error(ErrorCode::kInvalidArgument,
               "no projection named '" + f.name +
                   "' in --projection or the config's [[projection]] tables (without --server, "
                   "verify and replay read the definition from there)");
}

int VerifyCmd(ProjectionFlags& f) {
  std::string report_json;
  if (!f.store.server.empty()) {
    json args;
    args["sample"] = f.sample;
    args["max_lag"] = f.max_lag;
    args["seed"] = f.seed;
    if (!f.sink.empty()) args["sink"] = f.sink;
    auto r = Call(f, "verify", args.dump(), f.timeout_seconds);
    if (!r) return ReportError(r.error());
    report_json = *r;
  } else {
    auto spec = LocalSpec(f);
    if (!spec) return ReportError(spec.error());
    if (spec->redis.empty() || f.sink == "memory") {
      return ReportError(Error(ErrorCode::kInvalidArgument,
                               "without --server only a Redis sink can be verified, and "
                               "projection '" +
                                   f.name + "' has none"));
    }
    auto sink = projection::MakeSink(*spec, "redis");
    if (!sink) return ReportError(sink.error());
    auto options = f.store.ToOptions();
    if (!options) return ReportError(options.error());
    options->create_if_missing = false;
    auto store = OpenOrReport(*options);
    if (!store) return 1;
    projection::VerifyOptions o;
    o.sample = f.sample;
    o.max_lag_positions = f.max_lag;
    o.seed = f.seed;
    auto rep = projection::Verify(store.get(), *spec, sink->get(), o);
    if (!rep) return ReportError(rep.error());
    report_json = rep->ToJson();
  }
  json j = json::parse(report_json);
  std::cout << (f.json_out ? j.dump() + "\n" : projection::VerifyTextFromJson(report_json));
  return j["ok"].get<bool>() ? 0 : 2;
}

// Draws the progress of the rebuild followers until every replay is done or failed.
int WatchReplay(const std::function<Result<std::string>()>& status, double timeout_seconds) {
  const bool tty = ::isatty(2);
  const auto start = std::chrono::steady_clock::now();
  uint64_t last_cp = 0;
  auto last_t = start;
  double rate = 0;
  std::chrono::steady_clock::time_point last_print;
  while (true) {
    auto r = status();
    if (!r) return ReportError(r.error());
    json j = json::parse(*r);
    bool all_done = !j["replays"].empty(), failed = false;
    for (const auto& rp : j["replays"]) {
      const std::string st = rp["state"].get<std::string>();
      if (st == "failed") failed = true;
      if (st != "done") all_done = false;
    }
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    if (failed || all_done) {
      if (tty) std::cerr << "\r\033[K";
      for (const auto& rp : j["replays"]) {
        std::cout << fmt::format("replay into {}: {}{}\n", rp["sink"].get<std::string>(),
                                 rp["state"].get<std::string>() == "done"
                                     ? fmt::format("readers switched from generation {} to {}",
                                                   rp["from_generation"].get<uint64_t>(),
                                                   rp["to_generation"].get<uint64_t>())
                                     : "failed: " + rp["error"].get<std::string>(),
                                 "");
      }
      std::cout << fmt::format("replay took {:.1f} s\n", elapsed);
      return failed ? 1 : 0;
    }
    // The slowest rebuild decides the ETA.
    uint64_t cp = UINT64_MAX, lag = 0, events = 0;
    for (const auto& s : j["sinks"]) {
      if (s["role"].get<std::string>() != "rebuild") continue;
      if (s["checkpoint"].get<uint64_t>() < cp) {
        cp = s["checkpoint"].get<uint64_t>();
        lag = s["lag_positions"].get<uint64_t>();
        events = s["events"].get<uint64_t>();
      }
    }
    if (cp == UINT64_MAX) cp = last_cp;
    const double dt = std::chrono::duration<double>(now - last_t).count();
    if (dt >= 0.5) {
      const double inst = static_cast<double>(cp - std::min(cp, last_cp)) / dt;
      rate = rate == 0 ? inst : 0.7 * rate + 0.3 * inst;
      last_cp = cp;
      last_t = now;
    }
    const double total = static_cast<double>(cp + lag);
    const double frac = total > 0 ? static_cast<double>(cp) / total : 0;
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    std::string line = fmt::format(
        "[{}{}] {:5.1f}%  {} / {} positions, {} events applied, {}/s, ETA {}",
        std::string(static_cast<size_t>(filled), '#'),
        std::string(static_cast<size_t>(width - filled), '.'), frac * 100,
        Thousands(static_cast<double>(cp)), Thousands(total),
        Thousands(static_cast<double>(events)), Thousands(rate),
        rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(lag) / rate) : std::string("?"));
    if (tty) {
      std::cerr << "\r\033[K" << line << std::flush;
    } else if (now - last_print >= std::chrono::seconds(2)) {
      std::cerr << line << "\n";
      last_print = now;
    }
    if (elapsed > timeout_seconds) {
      return ReportError(Error(ErrorCode::kDeadlineExceeded,
                               fmt::format("the replay did not finish within {:.0f} s (it goes "
                                           "on in the server; watch it with 'strata projection "
                                           "status {}')",
                                           timeout_seconds, j["name"].get<std::string>())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int ReplayCmd(ProjectionFlags& f) {
  json args = json::object();
  if (!f.sink.empty()) args["sink"] = f.sink;
  if (!f.store.server.empty()) {
    auto r = Call(f, "replay", args.dump());
    if (!r) return ReportError(r.error());
    std::cerr << "replaying " << f.name << " from the start of $all into a new generation; "
              << "readers keep the current one until it has caught up\n";
    return WatchReplay([&] { return Call(f, "status", ""); }, f.timeout_seconds);
  }
  // Local: the store is opened here (the server must be stopped), and only the replay runs.
  auto spec = LocalSpec(f);
  if (!spec) return ReportError(spec.error());
  if (f.sink.empty() && !spec->redis.empty()) f.sink = "redis";
  if (f.sink != "redis") {
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "without --server only a Redis sink can be replayed (the in-memory "
                             "model lives in the server); projection '" +
                                 f.name + "' has " +
                                 (spec->redis.empty() ? "none" : "one: add --sink redis")));
  }
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  auto store = OpenOrReport(*options);
  if (!store) return 1;
  projection::RuntimeOptions ro;
  ro.memory_sink = false;
  ro.drop_grace = std::chrono::milliseconds(0);
  auto rt = projection::ProjectionRuntime::Start(store.get(), {*spec}, ro);
  if (!rt) return ReportError(rt.error());
  auto st = (*rt)->Replay(f.name, "redis");
  if (!st) return ReportError(st.error());
  // drop_grace 0: the runtime's destructor drops the replaced generation.
  return WatchReplay([&] { return projection::CallJson(**rt, "status", f.name, ""); },
                     f.timeout_seconds);
}

void AddLocalFlags(CLI::App* cmd, ProjectionFlags& f) {
  f.store.Register(cmd);
  cmd->add_option("--projection", f.projections,
                  "Without --server: the projection's definition as JSON (or [[projection]] in "
                  "--config)");
}

}  // namespace

void RegisterProjection(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<ProjectionFlags>();
  auto* cmd = app.add_subcommand(
      "projection", "Projections of a running server: list, status, start, stop, reset, get");
  cmd->require_subcommand(1);
  cmd->footer(
      "Projections are declared in the server's config ([[projection]] tables) or with "
      "'strata serve --projection JSON'; see docs/projections.md.");
  auto server = [&](CLI::App* c) {
    c->add_option("--server", f->store.server, "The server (HOST:PORT)")
        ->default_str("127.0.0.1:2113");
    c->add_flag("--json", f->json_out, "Print JSON");
  };
  auto* list = cmd->add_subcommand("list", "Every projection with its sinks, checkpoints and lag");
  server(list);
  list->callback([f, &exit_code] { exit_code = Control(*f, "list"); });
  for (const char* action : {"status", "start", "stop", "reset"}) {
    const char* help =
        std::string(action) == "status" ? "One projection's sinks, checkpoints, lag and replays"
        : std::string(action) == "start"
            ? "Start a stopped projection (it continues from its checkpoints)"
        : std::string(action) == "stop" ? "Stop a projection (its checkpoints stay)"
                                        : "Empty its models and fold again from the start "
                                          "(readers see it rebuild; 'strata replay' does not)";
    auto* c = cmd->add_subcommand(action, help);
    c->add_option("name", f->name, "Projection name")->required();
    server(c);
    std::string a = action;
    c->callback([f, a, &exit_code] { exit_code = Control(*f, a); });
  }
  auto* get = cmd->add_subcommand("get", "Read the in-memory model: keys' values and the top N");
  get->add_option("name", f->name, "Projection name")->required();
  get->add_option("--key", f->keys, "A key to read (repeatable)");
  get->add_option("--top", f->top, "The N highest keys (numeric kinds)");
  server(get);
  get->callback([f, &exit_code] { exit_code = Get(*f); });

  auto v = std::make_shared<ProjectionFlags>();
  auto* verify = app.add_subcommand(
      "verify", "Recount a projection from the store and compare it with its sink (deploy gate)");
  verify->footer(
      "Exit status: 0 when the sink agrees with the store within --max-lag, 2 when it does not, "
      "1 on errors.\nExamples:\n  strata verify leaderboard --server 127.0.0.1:2113 --max-lag "
      "1000\n  strata verify leaderboard --sample 10000 --json\n  strata verify leaderboard "
      "--data ./data --config strata.toml   (server stopped)");
  verify->add_option("name", v->name, "Projection name")->required();
  verify->add_option("--sample", v->sample,
                     "Compare this many random keys instead of every key (the report states "
                     "what the sample can detect)");
  verify
      ->add_option("--max-lag", v->max_lag,
                   "Positions the sink's checkpoint may trail the store's last position")
      ->capture_default_str();
  verify->add_option("--sink", v->sink, "memory or redis (default: redis when there is one)");
  verify->add_option("--seed", v->seed, "Seed of the sample (default: random)");
  verify->add_option("--timeout-seconds", v->timeout_seconds, "Give up after this long")
      ->capture_default_str();
  verify->add_flag("--json", v->json_out, "Print the report as JSON");
  AddLocalFlags(verify, *v);
  verify->callback([v, &exit_code] { exit_code = VerifyCmd(*v); });

  auto r = std::make_shared<ProjectionFlags>();
  auto* replay = app.add_subcommand(
      "replay",
      "Rebuild a projection from $all into a new generation while the current one serves, then "
      "switch readers to it");
  replay->footer(
      "With --server the server replays (its other projections keep running) and this command "
      "shows progress.\nWithout it the store in --data is opened here: stop the server first.");
  replay->add_option("name", r->name, "Projection name")->required();
  replay->add_option("--sink", r->sink, "Only this sink: memory or redis (default: all)");
  replay->add_option("--timeout-seconds", r->timeout_seconds, "Stop watching after this long")
      ->capture_default_str();
  AddLocalFlags(replay, *r);
  replay->callback([r, &exit_code] { exit_code = ReplayCmd(*r); });
}

}  // namespace strata::cli
