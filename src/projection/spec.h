// ProjectionSpec: what a projection folds and where its read model goes, parsed from the JSON
// form that `--projection` takes and that a `[[projection]]` table of the TOML config becomes
// (docs/projections.md). Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace strata::projection {

// The built-in kinds (docs/projections.md): the value kept per key.
enum class Kind : uint8_t {
  kCount,        // events per key
  kSum,          // sum of a numeric field
  kMin,          // smallest value of a numeric field
  kMax,          // largest value of a numeric field
  kLast,         // the latest value of a field (any JSON), or the latest event's data
  kLeaderboard,  // key -> score; the score aggregates a field (sum, max, min, last) or counts
};

// How one event's value combines with the value a key holds.
enum class Op : uint8_t { kCount, kSum, kMin, kMax, kLastNumber, kLastText };

std::string_view KindName(Kind kind);
bool IsNumeric(Op op);  // the model is key -> number (a Redis sorted set); else key -> text

// `user-{id}`: the key is what `{…}` matches between a fixed prefix and suffix of the stream.
struct KeyPattern {
  std::string prefix, suffix;
  // The key of `stream`, or nullopt when the stream does not match.
  std::optional<std::string_view> Match(std::string_view stream) const {
    if (stream.size() <= prefix.size() + suffix.size()) return std::nullopt;
    if (stream.substr(0, prefix.size()) != prefix) return std::nullopt;
    if (stream.substr(stream.size() - suffix.size()) != suffix) return std::nullopt;
    return stream.substr(prefix.size(), stream.size() - prefix.size() - suffix.size());
  }
};

struct ProjectionSpec {
  std::string name;  // [a-z0-9_-], 1..64 characters
  Kind kind = Kind::kCount;
  Op op = Op::kCount;  // derived from kind (and score)

  // Source: one stream, or $all narrowed by stream prefixes and event types (ORed within each
  // list, ANDed between them). Records other than events (tombstones) are never folded.
  std::string stream;
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> event_types;  // exact names

  // Key: from the stream name by pattern, or from a field of the event data (a JSON string or
  // number), or else the stream name itself.
  std::string key_pattern_text;  // "user-{id}"
  std::optional<KeyPattern> key_pattern;
  std::string key_field;  // "user_id" or "player.id" (dots descend into objects)

  std::string field;  // the value: a numeric field (sum/min/max/leaderboard) or any field (last)
  std::string score;  // leaderboard: "sum" (default with a field), "max", "min", "last", "count"

  // The Redis sink (empty: none): redis://[:password@]host[:port][/db].
  std::string redis;
  std::string redis_prefix = "strata";  // keys are <prefix>:<name>:…
  uint32_t flush_ms = 500;              // a sink commits at least this often while behind…
  uint32_t flush_events = 10000;        // …or after this many events, whichever comes first

  bool enabled = true;  // false: declared, not started until `strata projection start`

  // What the model means: every field that changes the fold (not the sink or flush settings).
  // Stored with a sink's state so that a changed definition is noticed.
  std::string Fingerprint() const;
  std::string ToJson() const;
};

// Parses and validates one spec; the error says which field is wrong and what is allowed.
Result<ProjectionSpec> ParseSpec(std::string_view json);

}  // namespace strata::projection
