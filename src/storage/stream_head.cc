#include "storage/stream_head.h"

#include <nlohmann/json.hpp>

#include "base/coding.h"

namespace strata {
namespace {
constexpr uint8_t kHeadFormat = 1;

Result<std::optional<uint64_t>> UnsignedKey(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::optional<uint64_t>();
  if (it->is_number_unsigned()) return std::optional<uint64_t>(it->get<uint64_t>());
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    return std::optional<uint64_t>(static_cast<uint64_t>(it->get<int64_t>()));
  }
  return Error(ErrorCode::kInvalidArgument, std::string("stream metadata key '") + key +
                                                "' must be a non-negative integer, got " +
                                                it->dump());
}
}  // namespace

Result<StreamMetadata> ParseStreamMetadata(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error(ErrorCode::kInvalidArgument,
                 "stream metadata must be a JSON object such as {\"$maxCount\": 100}");
  }
  StreamMetadata m;
  auto mc = UnsignedKey(doc, "$maxCount");
  if (!mc) return mc.error();
  auto ma = UnsignedKey(doc, "$maxAge");
  if (!ma) return ma.error();
  auto tb = UnsignedKey(doc, "$tb");
  if (!tb) return tb.error();
  m.max_count = *mc;
  m.max_age_seconds = *ma;
  m.truncate_before = *tb;
  if (m.max_count && *m.max_count == 0) {
    return Error(ErrorCode::kInvalidArgument, "stream metadata '$maxCount' must be at least 1");
  }
  if (m.max_age_seconds && *m.max_age_seconds == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "stream metadata '$maxAge' must be at least 1 second");
  }
  return m;
}

std::string WithTruncateBefore(std::string_view json, uint64_t truncate_before) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) doc = nlohmann::json::object();
  doc["$tb"] = truncate_before;
  return doc.dump();
}

uint64_t StreamHead::FirstVisibleRevision() const {
  uint64_t first = metadata.truncate_before.value_or(0);
  if (metadata.max_count && last_revision >= 0 &&
      static_cast<uint64_t>(last_revision) + 1 > *metadata.max_count) {
    first =
        std::max<uint64_t>(first, static_cast<uint64_t>(last_revision) + 1 - *metadata.max_count);
  }
  return first;
}

std::string StreamHead::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(kHeadFormat));
  AppendVarint(out, number.value());
  AppendVarint(out, static_cast<uint64_t>(last_revision + 1));
  AppendVarint(out, last_position.value());
  uint8_t flags = (tombstoned ? 1 : 0) | (metadata.max_count ? 2 : 0) |
                  (metadata.max_age_seconds ? 4 : 0) | (metadata.truncate_before ? 8 : 0);
  out.push_back(static_cast<char>(flags));
  if (metadata.max_count) AppendVarint(out, *metadata.max_count);
  if (metadata.max_age_seconds) AppendVarint(out, *metadata.max_age_seconds);
  if (metadata.truncate_before) AppendVarint(out, *metadata.truncate_before);
  AppendVarint(out, metadata_json.size());
  out += metadata_json;
  return out;
}

Result<StreamHead> StreamHead::Decode(std::string_view bytes) {
  auto bad = [] { return Error(ErrorCode::kCorruption, "a stream head record is malformed"); };
  const char* p = bytes.data();
  const char* limit = p + bytes.size();
  if (p == limit || static_cast<uint8_t>(*p) != kHeadFormat) return bad();
  ++p;
  StreamHead h;
  uint64_t number, rev1, pos;
  if (!GetVarint(&p, limit, &number) || !GetVarint(&p, limit, &rev1) ||
      !GetVarint(&p, limit, &pos)) {
    return bad();
  }
  h.number = StreamNumber(number);
  h.last_revision = static_cast<int64_t>(rev1) - 1;
  h.last_position = Position(pos);
  if (p == limit) return bad();
  uint8_t flags = static_cast<uint8_t>(*p++);
  h.tombstoned = flags & 1;
  uint64_t v;
  if (flags & 2) {
    if (!GetVarint(&p, limit, &v)) return bad();
    h.metadata.max_count = v;
  }
  if (flags & 4) {
    if (!GetVarint(&p, limit, &v)) return bad();
    h.metadata.max_age_seconds = v;
  }
  if (flags & 8) {
    if (!GetVarint(&p, limit, &v)) return bad();
    h.metadata.truncate_before = v;
  }
  std::string_view json;
  if (!GetLengthPrefixed(&p, limit, &json)) return bad();
  h.metadata_json.assign(json);
  return h;
}

}  // namespace strata
