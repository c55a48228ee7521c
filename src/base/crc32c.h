// CRC32C (Castagnoli), as used by the record format (docs/record-format.md).
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::crc32c {

// Extends `crc` (the CRC32C of some earlier bytes, 0 for none) with data[0, n).
uint32_t Extend(uint32_t crc, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// Stored CRCs are masked (as in leveldb) so that a CRC computed over bytes that themselves
// contain CRCs stays well distributed.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace strata::crc32c
