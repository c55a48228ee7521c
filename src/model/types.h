// Strong types for the numbers of DESIGN.md's vocabulary. Mixing them is a compile error.
#pragma once

#include <cstdint>
#include <limits>

#include "base/strong_id.h"

namespace strata {

struct RevisionTag {};
struct PositionTag {};
struct SegmentIdTag {};
struct ShardIdTag {};
struct PartitionIdTag {};
struct StreamNumberTag {};

// A stream's revisions are 0, 1, 2, … with no gaps.
using Revision = StrongId<RevisionTag, uint64_t>;
// A unique, increasing place in the node's $all log.
using Position = StrongId<PositionTag, uint64_t>;
using SegmentId = StrongId<SegmentIdTag, uint64_t>;
using ShardId = StrongId<ShardIdTag, uint32_t>;
using PartitionId = StrongId<PartitionIdTag, uint32_t>;
// A shard-local number given to a stream at its first append; keys of the stream index use it
// instead of the name (docs/warm-layout.md).
using StreamNumber = StrongId<StreamNumberTag, uint64_t>;

// The revision a tombstone record carries (as KurrentDB's long.MaxValue).
inline constexpr uint64_t kTombstoneRevision = std::numeric_limits<int64_t>::max();

}  // namespace strata
