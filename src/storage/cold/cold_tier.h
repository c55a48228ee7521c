// The cold tier's read side and its object layout (docs/cold-tier.md):
//
//   store.json                                   the store's layout (shards, partitions)
//   segments/shard-NNN/<segment id, 16 hex>.seg  segment objects (segment_format.h)
//   manifest/shard-NNN/<segment id, 16 hex>      one manifest entry per archived segment (JSON)
//   snapshots/<id>/...                           snapshots (snapshot.h)
//
// A shard's manifest is the set of entries under its prefix, read in key order (= segment order).
// An entry is created, if absent, only after its segment object is complete, so a reader never
// meets an entry whose object is missing, and a retried archive finds its entry instead of
// adding a second one.
//
// ColdShard holds one shard's manifest in memory and reads records through a shared, bounded
// BlockCache of decompressed, verified blocks.
//
// Thread-safety: everything here is safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "objstore/object_store.h"
#include "storage/cold/segment_format.h"
#include "storage/cold/segment_info.h"
#include "storage/log/log_cursor.h"

namespace strata::cold {

std::string ShardName(uint32_t shard);  // "shard-007"
std::string SegmentKey(uint32_t shard, uint64_t segment_id);
std::string ManifestPrefix(uint32_t shard);
std::string ManifestKey(uint32_t shard, uint64_t segment_id);
inline constexpr std::string_view kLayoutKey = "store.json";

std::string EncodeManifestEntry(const SegmentInfo& s);
Result<SegmentInfo> DecodeManifestEntry(std::string_view json, uint32_t shard);
// Every entry of `shard`'s manifest, in segment order.
Result<std::vector<SegmentInfo>> LoadManifest(objstore::ObjectStore& store, uint32_t shard);

// store.json: the layout of the store that archives here, and its identity.
struct Layout {
  uint32_t shards = 0, partitions = 0;
  std::string store_id;  // a UUID; kept in the store as meta `cold.store_id`
};
inline constexpr std::string_view kStoreIdKey = "cold.store_id";
// Creates store.json if absent and returns what it holds.
Result<Layout> EnsureLayout(objstore::ObjectStore& store, const Layout& mine);
Result<std::optional<Layout>> ReadLayout(objstore::ObjectStore& store);

// A decompressed block with its records located.
struct Block {
  std::string bytes;
  std::vector<uint64_t> positions;  // of each record, increasing
  std::vector<uint32_t> offsets;    // offsets[i]..offsets[i+1] (or the end) is record i
  std::string_view record(size_t i) const {
    const size_t end = i + 1 < offsets.size() ? offsets[i + 1] : bytes.size();
    return std::string_view(bytes).substr(offsets[i], end - offsets[i]);
  }
  // Index of the first record at or after p (positions.size() if none).
  size_t LowerBound(uint64_t p) const;
};
using BlockRef = std::shared_ptr<const Block>;

// LRU cache of decompressed blocks, bounded by bytes. Loads run outside the lock.
class BlockCache {
 public:
  explicit BlockCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  size_t capacity() const { return capacity_; }
  // The cached block, or nullptr (counted as a miss).
  BlockRef Find(uint64_t segment_id, uint32_t block);
  // Locates the records of a decompressed block (verifying each) and caches it.
  Result<BlockRef> Insert(uint64_t segment_id, uint32_t block, std::string raw);
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t bytes() const;

 private:
  struct Key {
    uint64_t segment;
    uint32_t block;
    bool operator==(const Key& o) const { return segment == o.segment && block == o.block; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>{}(k.segment * 31 + k.block);
    }
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<Key, BlockRef>> lru_;  // front: most recent
  std::unordered_map<Key, std::list<std::pair<Key, BlockRef>>::iterator, KeyHash> map_;
  size_t bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

class ColdShard {
 public:
  ColdShard(uint32_t shard, objstore::ObjectStore* store, BlockCache* cache)
      : shard_(shard), store_(store), cache_(cache) {}

  Status Load();                   // reads the manifest from the object store
  void Add(const SegmentInfo& s);  // a segment the archiver has just committed
  std::shared_ptr<const std::vector<SegmentInfo>> segments() const;
  std::optional<SegmentInfo> last() const;

  // The record at position p, or nullopt when no archived segment holds it.
  Result<std::optional<std::string>> Get(uint64_t p);
  // Archived records in position order (a snapshot of the manifest as of now).
  std::unique_ptr<storage::LogCursor> NewCursor();

  uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

  // For cursors. A miss with `readahead_bytes` fetches the following blocks too, up to that many
  // compressed bytes, in one ranged read (sequential scans).
  Result<std::shared_ptr<SegmentReader>> Reader(const SegmentInfo& s);
  Result<BlockRef> ReadBlock(const SegmentInfo& s, size_t block, uint64_t readahead_bytes = 0);

 private:
  const uint32_t shard_;
  objstore::ObjectStore* const store_;
  BlockCache* const cache_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<SegmentInfo>> segments_ =
      std::make_shared<std::vector<SegmentInfo>>();
  std::unordered_map<uint64_t, std::shared_ptr<SegmentReader>> readers_;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> reads_{0};
};

}  // namespace strata::cold
