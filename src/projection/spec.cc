#include "projection/spec.h"

#include <nlohmann/json.hpp>
#include <set>

namespace strata::projection {
namespace {

Error Invalid(const std::string& name, const std::string& what) {
  return Error(ErrorCode::kInvalidConfig, "projection" +
                                              (name.empty() ? std::string() : " '" + name + "'") +
                                              ": " + what + " (see docs/projections.md)");
}

Result<Kind> ParseKind(const std::string& name, const std::string& s) {
  if (s == "count") return Kind::kCount;
  if (s == "sum") return Kind::kSum;
  if (s == "min") return Kind::kMin;
  if (s == "max") return Kind::kMax;
  if (s == "last") return Kind::kLast;
  if (s == "leaderboard") return Kind::kLeaderboard;
  return Invalid(name, "kind '" + s + "' is not one of count, sum, min, max, last, leaderboard");
}

// Every string of a JSON string or array of strings; an error for anything else.
Result<std::vector<std::string>> Strings(const std::string& name, const nlohmann::json& j,
                                         const char* key) {
  std::vector<std::string> out;
  if (j.is_string()) {
    out.push_back(j.get<std::string>());
  } else if (j.is_array()) {
    for (const auto& e : j) {
      if (!e.is_string()) return Invalid(name, std::string(key) + " must hold strings");
      out.push_back(e.get<std::string>());
    }
  } else {
    return Invalid(name, std::string(key) + " must be a string or a list of strings");
  }
  for (const auto& s : out) {
    if (s.empty()) return Invalid(name, std::string(key) + " must not hold an empty string");
  }
  return out;
}

bool ValidFieldPath(const std::string& f) {
  if (f.empty() || f.front() == '.' || f.back() == '.') return false;
  return f.find("..") == std::string::npos;
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kCount:
      return "count";
    case Kind::kSum:
      return "sum";
    case Kind::kMin:
      return "min";
    case Kind::kMax:
      return "max";
    case Kind::kLast:
      return "last";
    case Kind::kLeaderboard:
      return "leaderboard";
  }
  return "?";
}

bool IsNumeric(Op op) { return op != Op::kLastText; }

Result<ProjectionSpec> ParseSpec(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Invalid("", "the definition is not a JSON object: " + std::string(text.substr(0, 200)));
  }
  ProjectionSpec s;
  static const std::set<std::string> kKeys = {
      "name",  "kind",  "stream", "streams",      "event_types", "key",          "key_field",
      "field", "score", "redis",  "redis_prefix", "flush_ms",    "flush_events", "enabled"};
  if (j.contains("name") && j["name"].is_string()) s.name = j["name"].get<std::string>();
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      return Invalid(s.name, "unknown key '" + k +
                                 "'; the keys are name, kind, stream, streams, event_types, key, "
                                 "key_field, field, score, redis, redis_prefix, flush_ms, "
                                 "flush_events, enabled");
    }
  }
  if (s.name.empty() || s.name.size() > 64 ||
      s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return Invalid(s.name, "name must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  }
  auto str = [&](const char* key, std::string& out) -> Status {
    if (!j.contains(key)) return OkStatus();
    if (!j[key].is_string()) return Invalid(s.name, std::string(key) + " must be a string");
    out = j[key].get<std::string>();
    return OkStatus();
  };
  auto num = [&](const char* key, uint32_t& out, uint32_t lo, uint32_t hi) -> Status {
    if (!j.contains(key)) return OkStatus();
    if (!j[key].is_number_unsigned() || j[key].get<uint64_t>() < lo ||
        j[key].get<uint64_t>() > hi) {
      return Invalid(s.name, std::string(key) + " must be a whole number from " +
                                 std::to_string(lo) + " to " + std::to_string(hi));
    }
    out = j[key].get<uint32_t>();
    return OkStatus();
  };
  std::string kind = "count";
  STRATA_TRY(str("kind", kind));
  auto k = ParseKind(s.name, kind);
  if (!k) return k.error();
  s.kind = *k;
  STRATA_TRY(str("stream", s.stream));
  if (j.contains("streams")) {
    auto v = Strings(s.name, j["streams"], "streams");
    if (!v) return v.error();
    s.stream_prefixes = std::move(*v);
  }
  if (j.contains("event_types")) {
    auto v = Strings(s.name, j["event_types"], "event_types");
    if (!v) return v.error();
    s.event_types = std::move(*v);
  }
  if (!s.stream.empty() && !s.stream_prefixes.empty()) {
    return Invalid(s.name, "give either stream (one stream) or streams (prefixes in $all)");
  }
  STRATA_TRY(str("key", s.key_pattern_text));
  STRATA_TRY(str("key_field", s.key_field));
  STRATA_TRY(str("field", s.field));
  STRATA_TRY(str("score", s.score));
  STRATA_TRY(str("redis", s.redis));
  STRATA_TRY(str("redis_prefix", s.redis_prefix));
  STRATA_TRY(num("flush_ms", s.flush_ms, 1, 3'600'000));
  STRATA_TRY(num("flush_events", s.flush_events, 1, 10'000'000));
  if (j.contains("enabled")) {
    if (!j["enabled"].is_boolean()) return Invalid(s.name, "enabled must be true or false");
    s.enabled = j["enabled"].get<bool>();
  }
  if (!s.key_pattern_text.empty() && !s.key_field.empty()) {
    return Invalid(s.name, "give either key (a stream-name pattern) or key_field, not both");
  }
  if (!s.key_pattern_text.empty()) {
    const size_t open = s.key_pattern_text.find('{');
    const size_t close = s.key_pattern_text.find('}');
    if (open == std::string::npos || close == std::string::npos || close < open ||
        s.key_pattern_text.find('{', open + 1) != std::string::npos) {
      return Invalid(s.name, "key '" + s.key_pattern_text +
                                 "' must name one part of the stream in braces, e.g. user-{id}");
    }
    s.key_pattern =
        KeyPattern{s.key_pattern_text.substr(0, open), s.key_pattern_text.substr(close + 1)};
  }
  if (!s.key_field.empty() && !ValidFieldPath(s.key_field)) {
    return Invalid(s.name, "key_field '" + s.key_field + "' is not a field path such as a.b");
  }
  if (!s.field.empty() && !ValidFieldPath(s.field)) {
    return Invalid(s.name, "field '" + s.field + "' is not a field path such as a.b");
  }
  if (!s.score.empty() && s.kind != Kind::kLeaderboard) {
    return Invalid(s.name, "score is for kind leaderboard only");
  }
  switch (s.kind) {
    case Kind::kCount:
      if (!s.field.empty()) return Invalid(s.name, "kind count takes no field");
      s.op = Op::kCount;
      break;
    case Kind::kSum:
    case Kind::kMin:
    case Kind::kMax:
      if (s.field.empty()) {
        return Invalid(s.name, "kind " + std::string(KindName(s.kind)) +
                                   " needs field: the numeric field of the event data");
      }
      s.op = s.kind == Kind::kSum ? Op::kSum : s.kind == Kind::kMin ? Op::kMin : Op::kMax;
      break;
    case Kind::kLast:
      s.op = Op::kLastText;
      break;
    case Kind::kLeaderboard: {
      if (s.score.empty()) s.score = s.field.empty() ? "count" : "sum";
      if (s.score == "count") {
        if (!s.field.empty()) return Invalid(s.name, "score count takes no field");
        s.op = Op::kCount;
      } else {
        if (s.field.empty()) {
          return Invalid(s.name, "score " + s.score + " needs field: the numeric field");
        }
        if (s.score == "sum") {
          s.op = Op::kSum;
        } else if (s.score == "max") {
          s.op = Op::kMax;
        } else if (s.score == "min") {
          s.op = Op::kMin;
        } else if (s.score == "last") {
          s.op = Op::kLastNumber;
        } else {
          return Invalid(s.name,
                         "score '" + s.score + "' is not one of sum, max, min, last, count");
        }
      }
      break;
    }
  }
  if (!s.redis.empty() && s.redis.rfind("redis://", 0) != 0) {
    return Invalid(s.name, "redis '" + s.redis + "' must be a redis://host:port/db URL");
  }
  if (s.redis_prefix.empty() || s.redis_prefix.find(' ') != std::string::npos) {
    return Invalid(s.name, "redis_prefix must be a non-empty word");
  }
  return s;
}

std::string ProjectionSpec::Fingerprint() const {
  nlohmann::json j;
  j["kind"] = KindName(kind);
  j["op"] = static_cast<int>(op);
  j["stream"] = stream;
  j["streams"] = stream_prefixes;
  j["event_types"] = event_types;
  j["key"] = key_pattern_text;
  j["key_field"] = key_field;
  j["field"] = field;
  return j.dump();
}

std::string ProjectionSpec::ToJson() const {
  nlohmann::json j;
  j["name"] = name;
  j["kind"] = KindName(kind);
  if (!stream.empty()) j["stream"] = stream;
  if (!stream_prefixes.empty()) j["streams"] = stream_prefixes;
  if (!event_types.empty()) j["event_types"] = event_types;
  if (!key_pattern_text.empty()) j["key"] = key_pattern_text;
  if (!key_field.empty()) j["key_field"] = key_field;
  if (!field.empty()) j["field"] = field;
  if (kind == Kind::kLeaderboard) j["score"] = score;
  if (!redis.empty()) {
    // Never show a password: redis://:secret@host -> redis://***@host.
    const size_t at = redis.rfind('@');
    j["redis"] = at == std::string::npos ? redis : "redis://***" + redis.substr(at);
    j["redis_prefix"] = redis_prefix;
  }
  j["flush_ms"] = flush_ms;
  j["flush_events"] = flush_events;
  j["enabled"] = enabled;
  return j.dump();
}

}  // namespace strata::projection
