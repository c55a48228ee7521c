// The hot tier's options (the ring): part of StoreOptions (storage/options.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace strata {

// How the ring numbers records (docs/positions-and-watermark.md).
enum class PositionScheme : uint8_t {
  // Consecutive positions from 1: one store's own order (a single node).
  kDense,
  // position = tick << partition_bits | partition, the tick a hybrid logical clock in
  // microseconds since kClockEpochMicros (never behind the physical clock or the store's last
  // position): unique across a cluster's members (a partition has one owner at a time) and close
  // to time on all of them. With 6 partition bits positions stay below 2^56 (index streams keep
  // a shard number above that) until 2055.
  kClock,
};

inline constexpr int64_t kClockEpochMicros = 1'577'836'800'000'000;  // 2020-01-01T00:00:00Z

struct HotOptions {
  size_t ring_bytes = 128u << 20;           // arena for event bytes
  size_t ring_slots = 1u << 19;             // records held at most (rounded up to a power of two)
  std::chrono::milliseconds max_age{5000};  // older events are read from the warm tier
  PositionScheme positions = PositionScheme::kDense;
  uint32_t partition_bits = 6;  // kClock: low bits of a position naming its partition
};

}  // namespace strata
