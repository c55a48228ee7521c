#include "model/partition.h"

#include <xxhash.h>

#include "model/stream_name.h"

namespace strata {

uint32_t PartitionOf(std::string_view stream, uint32_t partitions) {
  const std::string_view key = OriginalStreamOf(stream);  // $$x lives with x
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) % partitions);
}

}  // namespace strata
