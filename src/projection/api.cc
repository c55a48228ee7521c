#include "projection/api.h"

#include <nlohmann/json.hpp>

namespace strata::projection {
namespace {

nlohmann::json ValueJson(Op op, const std::optional<Value>& v) {
  if (!v) return nullptr;
  if (op == Op::kLastText) return v->text;
  return v->number;
}

nlohmann::json InfoObject(const ProjectionInfo& info) {
  nlohmann::json j;
  j["name"] = info.spec.name;
  j["spec"] = nlohmann::json::parse(info.spec.ToJson());
  j["running"] = info.running;
  if (!info.error.empty()) j["error"] = info.error;
  auto& sinks = j["sinks"] = nlohmann::json::array();
  for (const auto& s : info.sinks) {
    const auto& f = s.follower;
    sinks.push_back({{"sink", f.sink},
                     {"role", s.role},
                     {"generation", f.generation},
                     {"state", f.state},
                     {"checkpoint", f.checkpoint.value()},
                     {"events", f.events},
                     {"skipped", f.skipped},
                     {"lag_positions", f.lag_positions},
                     {"lag_seconds", f.lag_seconds},
                     {"commits", f.commits},
                     {"errors", f.errors},
                     {"last_error", f.last_error},
                     {"writer", f.writer},
                     {"epoch", f.epoch},
                     {"rollbacks", f.rollbacks},
                     {"lag_samples", f.lag_samples},
                     {"lag_p50_us", f.lag_p50_us},
                     {"lag_p99_us", f.lag_p99_us},
                     {"lag_max_us", f.lag_max_us}});
  }
  auto& replays = j["replays"] = nlohmann::json::array();
  for (const auto& r : info.replays) {
    replays.push_back({{"state", r.state},
                       {"sink", r.sink},
                       {"from_generation", r.from_generation},
                       {"to_generation", r.to_generation},
                       {"started_us", r.started_us},
                       {"finished_us", r.finished_us},
                       {"error", r.error}});
  }
  return j;
}

}  // namespace

std::string InfoJson(const ProjectionInfo& info) { return InfoObject(info).dump(); }

Result<std::string> CallJson(ProjectionRuntime& rt, const std::string& action,
                             const std::string& name, const std::string& args_text) {
  nlohmann::json args = nlohmann::json::object();
  if (!args_text.empty()) {
    args = nlohmann::json::parse(args_text, nullptr, false);
    if (args.is_discarded() || !args.is_object()) {
      return Error(ErrorCode::kInvalidArgument, "the arguments are not a JSON object");
    }
  }
  auto str = [&](const char* k) {
    return args.contains(k) && args[k].is_string() ? args[k].get<std::string>() : std::string();
  };
  auto num = [&](const char* k) -> uint64_t {
    return args.contains(k) && args[k].is_number_unsigned() ? args[k].get<uint64_t>() : 0;
  };
  if (action == "list") {
    auto all = nlohmann::json::array();
    for (const auto& n : rt.Names()) {
      auto info = rt.Info(n);
      if (info) all.push_back(InfoObject(*info));
    }
    return nlohmann::json{{"projections", all}}.dump();
  }
  if (action == "status") {
    auto info = rt.Info(name);
    if (!info) return info.error();
    return InfoJson(*info);
  }
  Status st = OkStatus();
  if (action == "start") {
    st = rt.StartProjection(name);
  } else if (action == "stop") {
    st = rt.StopProjection(name);
  } else if (action == "reset") {
    st = rt.Reset(name);
  } else if (action == "replay") {
    st = rt.Replay(name, str("sink"));
  } else if (action == "get") {
    ReadRequest req;
    if (args.contains("keys") && args["keys"].is_array()) {
      for (const auto& k : args["keys"]) {
        if (k.is_string()) req.keys.push_back(k.get<std::string>());
      }
    }
    req.top = static_cast<uint32_t>(std::min<uint64_t>(num("top"), 100000));
    auto info = rt.Info(name);
    if (!info) return info.error();
    auto r = rt.Get(name, req);
    if (!r) return r.error();
    nlohmann::json j;
    j["projection"] = name;
    j["generation"] = r->state.generation;
    j["checkpoint"] = r->state.checkpoint.value();
    j["events"] = r->state.events;
    j["keys"] = r->cardinality;
    auto& values = j["values"] = nlohmann::json::object();
    for (size_t i = 0; i < req.keys.size(); ++i) {
      values[req.keys[i]] = ValueJson(info->spec.op, r->values[i]);
    }
    auto& top = j["top"] = nlohmann::json::array();
    for (const auto& [k, v] : r->top) top.push_back({k, v});
    return j.dump();
  } else if (action == "verify") {
    VerifyOptions o;
    o.sample = num("sample");
    o.max_lag_positions = num("max_lag");
    o.seed = num("seed");
    auto rep = rt.Verify(name, str("sink"), o);
    if (!rep) return rep.error();
    return rep->ToJson();
  } else {
    return Error(ErrorCode::kInvalidArgument,
                 "unknown projection action '" + action +
                     "'; one of list, status, start, stop, reset, replay, get, verify");
  }
  if (!st) return st.error();
  auto info = rt.Info(name);
  if (!info) return info.error();
  return InfoJson(*info);
}

}  // namespace strata::projection
