// Partitions: partition = hash(stream) mod P, with P fixed when a store is created (default 64).
// A stream never changes partition; its metadata stream $$x lives with x. The hash (XXH3-64 of
// the stream name) is part of the on-disk and cluster contract: it must never change, so tests
// pin its values. A partition maps to a shard as partition mod shards.
#pragma once

#include <cstdint>
#include <string_view>

namespace strata {

uint32_t PartitionOf(std::string_view stream, uint32_t partitions);

inline uint32_t ShardOfPartition(uint32_t partition, uint32_t shards) { return partition % shards; }

}  // namespace strata
