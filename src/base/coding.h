// Fixed-width big-endian and little-endian encoding, and LEB128 varints.
// Big-endian is used for keys (so that byte order == numeric order); little-endian for values.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace strata {

inline void PutBigEndian64(char* dst, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(dst, &v, 8);
}
inline uint64_t GetBigEndian64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, 8);
  return __builtin_bswap64(v);
}
inline void AppendBigEndian64(std::string& dst, uint64_t v) {
  char b[8];
  PutBigEndian64(b, v);
  dst.append(b, 8);
}
inline void PutLittle32(char* dst, uint32_t v) { std::memcpy(dst, &v, 4); }
inline void PutLittle64(char* dst, uint64_t v) { std::memcpy(dst, &v, 8); }
inline uint32_t GetLittle32(const char* src) {
  uint32_t v;
  std::memcpy(&v, src, 4);
  return v;
}
inline uint64_t GetLittle64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, 8);
  return v;
}
inline void AppendLittle64(std::string& dst, uint64_t v) {
  char b[8];
  PutLittle64(b, v);
  dst.append(b, 8);
}
inline void AppendLittle32(std::string& dst, uint32_t v) {
  char b[4];
  PutLittle32(b, v);
  dst.append(b, 4);
}

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline char* PutVarint(char* dst, uint64_t v) {
  while (v >= 0x80) {
    *dst++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *dst++ = static_cast<char>(v);
  return dst;
}
inline void AppendVarint(std::string& dst, uint64_t v) {
  char b[10];
  char* e = PutVarint(b, v);
  dst.append(b, e - b);
}
// Reads a varint from [*p, limit); returns false on truncation or overflow.
inline bool GetVarint(const char** p, const char* limit, uint64_t* out) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && *p < limit; shift += 7) {
    uint64_t byte = static_cast<unsigned char>(**p);
    ++*p;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = result;
      return true;
    }
  }
  return false;
}
// Reads a length-prefixed byte string.
inline bool GetLengthPrefixed(const char** p, const char* limit, std::string_view* out) {
  uint64_t len;
  if (!GetVarint(p, limit, &len)) return false;
  if (len > static_cast<uint64_t>(limit - *p)) return false;
  *out = std::string_view(*p, len);
  *p += len;
  return true;
}

}  // namespace strata
