#include "storage/cold/segment_format.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "base/coding.h"
#include "base/crc32c.h"
#include "model/record.h"

namespace strata::cold {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'R', 'A', 'T', 'S', 'G', '1'};
constexpr size_t kBlockEntryBytes = 8 + 8 + 8 + 4 + 4 + 8 + 8 + 4;
constexpr uint8_t kProbes = 7;

Error Corrupt(const std::string& what) { return Error(ErrorCode::kCorruption, what); }

// Calls bit(i) for the filter's bit of each probe of hash `h` (double hashing).
template <class F>
void ForEachProbe(uint64_t h, uint64_t bits, uint8_t probes, F&& bit) {
  const uint32_t h1 = static_cast<uint32_t>(h), h2 = static_cast<uint32_t>(h >> 32);
  for (uint8_t i = 0; i < probes; ++i) bit((h1 + static_cast<uint64_t>(i) * h2) % bits);
}

uint64_t StreamHash(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

}  // namespace

bool SegmentFooter::MayContainStream(std::string_view stream) const {
  if (stream_filter.empty() || filter_probes == 0) return true;
  bool all = true;
  ForEachProbe(StreamHash(stream), stream_filter.size() * 8, filter_probes, [&](uint64_t bit) {
    all = all && (static_cast<uint8_t>(stream_filter[bit / 8]) & (1 << (bit % 8)));
  });
  return all;
}

std::string EncodeFooter(const SegmentFooter& f) {
  std::string out;
  AppendLittle32(out, kSegmentFormatVersion);
  AppendLittle64(out, f.segment_id);
  AppendLittle64(out, f.first_position);
  AppendLittle64(out, f.last_position);
  AppendLittle64(out, static_cast<uint64_t>(f.min_source_ts));
  AppendLittle64(out, static_cast<uint64_t>(f.max_source_ts));
  AppendLittle64(out, f.events);
  AppendLittle32(out, static_cast<uint32_t>(f.blocks.size()));
  for (const auto& b : f.blocks) {
    AppendLittle64(out, b.first_position);
    AppendLittle64(out, b.last_position);
    AppendLittle64(out, b.offset);
    AppendLittle32(out, b.compressed_bytes);
    AppendLittle32(out, b.raw_bytes);
    AppendLittle64(out, static_cast<uint64_t>(b.min_source_ts));
    AppendLittle64(out, static_cast<uint64_t>(b.max_source_ts));
    AppendLittle32(out, b.crc);
  }
  out += static_cast<char>(f.filter_probes);
  AppendLittle32(out, static_cast<uint32_t>(f.stream_filter.size()));
  out += f.stream_filter;
  return out;
}

Result<SegmentFooter> DecodeFooter(std::string_view in) {
  constexpr size_t kFixed = 4 + 8 * 6 + 4;
  if (in.size() < kFixed) return Corrupt("segment footer is too short");
  const char* p = in.data();
  SegmentFooter f;
  const uint32_t version = GetLittle32(p);
  if (version != kSegmentFormatVersion) {
    return Corrupt("segment format version " + std::to_string(version) + "; this build reads " +
                   std::to_string(kSegmentFormatVersion));
  }
  f.segment_id = GetLittle64(p + 4);
  f.first_position = GetLittle64(p + 12);
  f.last_position = GetLittle64(p + 20);
  f.min_source_ts = static_cast<int64_t>(GetLittle64(p + 28));
  f.max_source_ts = static_cast<int64_t>(GetLittle64(p + 36));
  f.events = GetLittle64(p + 44);
  const uint32_t blocks = GetLittle32(p + 52);
  size_t at = kFixed;
  if ((in.size() - at) / kBlockEntryBytes < blocks) return Corrupt("segment footer is truncated");
  f.blocks.resize(blocks);
  for (auto& b : f.blocks) {
    const char* q = p + at;
    b.first_position = GetLittle64(q);
    b.last_position = GetLittle64(q + 8);
    b.offset = GetLittle64(q + 16);
    b.compressed_bytes = GetLittle32(q + 24);
    b.raw_bytes = GetLittle32(q + 28);
    b.min_source_ts = static_cast<int64_t>(GetLittle64(q + 32));
    b.max_source_ts = static_cast<int64_t>(GetLittle64(q + 40));
    b.crc = GetLittle32(q + 48);
    at += kBlockEntryBytes;
  }
  if (in.size() - at < 5) return Corrupt("segment footer lacks its stream filter");
  f.filter_probes = static_cast<uint8_t>(in[at]);
  const uint32_t filter_len = GetLittle32(p + at + 1);
  at += 5;
  if (in.size() - at != filter_len) return Corrupt("segment footer's stream filter is truncated");
  f.stream_filter.assign(in.substr(at));
  return f;
}

// ---- writer

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(const std::string& path,
                                                             SegmentId segment, size_t block_bytes,
                                                             int zstd_level) {
  std::unique_ptr<SegmentWriter> w(new SegmentWriter());
  // Unbuffered: the writer holds one compressed block at a time and writes it whole.
  auto file = env::WritableFile::Open(path, env::WritableFile::Mode::kTruncate, 0);
  if (!file) return file.error();
  w->file_ = std::move(*file);
  w->block_bytes_ = block_bytes;
  w->level_ = zstd_level;
  w->footer_.segment_id = segment.value();
  return w;
}

SegmentWriter::~SegmentWriter() = default;

Status SegmentWriter::Write(std::string_view bytes) {
  STRATA_TRY(file_->Append(bytes));
  offset_ += bytes.size();
  return OkStatus();
}

Status SegmentWriter::Add(std::string_view record) {
  auto rec = DecodeRecord(record);
  if (!rec) return rec.error();
  const uint64_t pos = rec->header.position.value();
  const int64_t ts = rec->header.source_ts;
  if (footer_.events > 0 && pos <= footer_.last_position) {
    return Error(ErrorCode::kInternal,
                 "segment records must have increasing positions: " + std::to_string(pos) +
                     " after " + std::to_string(footer_.last_position));
  }
  if (block_.empty()) {
    current_ = SegmentBlock{};
    current_.first_position = pos;
    current_.min_source_ts = current_.max_source_ts = ts;
  }
  current_.last_position = pos;
  current_.min_source_ts = std::min(current_.min_source_ts, ts);
  current_.max_source_ts = std::max(current_.max_source_ts, ts);
  if (footer_.events == 0) {
    footer_.first_position = pos;
    footer_.min_source_ts = footer_.max_source_ts = ts;
  }
  footer_.last_position = pos;
  footer_.min_source_ts = std::min(footer_.min_source_ts, ts);
  footer_.max_source_ts = std::max(footer_.max_source_ts, ts);
  ++footer_.events;
  stream_hashes_.push_back(StreamHash(rec->stream));
  block_.append(record);
  if (block_.size() >= block_bytes_) return FlushBlock();
  return OkStatus();
}

Status SegmentWriter::FlushBlock() {
  if (block_.empty()) return OkStatus();
  compressed_.resize(ZSTD_compressBound(block_.size()));
  size_t n =
      ZSTD_compress(compressed_.data(), compressed_.size(), block_.data(), block_.size(), level_);
  if (ZSTD_isError(n)) {
    return Error(ErrorCode::kInternal, std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  compressed_.resize(n);
  current_.offset = offset_;
  current_.compressed_bytes = static_cast<uint32_t>(n);
  current_.raw_bytes = static_cast<uint32_t>(block_.size());
  current_.crc = crc32c::Value(compressed_.data(), n);
  if (auto st = Write(compressed_); !st) return st;
  footer_.blocks.push_back(current_);
  block_.clear();
  // Stream names are deduplicated per block to keep the hash list small.
  std::sort(stream_hashes_.begin(), stream_hashes_.end());
  stream_hashes_.erase(std::unique(stream_hashes_.begin(), stream_hashes_.end()),
                       stream_hashes_.end());
  return OkStatus();
}

Result<SegmentFooter> SegmentWriter::Finish() {
  if (finished_) return Error(ErrorCode::kInternal, "segment writer finished twice");
  finished_ = true;
  if (auto st = FlushBlock(); !st) return st.error();
  // ~10 bits per distinct stream: about 1% false positives with 7 probes.
  const size_t bytes = std::max<size_t>(8, (stream_hashes_.size() * 10 + 7) / 8);
  footer_.stream_filter.assign(bytes, '\0');
  footer_.filter_probes = kProbes;
  std::string& bits = footer_.stream_filter;
  for (uint64_t h : stream_hashes_) {
    ForEachProbe(h, bits.size() * 8, kProbes, [&](uint64_t bit) {
      bits[bit / 8] = static_cast<char>(bits[bit / 8] | (1 << (bit % 8)));
    });
  }
  const std::string footer = EncodeFooter(footer_);
  std::string trailer;
  AppendLittle64(trailer, offset_);
  AppendLittle32(trailer, static_cast<uint32_t>(footer.size()));
  AppendLittle32(trailer, crc32c::Mask(crc32c::Value(footer.data(), footer.size())));
  trailer.append(kMagic, sizeof kMagic);
  if (auto st = Write(footer); !st) return st.error();
  if (auto st = Write(trailer); !st) return st.error();
  if (auto st = file_->Sync(); !st) return st.error();
  if (auto st = file_->Close(); !st) return st.error();
  return footer_;
}

// ---- reader

Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(objstore::ObjectStore& store,
                                                           std::string key) {
  auto info = store.Head(key);
  if (!info) return info.error();
  if (info->size < kSegmentTrailerBytes) {
    return Corrupt("segment object " + key + " is " + std::to_string(info->size) + " bytes");
  }
  auto trailer = objstore::GetString(store, key, {info->size - kSegmentTrailerBytes, std::nullopt});
  if (!trailer) return trailer.error();
  if (trailer->size() != kSegmentTrailerBytes ||
      std::memcmp(trailer->data() + 16, kMagic, sizeof kMagic) != 0) {
    return Corrupt("segment object " + key + " has no segment trailer (not a segment?)");
  }
  const uint64_t footer_offset = GetLittle64(trailer->data());
  const uint32_t footer_len = GetLittle32(trailer->data() + 8);
  const uint32_t footer_crc = crc32c::Unmask(GetLittle32(trailer->data() + 12));
  if (footer_offset + footer_len + kSegmentTrailerBytes != info->size) {
    return Corrupt("segment object " + key + ": the trailer's footer range does not fit");
  }
  auto footer = objstore::GetString(store, key, {footer_offset, footer_len});
  if (!footer) return footer.error();
  if (crc32c::Value(footer->data(), footer->size()) != footer_crc) {
    return Corrupt("segment object " + key + ": footer checksum mismatch");
  }
  auto f = DecodeFooter(*footer);
  if (!f) return Corrupt("segment object " + key + ": " + f.error().message());
  for (const auto& b : f->blocks) {
    if (b.offset + b.compressed_bytes > footer_offset) {
      return Corrupt("segment object " + key + ": a block lies past the footer");
    }
  }
  std::unique_ptr<SegmentReader> r(new SegmentReader(store, std::move(key)));
  r->footer_ = std::move(*f);
  return r;
}

size_t SegmentReader::FindBlock(uint64_t position) const {
  const auto& b = footer_.blocks;
  auto it = std::lower_bound(b.begin(), b.end(), position,
                             [](const SegmentBlock& x, uint64_t p) { return x.last_position < p; });
  return static_cast<size_t>(it - b.begin());
}

Result<std::string> SegmentReader::DecodeBlock(size_t index, std::string_view compressed) const {
  const SegmentBlock& b = footer_.blocks[index];
  if (compressed.size() != b.compressed_bytes ||
      crc32c::Value(compressed.data(), compressed.size()) != b.crc) {
    return Corrupt("segment object " + key_ + ": block " + std::to_string(index) + " (positions " +
                   std::to_string(b.first_position) + "-" + std::to_string(b.last_position) +
                   ") fails its checksum; it is not served. Restore the object from a copy, or "
                   "run 'strata check --cold' to list every damaged block");
  }
  std::string raw(b.raw_bytes, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != b.raw_bytes) {
    return Corrupt("segment object " + key_ + ": block " + std::to_string(index) + " (positions " +
                   std::to_string(b.first_position) + "-" + std::to_string(b.last_position) +
                   ") does not decompress");
  }
  return raw;
}

Result<std::string> SegmentReader::ReadBlock(size_t index) const {
  auto blocks = ReadBlocks(index, 1);
  if (!blocks) return blocks.error();
  return std::move(blocks->front());
}

Result<std::vector<std::string>> SegmentReader::ReadBlocks(size_t first, size_t count) const {
  if (count == 0 || first + count > footer_.blocks.size()) {
    return Error(ErrorCode::kInternal, "block range past the end of " + key_);
  }
  // Blocks are contiguous in the object: one ranged read for all of them.
  const uint64_t begin = footer_.blocks[first].offset;
  const SegmentBlock& last = footer_.blocks[first + count - 1];
  const uint64_t end = last.offset + last.compressed_bytes;
  auto compressed = objstore::GetString(store_, key_, {begin, end - begin});
  if (!compressed) return compressed.error();
  if (compressed->size() != end - begin) {
    return Corrupt("segment object " + key_ + " is shorter than its footer says");
  }
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = first; i < first + count; ++i) {
    const SegmentBlock& b = footer_.blocks[i];
    auto raw =
        DecodeBlock(i, std::string_view(*compressed).substr(b.offset - begin, b.compressed_bytes));
    if (!raw) return raw.error();
    out.push_back(std::move(*raw));
  }
  return out;
}

Status ForEachRecord(std::string_view block,
                     const std::function<bool(uint64_t, std::string_view)>& visit) {
  while (!block.empty()) {
    const uint32_t len = PeekRecordLength(block);
    if (len == 0 || len > block.size()) return Corrupt("a segment block ends inside a record");
    std::string_view record = block.substr(0, len);
    auto rec = DecodeRecord(record);
    if (!rec) return rec.error();
    if (!visit(rec->header.position.value(), record)) return OkStatus();
    block.remove_prefix(len);
  }
  return OkStatus();
}

}  // namespace strata::cold
