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

namespace {

// Every key of a spec is a known one, and the name is valid.
Status CheckKeysAndName(const nlohmann::json& j, const std::string& name) {
  static const std::set<std::string> kKeys = {
      "name",  "kind",  "stream", "streams",      "event_types", "key",          "key_field",
      "field", "score", "redis",  "redis_prefix", "flush_ms",    "flush_events", "enabled"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      return Invalid(name, "unknown key '" + k +
                               "'; the keys are name, kind, stream, streams, event_types, key, "
                               "key_field, field, score, redis, redis_prefix, flush_ms, "
                               "flush_events, enabled");
    }
  }
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return Invalid(name, "name must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  }
  return OkStatus();
}

// The optional fields of the spec `j` of projection `name`; each leaves `out` as it is when its
// key is absent.
class SpecFields {
 public:
  SpecFields(const nlohmann::json& j, const std::string& name) : j_(j), name_(name) {}
  Status String(const char* key, std::string& out) const {
    if (!j_.contains(key)) return OkStatus();
    if (!j_[key].is_string()) return Invalid(name_, std::string(key) + " must be a string");
    out = j_[key].get<std::string>();
    return OkStatus();
  }
  Status StringList(const char* key, std::vector<std::string>& out) const {
    if (!j_.contains(key)) return OkStatus();
    auto v = Strings(name_, j_[key], key);
    if (!v) return v.error();
    out = std::move(*v);
    return OkStatus();
  }
  Status Number(const char* key, uint32_t& out, uint32_t lo, uint32_t hi) const {
    if (!j_.contains(key)) return OkStatus();
    if (!j_[key].is_number_unsigned() || j_[key].get<uint64_t>() < lo ||
        j_[key].get<uint64_t>() > hi) {
      return Invalid(name_, std::string(key) + " must be a whole number from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
    }
    out = j_[key].get<uint32_t>();
    return OkStatus();
  }
  Status Bool(const char* key, bool& out) const {
    if (!j_.contains(key)) return OkStatus();
    if (!j_[key].is_boolean()) return Invalid(name_, std::string(key) + " must be true or false");
    out = j_[key].get<bool>();
    return OkStatus();
  }

 private:
  const nlohmann::json& j_;
  const std::string& name_;
};

// Reads every field but the name, in the order their errors are reported.
Status ReadFields(const SpecFields& f, ProjectionSpec& s) {
  std::string kind = "count";
  STRATA_TRY(f.String("kind", kind));
  auto k = ParseKind(s.name, kind);
  if (!k) return k.error();
  s.kind = *k;
  STRATA_TRY(f.String("stream", s.stream));
  STRATA_TRY(f.StringList("streams", s.stream_prefixes));
  STRATA_TRY(f.StringList("event_types", s.event_types));
  if (!s.stream.empty() && !s.stream_prefixes.empty()) {
    return Invalid(s.name, "give either stream (one stream) or streams (prefixes in $all)");
  }
  STRATA_TRY(f.String("key", s.key_pattern_text));
  STRATA_TRY(f.String("key_field", s.key_field));
  STRATA_TRY(f.String("field", s.field));
  STRATA_TRY(f.String("score", s.score));
  STRATA_TRY(f.String("redis", s.redis));
  STRATA_TRY(f.String("redis_prefix", s.redis_prefix));
  STRATA_TRY(f.Number("flush_ms", s.flush_ms, 1, 3'600'000));
  STRATA_TRY(f.Number("flush_events", s.flush_events, 1, 10'000'000));
  return f.Bool("enabled", s.enabled);
}

// The key (a stream-name pattern or a key field) and the value field; sets s.key_pattern.
Status CheckKeyAndField(ProjectionSpec& s) {
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
  return OkStatus();
}

// A leaderboard's op, from its score (defaulted here: sum with a field, else count).
Result<Op> LeaderboardOp(ProjectionSpec& s) {
  if (s.score.empty()) s.score = s.field.empty() ? "count" : "sum";
  if (s.score == "count") {
    if (!s.field.empty()) return Invalid(s.name, "score count takes no field");
    return Op::kCount;
  }
  if (s.field.empty()) {
    return Invalid(s.name, "score " + s.score + " needs field: the numeric field");
  }
  if (s.score == "sum") return Op::kSum;
  if (s.score == "max") return Op::kMax;
  if (s.score == "min") return Op::kMin;
  if (s.score == "last") return Op::kLastNumber;
  return Invalid(s.name, "score '" + s.score + "' is not one of sum, max, min, last, count");
}

// Derives s.op from the kind (and the score), checking that the kind has the field it needs.
Status ChooseOp(ProjectionSpec& s) {
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
      auto op = LeaderboardOp(s);
      if (!op) return op.error();
      s.op = *op;
      break;
    }
  }
  return OkStatus();
}

Status CheckRedis(const ProjectionSpec& s) {
  if (!s.redis.empty() && s.redis.rfind("redis://", 0) != 0) {
    return Invalid(s.name, "redis '" + s.redis + "' must be a redis://host:port/db URL");
  }
  if (s.redis_prefix.empty() || s.redis_prefix.find(' ') != std::string::npos) {
    return Invalid(s.name, "redis_prefix must be a non-empty word");
  }
  return OkStatus();
}

}  // namespace

Result<ProjectionSpec> ParseSpec(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Invalid("", "the definition is not a JSON object: " + std::string(text.substr(0, 200)));
  }
  ProjectionSpec s;
  if (j.contains("name") && j["name"].is_string()) s.name = j["name"].get<std::string>();
  STRATA_TRY(CheckKeysAndName(j, s.name));
  STRATA_TRY(ReadFields(SpecFields(j, s.name), s));
  STRATA_TRY(CheckKeyAndField(s));
  STRATA_TRY(ChooseOp(s));
  STRATA_TRY(CheckRedis(s));
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
