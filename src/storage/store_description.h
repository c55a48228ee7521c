// <data>/STRATA, the store description: its format, shards and partitions (fixed when the store
// is created) and the cold tier it was last opened with. Written last when a store is created
// (its commit point) and rewritten atomically when the cold URL changes; a checked metadata file
// (docs/file-seam.md), so damage is kCorruption naming the file and the remedy, never an
// exception.
#pragma once

#include <optional>
#include <string>

#include "base/error.h"

namespace strata::storage {

struct StoreDescription {
  uint32_t shards = 0, partitions = 0;
  // The cold tier's URL the store was last opened with ("" for none); nullopt when the file
  // does not record one (a store made before it did: see RecordedColdUrl).
  std::optional<std::string> cold_url;
};

Status WriteStoreDescription(const std::string& data_dir, const StoreDescription& description);
Result<StoreDescription> ReadStoreDescription(const std::string& data_dir);
// nullopt when the directory holds no store (no STRATA).
Result<std::optional<StoreDescription>> ReadStoreDescriptionIfExists(const std::string& data_dir);

// The cold URL the store at `data_dir` was last opened with ("" for none), nullopt when there
// is no store or none was recorded. Stores made before STRATA recorded it kept it in
// <data>/cold-url; that file is read then (and removed once STRATA records the URL).
Result<std::optional<std::string>> RecordedColdUrl(const std::string& data_dir);
// The path and remedy of that older file, for the scrub.
std::string LegacyColdUrlPath(const std::string& data_dir);
extern const char* const kColdUrlRemedy;

}  // namespace strata::storage
