// The record codec: one event as stored in the log (warm tier value, hot ring slot, and later
// cold segment blocks). The byte layout is specified in docs/record-format.md; change both
// together, and bump kRecordFormatVersion for any incompatible change.
//
// Every record carries a masked CRC32C over everything after its first 8 bytes; DecodeRecord
// verifies it and the length, so a torn or corrupted record is reported (kCorruption), never
// served. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/uuid.h"
#include "model/event.h"
#include "model/types.h"

namespace strata {

inline constexpr uint8_t kRecordFormatVersion = 1;
inline constexpr size_t kRecordHeaderBytes = 76;  // docs/record-format.md

// The fixed-size fields of a record.
struct RecordHeader {
  RecordKind kind = RecordKind::kEvent;
  Position position;
  Revision revision;
  StreamNumber stream_number;
  int64_t source_ts = 0;
  int64_t recorded_ts = 0;
  SegmentId segment_id;
  Uuid event_id;
};

// A decoded record whose strings point into the buffer it was decoded from.
struct RecordView {
  RecordHeader header;
  std::string_view stream;
  std::string_view type;
  std::string_view content_type;
  std::string_view metadata;
  std::string_view data;

  RecordedEvent ToEvent() const;
};

// Bytes EncodeRecord will write for these fields.
size_t EncodedRecordSize(std::string_view stream, const EventData& e);
// Writes the record at dst (EncodedRecordSize bytes); returns the end.
char* EncodeRecord(const RecordHeader& h, std::string_view stream, const EventData& e, char* dst);
// Appends the record to out.
void AppendRecord(const RecordHeader& h, std::string_view stream, const EventData& e,
                  std::string& out);
// Decodes and verifies one record that must span exactly `bytes`.
Result<RecordView> DecodeRecord(std::string_view bytes);
// Reads only the total length of the record that starts at `bytes` (for framing several records
// in one buffer); 0 if fewer than 8 bytes are there.
uint32_t PeekRecordLength(std::string_view bytes);

}  // namespace strata
