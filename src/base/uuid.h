// Uuid: a 16-byte RFC 4122 UUID, parsed from and printed as lower-case 8-4-4-4-12.
// Thread-safety: plain value; Uuid::Random() is safe from any thread (thread-local generator).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace strata {

class Uuid {
 public:
  Uuid() { bytes_.fill(0); }
  static Uuid FromBytes(const char* b16) {
    Uuid u;
    std::memcpy(u.bytes_.data(), b16, 16);
    return u;
  }
  // Accepts 8-4-4-4-12 hex, either case, optionally in braces; anything else is kInvalidEventId.
  static Result<Uuid> Parse(std::string_view text);
  // A random (version 4) UUID.
  static Uuid Random();

  std::string ToString() const;
  const char* data() const { return reinterpret_cast<const char*>(bytes_.data()); }
  bool IsNil() const;
  auto operator<=>(const Uuid&) const = default;

 private:
  std::array<uint8_t, 16> bytes_;
};

}  // namespace strata

template <>
struct std::hash<strata::Uuid> {
  size_t operator()(const strata::Uuid& u) const {
    uint64_t a, b;
    std::memcpy(&a, u.data(), 8);
    std::memcpy(&b, u.data() + 8, 8);
    return a ^ (b * 0x9e3779b97f4a7c15ull);
  }
};
