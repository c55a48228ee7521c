// Stream-name rules. A name is 1..kMaxStreamNameBytes bytes of UTF-8 without NUL. Names that
// start with "$$" are metadata streams: "$$orders-1" holds the metadata of "orders-1" and lives
// in the same partition. "$all" is the global log, not a stream you can append to.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/error.h"

namespace strata {

inline constexpr size_t kMaxStreamNameBytes = 1024;
inline constexpr std::string_view kAllStreamName = "$all";
inline constexpr std::string_view kMetadataEventType = "$metadata";
inline constexpr std::string_view kTombstoneEventType = "$streamDeleted";

// Checks a name for appending/reading. kInvalidStreamName with the rule that was broken.
Status ValidateStreamName(std::string_view name);

inline bool IsMetadataStream(std::string_view name) { return name.starts_with("$$"); }
// "$$orders-1" -> "orders-1"; a plain name is returned unchanged.
inline std::string_view OriginalStreamOf(std::string_view name) {
  return IsMetadataStream(name) ? name.substr(2) : name;
}
// Index streams, kept by the store itself (docs/index-streams.md): "$ce-orders" lists the events
// of every stream of category "orders", "$et-OrderPlaced" every event of that type, in $all
// order. Read-only.
inline constexpr std::string_view kCategoryStreamPrefix = "$ce-";
inline constexpr std::string_view kEventTypeStreamPrefix = "$et-";
inline bool IsIndexStream(std::string_view name) {
  return name.size() > 4 &&
         (name.starts_with(kCategoryStreamPrefix) || name.starts_with(kEventTypeStreamPrefix));
}

// The part before the first '-' ("orders-1" -> "orders"), as KurrentDB's $ce- projection.
inline std::string_view CategoryOf(std::string_view name) {
  auto dash = name.find('-');
  return dash == std::string_view::npos ? name : name.substr(0, dash);
}

}  // namespace strata
