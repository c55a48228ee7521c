#include "base/uuid.h"

#include <random>

namespace strata {
namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Uuid> Uuid::Parse(std::string_view text) {
  std::string_view t = text;
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
  auto bad = [&] {
    return Error(ErrorCode::kInvalidEventId,
                 "'" + std::string(text.substr(0, 64)) +
                     "' is not a UUID; write it as 8-4-4-4-12 hex digits, e.g. "
                     "3f2a9c1e-0b7d-4e8a-9c55-2d1f6a7b8c90");
  };
  if (t.size() != 36) return bad();
  Uuid u;
  size_t bi = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (t[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = HexValue(t[i]), lo = HexValue(t[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    u.bytes_[bi++] = static_cast<uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return u;
}

Uuid Uuid::Random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  Uuid u;
  uint64_t a = gen(), b = gen();
  std::memcpy(u.bytes_.data(), &a, 8);
  std::memcpy(u.bytes_.data() + 8, &b, 8);
  u.bytes_[6] = (u.bytes_[6] & 0x0f) | 0x40;  // version 4
  u.bytes_[8] = (u.bytes_[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return u;
}

std::string Uuid::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[bytes_[i] >> 4]);
    s.push_back(kHex[bytes_[i] & 0xf]);
  }
  return s;
}

bool Uuid::IsNil() const {
  for (auto b : bytes_)
    if (b != 0) return false;
  return true;
}

}  // namespace strata
