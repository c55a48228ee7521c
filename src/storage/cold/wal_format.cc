#include "storage/cold/wal_format.h"

#include <charconv>
#include <cstring>

#include "base/coding.h"
#include "base/crc32c.h"
#include "storage/cold/segment_format.h"

namespace strata::cold {

namespace {

constexpr std::string_view kMagic = "STRATWAL";
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8 + 8 + 8;
constexpr size_t kGroupEntrySize = 4 + 4 + 8 + 8 + 4 + 4;

std::string Digits20(uint64_t v) {
  std::string s = std::to_string(v);
  return std::string(20 - s.size(), '0') + s;
}

std::optional<uint64_t> ParseDigits20(std::string_view s) {
  if (s.size() != 20) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Error Damaged(std::string_view key, const std::string& what) {
  return Error(ErrorCode::kCorruption,
               "WAL object " + std::string(key) + " is damaged: " + what +
                   "; the object store lost or changed it (events acknowledged through it may "
                   "be missing from a restore)");
}

}  // namespace

std::string WalEpochPrefix(uint64_t epoch) {
  return std::string(kWalPrefix) + Digits20(epoch) + "/";
}

std::string WalKey(uint64_t epoch, uint64_t seq) { return WalEpochPrefix(epoch) + Digits20(seq); }

std::optional<std::pair<uint64_t, uint64_t>> ParseWalKey(std::string_view key) {
  if (key.substr(0, kWalPrefix.size()) != kWalPrefix) return std::nullopt;
  key.remove_prefix(kWalPrefix.size());
  if (key.size() != 41 || key[20] != '/') return std::nullopt;
  auto epoch = ParseDigits20(key.substr(0, 20));
  auto seq = ParseDigits20(key.substr(21));
  if (!epoch || !seq) return std::nullopt;
  return std::make_pair(*epoch, *seq);
}

std::string EncodeWalObject(const WalObject& object) {
  size_t size = kHeaderSize + kGroupEntrySize * object.groups.size() + 4;
  for (const auto& g : object.groups) size += g.records.size();
  std::string out;
  out.reserve(size);
  out.append(kMagic);
  AppendLittle32(out, kVersion);
  AppendLittle32(out, static_cast<uint32_t>(object.groups.size()));
  AppendLittle64(out, object.epoch);
  AppendLittle64(out, object.seq);
  AppendLittle64(out, object.next_position);
  for (const auto& g : object.groups) {
    AppendLittle32(out, g.shard);
    AppendLittle32(out, g.events);
    AppendLittle64(out, g.first_position);
    AppendLittle64(out, g.last_position);
    AppendLittle32(out, static_cast<uint32_t>(g.records.size()));
    AppendLittle32(out, crc32c::Mask(crc32c::Value(g.records.data(), g.records.size())));
  }
  AppendLittle32(out, crc32c::Mask(crc32c::Value(out.data(), out.size())));
  for (const auto& g : object.groups) out.append(g.records);
  return out;
}

Result<WalObject> DecodeWalHead(std::string_view prefix, std::string_view key) {
  if (prefix.size() < kHeaderSize || prefix.substr(0, kMagic.size()) != kMagic) {
    return Damaged(key, "it does not start with a WAL header");
  }
  const char* p = prefix.data();
  if (GetLittle32(p + 8) != kVersion) {
    return Error(ErrorCode::kInvalidConfig, "WAL object " + std::string(key) + " has version " +
                                                std::to_string(GetLittle32(p + 8)) +
                                                "; this Strata reads version 1");
  }
  const uint32_t groups = GetLittle32(p + 12);
  const uint64_t head = kHeaderSize + kGroupEntrySize * uint64_t{groups} + 4;
  if (prefix.size() < head) {
    return Error(ErrorCode::kInvalidArgument, "WAL object " + std::string(key) + " needs " +
                                                  std::to_string(head) +
                                                  " bytes to read its table");
  }
  if (crc32c::Unmask(GetLittle32(p + head - 4)) != crc32c::Value(p, head - 4)) {
    return Damaged(key, "its header checksum does not match");
  }
  WalObject o;
  o.epoch = GetLittle64(p + 16);
  o.seq = GetLittle64(p + 24);
  o.next_position = GetLittle64(p + 32);
  for (uint32_t i = 0; i < groups; ++i) {
    const char* g = p + kHeaderSize + kGroupEntrySize * i;
    WalGroup group;
    group.shard = GetLittle32(g);
    group.events = GetLittle32(g + 4);
    group.first_position = GetLittle64(g + 8);
    group.last_position = GetLittle64(g + 16);
    // Increasing positions: consecutive (dense) or further apart (clock positions).
    if (group.events == 0 || group.last_position < group.first_position ||
        group.last_position - group.first_position < group.events - 1) {
      return Damaged(key, "group " + std::to_string(i) + " has an impossible position range");
    }
    o.groups.push_back(group);
  }
  return o;
}

Result<WalObject> DecodeWalObject(std::string_view bytes, std::string_view key) {
  auto o = DecodeWalHead(bytes, key);
  if (!o) {
    if (o.error().code() == ErrorCode::kInvalidArgument) {
      return Damaged(key, "it ends inside its table");
    }
    return o.error();
  }
  const char* p = bytes.data();
  size_t at = kHeaderSize + kGroupEntrySize * o->groups.size() + 4;
  for (size_t i = 0; i < o->groups.size(); ++i) {
    WalGroup& group = o->groups[i];
    const char* g = p + kHeaderSize + kGroupEntrySize * i;
    const uint32_t n = GetLittle32(g + 24);
    const uint32_t crc = crc32c::Unmask(GetLittle32(g + 28));
    if (bytes.size() - at < n) return Damaged(key, "it ends inside a group's records");
    group.records = bytes.substr(at, n);
    at += n;
    if (crc32c::Value(group.records.data(), n) != crc) {
      return Damaged(key, "group " + std::to_string(i) + "'s checksum does not match");
    }
    uint64_t count = 0, prev = 0;
    STRATA_TRY(ForEachRecord(group.records, [&](uint64_t pos, std::string_view) {
      if (count == 0 ? pos != group.first_position : pos <= prev) return false;
      prev = pos;
      ++count;
      return true;
    }));
    if (count != group.events || prev != group.last_position) {
      return Damaged(key, "group " + std::to_string(i) + "'s records do not match its table");
    }
  }
  if (at != bytes.size()) return Damaged(key, "it has bytes after its last group");
  return o;
}

}  // namespace strata::cold
