// The event envelope of DESIGN.md: EventData is what a producer proposes, RecordedEvent is what a
// reader gets back once the store has given it a stream revision, a $all position, a
// recorded_ts and a segment. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/uuid.h"
#include "model/types.h"

namespace strata {

// Largest single event (type + content type + metadata + data).
inline constexpr size_t kMaxEventBytes = 16u << 20;

struct EventData {
  Uuid event_id;  // the idempotency key: appending the same id to the same stream again is a no-op
  std::string type;
  std::string content_type = "application/json";
  std::string metadata;   // user metadata, opaque bytes
  std::string data;       // payload, opaque bytes
  int64_t source_ts = 0;  // µs since epoch, set by the producer; 0 = "use recorded_ts"

  size_t PayloadBytes() const {
    return type.size() + content_type.size() + metadata.size() + data.size();
  }
};

enum class RecordKind : uint8_t {
  kEvent = 0,
  kTombstone = 1,  // the stream was hard-deleted; revision is kTombstoneRevision
};

// Where an event sits in an index stream ($ce-<category>, $et-<type>) it was read through: the
// index stream's name and the event's revision there (KurrentDB clients see it as a link).
struct LinkRef {
  std::string stream;
  Revision revision;
};

struct RecordedEvent {
  Uuid event_id;
  std::string stream;
  Revision revision;
  Position position;
  std::string type;
  std::string content_type;
  int64_t source_ts = 0;    // µs, from the producer
  int64_t recorded_ts = 0;  // µs, from the store at commit
  SegmentId segment_id;
  std::string metadata;
  std::string data;
  RecordKind kind = RecordKind::kEvent;
  std::optional<LinkRef> link;  // set when read through an index stream
};

}  // namespace strata
