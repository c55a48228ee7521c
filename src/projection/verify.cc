#include "projection/verify.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

namespace strata::projection {
namespace {

// Folds the store's positions (from, to] into `model`; counts the records scanned.
Status Fold(LocalStore* store, const ProjectionSpec& spec, Extractor& ex, Model& model,
            Position from, Position to, uint64_t& records) {
  if (to <= from) return OkStatus();
  return store->ScanAll(Position(from.value() + 1), Position(to.value() + 1),
                        [&](const RecordView& r) {
                          Update u;
                          if (ex.Matches(r) && ex.Extract(r, &u)) model.Apply(u);
                          ++records;
                          return true;
                        });
}

void Compare(VerifyReport& rep, Op op, const std::string& key, const std::optional<Value>& store,
             const std::optional<Value>& sink, uint32_t list) {
  ++rep.compared_keys;
  const bool same =
      store && sink ? SameValue(op, *store, *sink) : store.has_value() == sink.has_value();
  if (same) return;
  ++rep.mismatched_keys;
  if (rep.mismatches.size() < list) rep.mismatches.push_back({key, store, sink});
}

nlohmann::json ValueJson(Op op, const std::optional<Value>& v) {
  if (!v) return nullptr;
  if (op == Op::kLastText) return v->text;
  return v->number;
}

// Compares every key of the recount with the sink's whole model, both ways.
void CompareAll(VerifyReport& rep, Op op, const Model& recount, const Model& theirs,
                uint32_t list) {
  if (IsNumeric(op)) {
    for (const auto& [k, v] : recount.numbers()) {
      Compare(rep, op, k, Value{v, {}}, theirs.Get(k), list);
    }
    for (const auto& [k, v] : theirs.numbers()) {
      if (!recount.numbers().count(k)) Compare(rep, op, k, std::nullopt, Value{v, {}}, list);
    }
  } else {
    for (const auto& [k, v] : recount.texts()) {
      Compare(rep, op, k, Value{0, v}, theirs.Get(k), list);
    }
    for (const auto& [k, v] : theirs.texts()) {
      if (!recount.texts().count(k)) Compare(rep, op, k, std::nullopt, Value{0, v}, list);
    }
  }
}

// Every key: the sink's whole model, and the recount up to its checkpoint.
Status VerifyEveryKey(LocalStore* store, const ProjectionSpec& spec, Sink* sink,
                      const VerifyOptions& options, Extractor& ex, Model& recount,
                      VerifyReport& rep) {
  ReadRequest all;
  all.all = true;
  auto read = sink->Read(rep.generation, all);
  if (!read) return read.error();
  rep.checkpoint = read->state.checkpoint;
  if (!read->state.fingerprint.empty() && read->state.fingerprint != spec.Fingerprint()) {
    rep.problems.push_back("the sink's model was built by a different definition of '" + spec.name +
                           "'; rebuild it with 'strata replay " + spec.name + "'");
  }
  STRATA_TRY(Fold(store, spec, ex, recount, Position(), rep.checkpoint, rep.records_scanned));
  rep.store_keys = recount.size();
  rep.sink_keys = read->cardinality;
  CompareAll(rep, spec.op, recount, *read->all, options.list);
  return OkStatus();
}

// Up to `n` keys of the recount drawn uniformly (reservoir sampling); `seed` 0: a random one.
std::vector<std::string> SampleKeys(const Model& recount, uint64_t n, uint64_t seed) {
  std::vector<std::string> keys;
  std::mt19937_64 rng(seed ? seed : std::random_device{}());
  uint64_t seen = 0;
  auto consider = [&](const std::string& k) {
    ++seen;
    if (keys.size() < n) {
      keys.push_back(k);
    } else if (uint64_t j = rng() % seen; j < n) {
      keys[j] = k;
    }
  };
  if (IsNumeric(recount.op())) {
    for (const auto& [k, v] : recount.numbers()) consider(k);
  } else {
    for (const auto& [k, v] : recount.texts()) consider(k);
  }
  return keys;
}

// A sample of keys: first the checkpoint, then the recount up to it, then the sampled keys read
// together with the (possibly later) checkpoint, and the recount carried up to that one.
Status VerifySample(LocalStore* store, const ProjectionSpec& spec, Sink* sink,
                    const VerifyOptions& options, Extractor& ex, Model& recount,
                    VerifyReport& rep) {
  rep.sampled = true;
  auto first = sink->Read(rep.generation, ReadRequest{});
  if (!first) return first.error();
  STRATA_TRY(
      Fold(store, spec, ex, recount, Position(), first->state.checkpoint, rep.records_scanned));
  Position folded = first->state.checkpoint;  // the recount covers (0, folded]
  const std::vector<std::string> keys = SampleKeys(recount, options.sample, options.seed);
  ReadRequest req;
  req.keys = keys;
  auto second = sink->Read(rep.generation, req);
  if (!second) return second.error();
  if (second->state.checkpoint < folded) {
    rep.problems.push_back(
        fmt::format("the sink's checkpoint went back from {} to {} during "
                    "verify (was Redis restored or rolled back?)",
                    folded.value(), second->state.checkpoint.value()));
  } else {
    STRATA_TRY(
        Fold(store, spec, ex, recount, folded, second->state.checkpoint, rep.records_scanned));
    folded = second->state.checkpoint;
  }
  rep.checkpoint = second->state.checkpoint;
  rep.store_keys = recount.size();
  rep.sink_keys = second->cardinality;
  for (size_t i = 0; i < keys.size(); ++i) {
    Compare(rep, spec.op, keys[i], recount.Get(keys[i]), second->values[i], options.list);
  }
  if (!keys.empty()) {
    rep.detectable_fraction = 1 - std::pow(0.01, 1.0 / static_cast<double>(keys.size()));
  }
  return OkStatus();
}

// The problems the figures show: cardinality, differing keys, and the checkpoint's lag behind
// the store's last position (read now).
void AddSummaryProblems(LocalStore* store, const VerifyOptions& options, VerifyReport& rep) {
  if (rep.store_keys != rep.sink_keys) {
    rep.problems.push_back(
        fmt::format("cardinality differs: the store gives {} keys, the sink "
                    "holds {} ({:+})",
                    rep.store_keys, rep.sink_keys,
                    static_cast<int64_t>(rep.sink_keys) - static_cast<int64_t>(rep.store_keys)));
  }
  if (rep.mismatched_keys) {
    rep.problems.push_back(
        fmt::format("{} of {} compared keys differ", rep.mismatched_keys, rep.compared_keys));
  }
  rep.last_position = Position(store->Watermark().value() - 1);
  rep.lag_positions =
      rep.last_position > rep.checkpoint ? rep.last_position.value() - rep.checkpoint.value() : 0;
  if (rep.lag_positions > options.max_lag_positions) {
    rep.problems.push_back(
        fmt::format("the sink's checkpoint {} trails the store's last position "
                    "{} by {} positions (allowed: {}; --max-lag)",
                    rep.checkpoint.value(), rep.last_position.value(), rep.lag_positions,
                    options.max_lag_positions));
  }
}

}  // namespace

Result<VerifyReport> Verify(LocalStore* store, const ProjectionSpec& spec, Sink* sink,
                            const VerifyOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  VerifyReport rep;
  rep.projection = spec.name;
  rep.sink = sink->Describe();
  rep.op = spec.op;
  rep.max_lag_positions = options.max_lag_positions;
  auto current = sink->Current();
  if (!current) return current.error();
  rep.generation = *current;
  if (*current == 0) {
    rep.problems.push_back("the sink holds no published model for '" + spec.name +
                           "' (never started, or its keys were deleted)");
  }
  Extractor ex(spec);
  Model recount(spec.op);
  if (options.sample == 0) {
    STRATA_TRY(VerifyEveryKey(store, spec, sink, options, ex, recount, rep));
  } else {
    STRATA_TRY(VerifySample(store, spec, sink, options, ex, recount, rep));
  }
  AddSummaryProblems(store, options, rep);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

std::string VerifyReport::ToText() const { return VerifyTextFromJson(ToJson()); }

// One rendering for every caller: the CLI has only the JSON when the server ran verify.
std::string VerifyTextFromJson(std::string_view report_json) {
  const auto j = nlohmann::json::parse(report_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "verify: unreadable report\n";
  auto u = [&](const char* k) { return j.value(k, uint64_t{0}); };
  auto show = [](const nlohmann::json& v) {
    return v.is_null() ? std::string("(missing)") : v.is_string() ? v.get<std::string>() : v.dump();
  };
  std::string s = fmt::format("projection {} in {} (generation {})\n", j.value("projection", ""),
                              j.value("sink", ""), u("generation"));
  s += fmt::format("  checkpoint {} of {} (lag {} positions, allowed {})\n", u("checkpoint"),
                   u("last_position"), u("lag_positions"), u("max_lag_positions"));
  const bool sampled = j.value("sampled", false);
  s += fmt::format("  keys: store {}, sink {}; compared {}{}, differing {}\n", u("store_keys"),
                   u("sink_keys"), u("compared_keys"), sampled ? " (random sample)" : "",
                   u("mismatched_keys"));
  if (sampled && u("compared_keys")) {
    s += fmt::format(
        "  a sample of {} keys finds a difference with 99% probability when at least {:.3f}% of "
        "keys differ\n",
        u("compared_keys"), j.value("detectable_fraction", 0.0) * 100);
  }
  for (const auto& m : j.value("mismatches", nlohmann::json::array())) {
    s += fmt::format("  key {}: store {}, sink {}\n", m.value("key", ""), show(m["store"]),
                     show(m["sink"]));
  }
  s += fmt::format("  scanned {} records of the store in {:.2f} s\n", u("records_scanned"),
                   j.value("seconds", 0.0));
  const auto problems = j.value("problems", nlohmann::json::array());
  if (problems.empty()) {
    s += "OK: the sink agrees with the store\n";
  } else {
    for (const auto& p : problems) s += "MISMATCH: " + p.get<std::string>() + "\n";
  }
  return s;
}

std::string VerifyReport::ToJson() const {
  nlohmann::json j;
  j["ok"] = ok();
  j["projection"] = projection;
  j["sink"] = sink;
  j["generation"] = generation;
  j["checkpoint"] = checkpoint.value();
  j["last_position"] = last_position.value();
  j["lag_positions"] = lag_positions;
  j["max_lag_positions"] = max_lag_positions;
  j["store_keys"] = store_keys;
  j["sink_keys"] = sink_keys;
  j["compared_keys"] = compared_keys;
  j["mismatched_keys"] = mismatched_keys;
  j["sampled"] = sampled;
  if (sampled) j["detectable_fraction"] = detectable_fraction;
  j["records_scanned"] = records_scanned;
  j["seconds"] = seconds;
  j["problems"] = problems;
  auto& ms = j["mismatches"] = nlohmann::json::array();
  for (const auto& m : mismatches) {
    ms.push_back(
        {{"key", m.key}, {"store", ValueJson(op, m.store)}, {"sink", ValueJson(op, m.sink)}});
  }
  return j.dump();
}

}  // namespace strata::projection
