#include "model/record.h"

#include "base/coding.h"
#include "base/crc32c.h"

namespace strata {
namespace {
size_t StringsSize(std::string_view stream, const EventData& e) {
  auto f = [](size_t n) { return VarintLength(n) + n; };
  return f(stream.size()) + f(e.type.size()) + f(e.content_type.size()) + f(e.metadata.size()) +
         f(e.data.size());
}
char* PutString(char* dst, std::string_view s) {
  dst = PutVarint(dst, s.size());
  std::memcpy(dst, s.data(), s.size());
  return dst + s.size();
}
Error Corrupt(const std::string& what) {
  return Error(ErrorCode::kCorruption,
               "record is corrupt (" + what +
                   "); the data was not served. Run `strata stats` and restore the shard from a "
                   "snapshot if this persists");
}
}  // namespace

size_t EncodedRecordSize(std::string_view stream, const EventData& e) {
  return kRecordHeaderBytes + StringsSize(stream, e);
}

char* EncodeRecord(const RecordHeader& h, std::string_view stream, const EventData& e, char* dst) {
  const size_t total = EncodedRecordSize(stream, e);
  char* p = dst + 8;
  *p++ = static_cast<char>(kRecordFormatVersion);
  *p++ = static_cast<char>(h.kind);
  *p++ = 0;  // flags, reserved
  *p++ = 0;
  PutLittle64(p, h.position.value()), p += 8;
  PutLittle64(p, h.revision.value()), p += 8;
  PutLittle64(p, h.stream_number.value()), p += 8;
  PutLittle64(p, static_cast<uint64_t>(h.source_ts)), p += 8;
  PutLittle64(p, static_cast<uint64_t>(h.recorded_ts)), p += 8;
  PutLittle64(p, h.segment_id.value()), p += 8;
  std::memcpy(p, h.event_id.data(), 16), p += 16;
  p = PutString(p, stream);
  p = PutString(p, e.type);
  p = PutString(p, e.content_type);
  p = PutString(p, e.metadata);
  p = PutString(p, e.data);
  PutLittle32(dst + 4, static_cast<uint32_t>(total));
  PutLittle32(dst, crc32c::Mask(crc32c::Value(dst + 8, total - 8)));
  return p;
}

void AppendRecord(const RecordHeader& h, std::string_view stream, const EventData& e,
                  std::string& out) {
  size_t old = out.size();
  out.resize(old + EncodedRecordSize(stream, e));
  EncodeRecord(h, stream, e, out.data() + old);
}

uint32_t PeekRecordLength(std::string_view bytes) {
  return bytes.size() < 8 ? 0 : GetLittle32(bytes.data() + 4);
}

Result<RecordView> DecodeRecord(std::string_view bytes) {
  if (bytes.size() < kRecordHeaderBytes) return Corrupt("shorter than a record header");
  const char* b = bytes.data();
  uint32_t len = GetLittle32(b + 4);
  if (len != bytes.size()) {
    return Corrupt("length field says " + std::to_string(len) + " bytes, have " +
                   std::to_string(bytes.size()));
  }
  uint32_t want = crc32c::Unmask(GetLittle32(b));
  if (crc32c::Value(b + 8, len - 8) != want) return Corrupt("checksum mismatch");
  if (static_cast<uint8_t>(b[8]) != kRecordFormatVersion) {
    return Corrupt("unknown format version " + std::to_string(static_cast<uint8_t>(b[8])));
  }
  RecordView v;
  auto kind = static_cast<uint8_t>(b[9]);
  if (kind > static_cast<uint8_t>(RecordKind::kTombstone)) return Corrupt("unknown record kind");
  v.header.kind = static_cast<RecordKind>(kind);
  const char* p = b + 12;
  v.header.position = Position(GetLittle64(p)), p += 8;
  v.header.revision = Revision(GetLittle64(p)), p += 8;
  v.header.stream_number = StreamNumber(GetLittle64(p)), p += 8;
  v.header.source_ts = static_cast<int64_t>(GetLittle64(p)), p += 8;
  v.header.recorded_ts = static_cast<int64_t>(GetLittle64(p)), p += 8;
  v.header.segment_id = SegmentId(GetLittle64(p)), p += 8;
  v.header.event_id = Uuid::FromBytes(p), p += 16;
  const char* limit = b + len;
  if (!GetLengthPrefixed(&p, limit, &v.stream) || !GetLengthPrefixed(&p, limit, &v.type) ||
      !GetLengthPrefixed(&p, limit, &v.content_type) ||
      !GetLengthPrefixed(&p, limit, &v.metadata) || !GetLengthPrefixed(&p, limit, &v.data) ||
      p != limit) {
    return Corrupt("field lengths do not add up");
  }
  return v;
}

RecordedEvent RecordView::ToEvent() const {
  RecordedEvent e;
  e.event_id = header.event_id;
  e.stream.assign(stream);
  e.revision = header.revision;
  e.position = header.position;
  e.type.assign(type);
  e.content_type.assign(content_type);
  e.source_ts = header.source_ts;
  e.recorded_ts = header.recorded_ts;
  e.segment_id = header.segment_id;
  e.metadata.assign(metadata);
  e.data.assign(data);
  e.kind = header.kind;
  return e;
}

}  // namespace strata
