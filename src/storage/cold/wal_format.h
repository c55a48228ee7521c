// The object-store WAL (docs/wal.md): with `ColdOptions::wal`, an append is acknowledged only
// once its group commit's records are in a WAL object in the cold tier, so an acknowledged event
// survives the loss of the node and its disk. One WAL object holds the group commits that every
// shard of the store made in one commit interval:
//
//   wal/<epoch, 20 digits>/<seq, 20 digits>
//
// `epoch` names one run of the store (it grows across restarts), `seq` counts that run's objects
// from 0. Objects are created with If-None-Match, never replaced. Layout (little-endian):
//
//   header  "STRATWAL" | u32 version (1) | u32 groups | u64 epoch | u64 seq | u64 next_position
//   table   per group: u32 shard | u32 events | u64 first_position | u64 last_position
//           | u32 record bytes | u32 masked crc32c of the records
//           then a u32 masked crc32c of the header and the table
//   records each group's records (the record format, back to back), in table order
//
// The table comes first so that a ranged read of an object's start (kWalHeadBytes) tells which
// shards and positions it covers: the writer's garbage collection and its start-up need no more.
//
// `next_position` is the first position the store had not handed out when the object was cut:
// a restored store starts above it, so no position a reader may have passed is used again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace strata::cold {

inline constexpr std::string_view kWalPrefix = "wal/";

struct WalGroup {
  uint32_t shard = 0;
  uint32_t events = 0;
  uint64_t first_position = 0, last_position = 0;
  std::string_view records;  // encoded records, first_position..last_position in order
};

struct WalObject {
  uint64_t epoch = 0, seq = 0, next_position = 0;
  std::vector<WalGroup> groups;  // decoded: views into the object's bytes
};

std::string WalEpochPrefix(uint64_t epoch);  // "wal/<epoch>/"
std::string WalKey(uint64_t epoch, uint64_t seq);
// (epoch, seq) of a WAL object's key; nullopt for anything else.
std::optional<std::pair<uint64_t, uint64_t>> ParseWalKey(std::string_view key);

// Bytes from an object's start that hold the header and table of up to 126 groups.
inline constexpr uint64_t kWalHeadBytes = 4096;

std::string EncodeWalObject(const WalObject& object);
// The header and table only (the groups' records stay empty), from a prefix of the object:
// kInvalidArgument with the size needed when `prefix` is too short.
Result<WalObject> DecodeWalHead(std::string_view prefix, std::string_view key);
// Verifies the checksums and every record (kCorruption naming what is wrong); `key` for
// messages. The groups' records are views into `bytes`.
Result<WalObject> DecodeWalObject(std::string_view bytes, std::string_view key);

}  // namespace strata::cold
