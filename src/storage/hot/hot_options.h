// The hot tier's options (the ring): part of StoreOptions (storage/options.h).
#pragma once

#include <chrono>
#include <cstddef>

namespace strata {

struct HotOptions {
  size_t ring_bytes = 128u << 20;           // arena for event bytes
  size_t ring_slots = 1u << 19;             // positions held at most (rounded up to a power of two)
  std::chrono::milliseconds max_age{5000};  // older events are read from the warm tier
};

}  // namespace strata
