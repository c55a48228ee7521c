#include "storage/cold/cold_tier.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace strata::cold {

std::string ShardName(uint32_t shard) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%03u", shard);
  return name;
}

namespace {
std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

std::string SegmentKey(uint32_t shard, uint64_t segment_id) {
  return "segments/" + ShardName(shard) + "/" + Hex16(segment_id) + ".seg";
}
std::string ManifestPrefix(uint32_t shard) { return "manifest/" + ShardName(shard) + "/"; }
std::string ManifestKey(uint32_t shard, uint64_t segment_id) {
  return ManifestPrefix(shard) + Hex16(segment_id);
}

std::string EncodeManifestEntry(const SegmentInfo& s) {
  nlohmann::json j = {{"segment_id", s.segment_id},
                      {"first_position", s.first_position.value()},
                      {"last_position", s.last_position.value()},
                      {"min_source_ts", s.min_source_ts},
                      {"max_source_ts", s.max_source_ts},
                      {"max_recorded_ts", s.max_recorded_ts},
                      {"events", s.events},
                      {"bytes", s.bytes},
                      {"key", s.key}};
  return j.dump();
}

Result<SegmentInfo> DecodeManifestEntry(std::string_view text, uint32_t shard) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error(ErrorCode::kCorruption, "a manifest entry of " + ShardName(shard) +
                                             " is not JSON: '" + std::string(text.substr(0, 80)) +
                                             "'");
  }
  try {
    SegmentInfo s;
    s.shard = shard;
    s.segment_id = j.at("segment_id").get<uint64_t>();
    s.first_position = Position(j.at("first_position").get<uint64_t>());
    s.last_position = Position(j.at("last_position").get<uint64_t>());
    s.min_source_ts = j.at("min_source_ts").get<int64_t>();
    s.max_source_ts = j.at("max_source_ts").get<int64_t>();
    s.max_recorded_ts = j.at("max_recorded_ts").get<int64_t>();
    s.events = j.at("events").get<uint64_t>();
    s.bytes = j.at("bytes").get<uint64_t>();
    s.key = j.at("key").get<std::string>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kCorruption,
                 "a manifest entry of " + ShardName(shard) + " lacks a field: " + e.what());
  }
}

Result<std::vector<SegmentInfo>> LoadManifest(objstore::ObjectStore& store, uint32_t shard) {
  auto keys = objstore::ListAll(store, ManifestPrefix(shard));
  if (!keys) return keys.error();
  std::vector<SegmentInfo> out;
  out.reserve(keys->size());
  for (const auto& k : *keys) {
    auto text = objstore::GetString(store, k.key);
    if (!text) return text.error();
    auto entry = DecodeManifestEntry(*text, shard);
    if (!entry) return entry.error();
    if (!out.empty() && entry->first_position <= out.back().last_position) {
      return Error(ErrorCode::kCorruption, "manifest of " + ShardName(shard) + ": segment " +
                                               k.key + " overlaps the one before it");
    }
    out.push_back(std::move(*entry));
  }
  return out;
}

Result<std::optional<Layout>> ReadLayout(objstore::ObjectStore& store) {
  auto text = objstore::GetString(store, kLayoutKey);
  if (!text) {
    if (text.error().code() == ErrorCode::kObjectNotFound) return std::optional<Layout>();
    return text.error();
  }
  try {
    const auto j = nlohmann::json::parse(*text);
    Layout l;
    l.shards = j.at("shards").get<uint32_t>();
    l.partitions = j.at("partitions").get<uint32_t>();
    l.store_id = j.value("store_id", std::string());
    return std::optional<Layout>(std::move(l));
  } catch (const std::exception& e) {
    return Error(ErrorCode::kCorruption, std::string(kLayoutKey) + " in " + store.url() +
                                             " is not a store layout (" + e.what() + ")");
  }
}

Result<Layout> EnsureLayout(objstore::ObjectStore& store, const Layout& mine) {
  nlohmann::json j = {{"format", 1},
                      {"shards", mine.shards},
                      {"partitions", mine.partitions},
                      {"store_id", mine.store_id}};
  auto st = objstore::PutString(store, kLayoutKey, j.dump(2) + "\n", {.if_absent = true});
  if (st) return mine;
  if (st.error().code() != ErrorCode::kAlreadyExists) return st.error();
  auto layout = ReadLayout(store);
  if (!layout) return layout.error();
  if (!*layout) return Error(ErrorCode::kUnavailable, "store.json in " + store.url() + " vanished");
  return **layout;
}

// ---- blocks and the cache

size_t Block::LowerBound(uint64_t p) const {
  return static_cast<size_t>(std::lower_bound(positions.begin(), positions.end(), p) -
                             positions.begin());
}

size_t BlockCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

BlockRef BlockCache::Find(uint64_t segment_id, uint32_t block) {
  std::lock_guard lock(mu_);
  auto it = map_.find(Key{segment_id, block});
  if (it == map_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->second;
}

Result<BlockRef> BlockCache::Insert(uint64_t segment_id, uint32_t block, std::string raw) {
  auto b = std::make_shared<Block>();
  b->bytes = std::move(raw);
  STRATA_TRY(ForEachRecord(b->bytes, [&](uint64_t position, std::string_view record) {
    b->positions.push_back(position);
    b->offsets.push_back(static_cast<uint32_t>(record.data() - b->bytes.data()));
    return true;
  }));
  const Key key{segment_id, block};
  BlockRef ref = b;
  std::lock_guard lock(mu_);
  if (map_.count(key)) return ref;  // loaded concurrently; keep the cached one
  lru_.emplace_front(key, ref);
  map_[key] = lru_.begin();
  bytes_ += ref->bytes.size();
  while (bytes_ > capacity_ && lru_.size() > 1) {
    bytes_ -= lru_.back().second->bytes.size();
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return ref;
}

// ---- ColdShard

Status ColdShard::Load() {
  auto entries = LoadManifest(*store_, shard_);
  if (!entries) return entries.error();
  std::lock_guard lock(mu_);
  segments_ = std::make_shared<std::vector<SegmentInfo>>(std::move(*entries));
  return OkStatus();
}

void ColdShard::Add(const SegmentInfo& s) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<std::vector<SegmentInfo>>(*segments_);
  next->push_back(s);
  segments_ = std::move(next);
}

std::shared_ptr<const std::vector<SegmentInfo>> ColdShard::segments() const {
  std::lock_guard lock(mu_);
  return segments_;
}

std::optional<SegmentInfo> ColdShard::last() const {
  auto s = segments();
  if (s->empty()) return std::nullopt;
  return s->back();
}

Result<std::shared_ptr<SegmentReader>> ColdShard::Reader(const SegmentInfo& s) {
  {
    std::lock_guard lock(mu_);
    auto it = readers_.find(s.segment_id);
    if (it != readers_.end()) return it->second;
  }
  auto opened = SegmentReader::Open(*store_, s.key);
  if (!opened) return opened.error();
  std::shared_ptr<SegmentReader> reader(std::move(*opened));
  if (reader->footer().segment_id != s.segment_id ||
      reader->footer().first_position != s.first_position.value() ||
      reader->footer().last_position != s.last_position.value()) {
    return Error(ErrorCode::kCorruption, "segment object " + s.key +
                                             " does not match its manifest entry (segment, "
                                             "first or last position differ)");
  }
  std::lock_guard lock(mu_);
  // Footers are small (about 56 bytes per 64 KiB block plus the filter); keep up to 4096.
  if (readers_.size() >= 4096) readers_.erase(readers_.begin());
  readers_.emplace(s.segment_id, reader);
  return reader;
}

Result<BlockRef> ColdShard::ReadBlock(const SegmentInfo& s, size_t block, uint64_t readahead) {
  if (BlockRef hit = cache_->Find(s.segment_id, static_cast<uint32_t>(block))) return hit;
  auto reader = Reader(s);
  if (!reader) return reader.error();
  const auto& blocks = (*reader)->footer().blocks;
  // Read ahead no more than an eighth of the cache, so blocks fetched ahead are still there
  // when the scan reaches them.
  readahead = std::min<uint64_t>(readahead, cache_->capacity() / 8);
  size_t count = 1;
  uint64_t bytes = blocks[block].compressed_bytes;
  while (block + count < blocks.size() && count < 64 &&
         bytes + blocks[block + count].compressed_bytes <= readahead) {
    bytes += blocks[block + count].compressed_bytes;
    ++count;
  }
  auto raw = (*reader)->ReadBlocks(block, count);
  if (!raw) return raw.error();
  BlockRef first;
  for (size_t i = 0; i < count; ++i) {
    auto ref = cache_->Insert(s.segment_id, static_cast<uint32_t>(block + i), std::move((*raw)[i]));
    if (!ref) return ref.error();
    if (i == 0) first = *ref;
  }
  return first;
}

Result<std::optional<std::string>> ColdShard::Get(uint64_t p) {
  auto segs = segments();
  auto it = std::upper_bound(segs->begin(), segs->end(), p, [](uint64_t v, const SegmentInfo& s) {
    return v < s.first_position.value();
  });
  if (it == segs->begin()) return std::optional<std::string>();
  --it;
  if (p > it->last_position.value()) return std::optional<std::string>();
  auto reader = Reader(*it);
  if (!reader) return reader.error();
  const size_t b = (*reader)->FindBlock(p);
  if (b >= (*reader)->footer().blocks.size()) return std::optional<std::string>();
  auto block = ReadBlock(*it, b);
  if (!block) return block.error();
  const size_t i = (*block)->LowerBound(p);
  if (i >= (*block)->positions.size() || (*block)->positions[i] != p) {
    return std::optional<std::string>();
  }
  reads_.fetch_add(1, std::memory_order_relaxed);
  return std::optional<std::string>(std::string((*block)->record(i)));
}

namespace {

// Walks the records of a manifest snapshot, block by block, in either direction. Forwards, a
// block that is not cached is fetched with the blocks after it (kReadahead compressed bytes).
class ColdCursor final : public storage::LogCursor {
 public:
  static constexpr uint64_t kReadahead = 4u << 20;
  ColdCursor(ColdShard* shard, std::shared_ptr<const std::vector<SegmentInfo>> segs)
      : shard_(shard), segs_(std::move(segs)) {}

  void Seek(Position p) override {
    const uint64_t v = p.value();
    seg_ = static_cast<size_t>(std::lower_bound(segs_->begin(), segs_->end(), v,
                                                [](const SegmentInfo& s, uint64_t x) {
                                                  return s.last_position.value() < x;
                                                }) -
                               segs_->begin());
    if (seg_ >= segs_->size()) return Invalidate();
    auto reader = shard_->Reader((*segs_)[seg_]);
    if (!reader) return Fail(reader.error());
    const size_t b = (*reader)->FindBlock(v);
    if (!LoadBlock(b, true)) return;
    if (!block_) return Settle();
    idx_ = block_->LowerBound(v);
    Settle();
  }
  void SeekForPrev(Position p) override {
    const uint64_t v = p.value();
    auto it = std::upper_bound(
        segs_->begin(), segs_->end(), v,
        [](uint64_t x, const SegmentInfo& s) { return x < s.first_position.value(); });
    if (it == segs_->begin()) return Invalidate();
    seg_ = static_cast<size_t>(it - segs_->begin()) - 1;
    auto reader = shard_->Reader((*segs_)[seg_]);
    if (!reader) return Fail(reader.error());
    const auto& blocks = (*reader)->footer().blocks;
    size_t b = (*reader)->FindBlock(v);
    if (b >= blocks.size() || blocks[b].first_position > v) {
      if (b == 0) return Invalidate();
      --b;
    }
    if (!LoadBlock(b)) return;
    size_t i = block_->LowerBound(v);
    if (i < block_->positions.size() && block_->positions[i] == v) {
      idx_ = i;
    } else if (i == 0) {
      idx_ = 0;
      return Prev();
    } else {
      idx_ = i - 1;
    }
    valid_ = true;
  }
  bool Valid() const override { return valid_; }
  void Next() override {
    ++idx_;
    Settle();
  }
  void Prev() override {
    if (idx_ > 0) {
      --idx_;
      valid_ = true;
      return;
    }
    // Previous block, or the last block of the previous segment.
    if (block_index_ > 0) {
      if (!LoadBlock(block_index_ - 1)) return;
    } else {
      if (seg_ == 0) return Invalidate();
      --seg_;
      auto reader = shard_->Reader((*segs_)[seg_]);
      if (!reader) return Fail(reader.error());
      if ((*reader)->footer().blocks.empty()) return Invalidate();
      if (!LoadBlock((*reader)->footer().blocks.size() - 1)) return;
    }
    if (block_->positions.empty()) return Invalidate();
    idx_ = block_->positions.size() - 1;
    valid_ = true;
  }
  Position position() const override { return Position(block_->positions[idx_]); }
  std::string_view record() const override { return block_->record(idx_); }
  Status status() const override { return status_; }

 private:
  void Invalidate() { valid_ = false; }
  void Fail(const Error& e) {
    status_ = e;
    valid_ = false;
  }
  bool LoadBlock(size_t b, bool forwards = false) {
    auto reader = shard_->Reader((*segs_)[seg_]);
    if (!reader) {
      Fail(reader.error());
      return false;
    }
    if (b >= (*reader)->footer().blocks.size()) {
      block_.reset();
      block_index_ = b;
      return true;
    }
    auto block = shard_->ReadBlock((*segs_)[seg_], b, forwards ? kReadahead : 0);
    if (!block) {
      Fail(block.error());
      return false;
    }
    block_ = *block;
    block_index_ = b;
    return true;
  }
  // Moves forwards to a valid record from (seg_, block_index_, idx_).
  void Settle() {
    while (true) {
      if (block_ && idx_ < block_->positions.size()) {
        valid_ = true;
        return;
      }
      auto reader = shard_->Reader((*segs_)[seg_]);
      if (!reader) return Fail(reader.error());
      if (block_ && block_index_ + 1 < (*reader)->footer().blocks.size()) {
        if (!LoadBlock(block_index_ + 1, true)) return;
      } else {
        if (++seg_ >= segs_->size()) return Invalidate();
        if (!LoadBlock(0, true)) return;
      }
      idx_ = 0;
    }
  }

  ColdShard* shard_;
  std::shared_ptr<const std::vector<SegmentInfo>> segs_;
  size_t seg_ = 0, block_index_ = 0, idx_ = 0;
  BlockRef block_;
  bool valid_ = false;
  Status status_ = OkStatus();
};

}  // namespace

std::unique_ptr<storage::LogCursor> ColdShard::NewCursor() {
  return std::make_unique<ColdCursor>(this, segments());
}

}  // namespace strata::cold
