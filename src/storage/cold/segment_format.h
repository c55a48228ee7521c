// Segment objects (format version 1, docs/segment-format.md): a sealed segment of one shard's log
// as one immutable object. Records (the record codec's bytes, each with its own CRC32C) are packed
// into zstd-compressed blocks; a footer indexes the blocks by position and source_ts and carries a
// bloom filter of the segment's stream names; a fixed trailer locates the footer. A reader needs
// three ranged reads for a point lookup (trailer, footer, one block), and every block is checked
// against the footer's CRC32C before it is decompressed.
//
// Thread-safety: a SegmentWriter belongs to one thread; a SegmentReader is immutable after Open
// and safe to share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "env/file.h"
#include "model/types.h"
#include "objstore/object_store.h"

namespace strata::cold {

inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr size_t kSegmentTrailerBytes = 24;

struct SegmentBlock {
  uint64_t first_position = 0, last_position = 0;
  uint64_t offset = 0;  // of the compressed block in the object
  uint32_t compressed_bytes = 0;
  uint32_t raw_bytes = 0;
  int64_t min_source_ts = 0, max_source_ts = 0;
  uint32_t crc = 0;  // CRC32C of the compressed bytes
};

struct SegmentFooter {
  uint64_t segment_id = 0;
  uint64_t first_position = 0, last_position = 0;
  int64_t min_source_ts = 0, max_source_ts = 0;
  uint64_t events = 0;
  std::vector<SegmentBlock> blocks;
  std::string stream_filter;  // bloom filter bits over stream names
  uint8_t filter_probes = 0;

  // False only when the segment certainly has no event of `stream`.
  bool MayContainStream(std::string_view stream) const;
};

// Writes a segment object to a local file, one record at a time, holding one block in memory.
class SegmentWriter {
 public:
  static Result<std::unique_ptr<SegmentWriter>> Create(const std::string& path, SegmentId segment,
                                                       size_t block_bytes = 64 << 10,
                                                       int zstd_level = 3);
  ~SegmentWriter();
  // `record` is one encoded record (model/record.h); positions must increase.
  Status Add(std::string_view record);
  // Writes the last block, the footer and the trailer, and fdatasyncs the file.
  Result<SegmentFooter> Finish();

 private:
  SegmentWriter() = default;
  Status FlushBlock();
  Status Write(std::string_view bytes);
  std::unique_ptr<env::WritableFile> file_;
  size_t block_bytes_ = 0;
  int level_ = 3;
  uint64_t offset_ = 0;
  std::string block_, compressed_;
  SegmentBlock current_;
  SegmentFooter footer_;
  std::vector<uint64_t> stream_hashes_;
  bool finished_ = false;
};

// Reads a segment object through an ObjectStore with ranged gets.
class SegmentReader {
 public:
  static Result<std::unique_ptr<SegmentReader>> Open(objstore::ObjectStore& store, std::string key);
  const SegmentFooter& footer() const { return footer_; }
  // The index of the block holding `position`, or of the first block after it; blocks().size()
  // when none.
  size_t FindBlock(uint64_t position) const;
  // The decompressed block (concatenated records), verified.
  Result<std::string> ReadBlock(size_t index) const;
  // Blocks [first, first + count), fetched with one ranged read (sequential scans).
  Result<std::vector<std::string>> ReadBlocks(size_t first, size_t count) const;

 private:
  Result<std::string> DecodeBlock(size_t index, std::string_view compressed) const;
  SegmentReader(objstore::ObjectStore& store, std::string key)
      : store_(store), key_(std::move(key)) {}
  objstore::ObjectStore& store_;
  std::string key_;
  SegmentFooter footer_;
};

// Splits a decompressed block into its records, decoding (and so verifying) each one.
// `visit` returns false to stop.
Status ForEachRecord(std::string_view block,
                     const std::function<bool(uint64_t position, std::string_view record)>& visit);

// The footer encoding, exposed for tests and tools.
std::string EncodeFooter(const SegmentFooter& f);
Result<SegmentFooter> DecodeFooter(std::string_view bytes);

}  // namespace strata::cold
