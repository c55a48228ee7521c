// StreamHead: what the store knows about one stream without reading its events — its shard-local
// number, last revision and position, whether it is tombstoned, and its metadata (from the
// last `$metadata` event of `$$<stream>`). Encoded into the warm tier's `heads` column family
// (docs/warm-layout.md). Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "model/record.h"
#include "model/types.h"

namespace strata {

// Stream metadata that the store enforces on reads (KurrentDB's system keys).
struct StreamMetadata {
  std::optional<uint64_t> max_count;        // $maxCount: only the last N events are readable
  std::optional<uint64_t> max_age_seconds;  // $maxAge: events older than this are not readable
  std::optional<uint64_t> truncate_before;  // $tb: revisions below this are not readable

  bool operator==(const StreamMetadata&) const = default;
};

// Parses a `$metadata` event's JSON; unknown keys are kept by the event itself and ignored here.
// A malformed document or a system key of the wrong type is kInvalidArgument.
Result<StreamMetadata> ParseStreamMetadata(std::string_view json);
// Returns `json` with "$tb" set to `truncate_before`, keeping every other key (soft delete).
std::string WithTruncateBefore(std::string_view json, uint64_t truncate_before);

struct StreamHead {
  StreamNumber number;
  int64_t last_revision = -1;  // -1: no events yet
  Position last_position;      // of the last record (event or tombstone)
  bool tombstoned = false;
  StreamMetadata metadata;
  std::string metadata_json;  // the last $metadata document, for soft delete to extend

  bool HasEvents() const { return last_revision >= 0; }
  // Soft-deleted: every event is below $tb, so the stream reads as not found.
  bool SoftDeleted() const {
    return HasEvents() && metadata.truncate_before &&
           *metadata.truncate_before > static_cast<uint64_t>(last_revision);
  }
  // Exists for the purpose of expected-revision checks.
  bool Exists() const { return HasEvents() && !SoftDeleted(); }
  // First revision a reader may see given $tb and $maxCount ($maxAge is checked per event).
  uint64_t FirstVisibleRevision() const;

  std::string Encode() const;
  static Result<StreamHead> Decode(std::string_view bytes);
};

}  // namespace strata
