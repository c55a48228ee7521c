#include "storage/warm/warm_shard.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "base/coding.h"
#include "env/file.h"

namespace strata::warm {
namespace {

// Column family names and indexes (docs/warm-layout.md).
enum Cf : int { kDefault = 0, kEvents, kHeads, kTime, kCfCount };
const char* const kCfNames[kCfCount] = {"default", "events", "heads", "time"};

Error FromRocks(const rocksdb::Status& s, std::string_view what, const std::string& dir = "") {
  if (s.IsNoSpace()) {
    std::string free_text;
    if (auto space = env::SpaceOf(dir.empty() ? "." : dir)) {
      free_text = " (" + env::FormatBytes(space->free_bytes) + " free)";
    }
    return Error(ErrorCode::kDiskFull,
                 std::string(what) + ": no space left on the disk of " +
                     (dir.empty() ? std::string("the data directory") : dir) + free_text +
                     "; free space there or grow the volume: writes resume on their own once "
                     "there is room (" +
                     s.ToString() + ")");
  }
  ErrorCode code = s.IsCorruption() ? ErrorCode::kCorruption : ErrorCode::kIoError;
  return Error(code, std::string(what) + ": " + s.ToString());
}

std::string PositionKey(Position p) {
  std::string k(8, '\0');
  PutBigEndian64(k.data(), p.value());
  return k;
}

class SharedRocks : public SharedResources {
 public:
  explicit SharedRocks(const WarmOptions& o)
      : cache(rocksdb::NewLRUCache(o.block_cache_bytes)),
        wbm(std::make_shared<rocksdb::WriteBufferManager>(o.memtable_budget, cache)) {}
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> wbm;
};

// Remembers where it was, so that a read that meets a damaged block can say which positions
// it could not read.
class RocksCursor : public storage::LogCursor {
 public:
  RocksCursor(std::unique_ptr<rocksdb::Iterator> it, const std::string& dir)
      : it_(std::move(it)), dir_(dir) {}
  void Seek(Position p) override {
    at_ = p.value();
    it_->Seek(PositionKey(p));
    Note();
  }
  void SeekForPrev(Position p) override {
    at_ = p.value();
    it_->SeekForPrev(PositionKey(p));
    Note();
  }
  bool Valid() const override { return it_->Valid(); }
  void Next() override {
    it_->Next();
    Note();
  }
  void Prev() override {
    it_->Prev();
    Note();
  }
  Position position() const override { return Position(GetBigEndian64(it_->key().data())); }
  std::string_view record() const override {
    auto v = it_->value();
    return {v.data(), v.size()};
  }
  Status status() const override {
    if (it_->status().ok()) return OkStatus();
    return FromRocks(it_->status(), "reading the log of " + dir_ + " from position " +
                                        std::to_string(at_) +
                                        " on (it is not served; run 'strata check')");
  }

 private:
  void Note() {
    if (it_->Valid()) at_ = GetBigEndian64(it_->key().data());
  }
  std::unique_ptr<rocksdb::Iterator> it_;
  const std::string dir_;
  uint64_t at_ = 0;
};

}  // namespace

std::shared_ptr<SharedResources> SharedResources::Create(const WarmOptions& options) {
  return std::make_shared<SharedRocks>(options);
}

struct IndexBatch::Rep {
  // (column family, key, value); bound to handles at commit time.
  std::vector<std::tuple<int, std::string, std::string>> puts;
};

IndexBatch::IndexBatch() : rep_(std::make_unique<Rep>()) {}
IndexBatch::~IndexBatch() = default;
size_t IndexBatch::Count() const { return rep_->puts.size(); }

void IndexBatch::PutHead(std::string_view stream, std::string_view encoded) {
  rep_->puts.emplace_back(kHeads, std::string(stream), std::string(encoded));
}
void IndexBatch::PutTimeBlock(uint64_t block, int64_t min_ts, int64_t max_ts) {
  std::string k(8, '\0'), v(16, '\0');
  PutBigEndian64(k.data(), block);
  PutLittle64(v.data(), static_cast<uint64_t>(min_ts));
  PutLittle64(v.data() + 8, static_cast<uint64_t>(max_ts));
  rep_->puts.emplace_back(kTime, std::move(k), std::move(v));
}
void IndexBatch::PutMeta(std::string_view key, std::string_view value) {
  rep_->puts.emplace_back(kDefault, std::string(key), std::string(value));
}

struct WarmShard::Rep {
  std::string dir;
  std::shared_ptr<SharedResources> shared;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::shared_ptr<rocksdb::Statistics> statistics;
  rocksdb::WriteBatch write_batch;  // reused by the writer thread
  ~Rep() {
    if (db) {
      for (auto* h : cfs) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      cfs.clear();
      db->Close().PermitUncheckedError();
    }
  }
};

WarmShard::WarmShard(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
WarmShard::~WarmShard() = default;

Result<std::unique_ptr<WarmShard>> WarmShard::Open(const std::string& dir,
                                                   const WarmOptions& options,
                                                   bool create_if_missing,
                                                   std::shared_ptr<SharedResources> shared) {
  return OpenImpl(dir, options, create_if_missing, std::move(shared), /*read_only=*/false);
}

Result<std::unique_ptr<WarmShard>> WarmShard::OpenReadOnly(
    const std::string& dir, const WarmOptions& options, std::shared_ptr<SharedResources> shared) {
  return OpenImpl(dir, options, /*create=*/false, std::move(shared), /*read_only=*/true);
}

namespace {

// Background flushes and compactions yield to the writer threads (latency over throughput).
void LowerBackgroundPriority() {
  static std::once_flag lowered;
  std::call_once(lowered, [] {
    rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);
    rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH);
    rocksdb::Env::Default()->LowerThreadPoolIOPriority(rocksdb::Env::Priority::LOW);
  });
}

rocksdb::DBOptions MakeDbOptions(const WarmOptions& w, const SharedRocks& res, bool create) {
  rocksdb::DBOptions db;
  db.create_if_missing = create;
  db.create_missing_column_families = true;
  db.paranoid_checks = true;
  db.max_background_jobs = w.max_background_jobs;
  db.write_buffer_manager = res.wbm;
  db.bytes_per_sync = 1 << 20;
  db.wal_bytes_per_sync = 0;
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // No WAL recycling, though an fdatasync that overwrites blocks is about twice as fast here
  // (DESIGN.md): RocksDB 7.8 turns it off silently with point-in-time recovery (SanitizeOptions
  // in db_impl_open.cc), and with the one mode it allows, recovering a recycled WAL after a power
  // cut loops forever (found with tests/powerloss; facebook/rocksdb#11968, fixed in 8.8).
  db.statistics = rocksdb::CreateDBStatistics();
  db.statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
  db.max_total_wal_size = 512ull << 20;
  db.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db.keep_log_file_num = 4;
  return db;
}

rocksdb::ColumnFamilyOptions BaseCfOptions(const WarmOptions& w, size_t write_buffer) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = write_buffer;
  cf.max_write_buffer_number = w.max_write_buffer_number;
  cf.compaction_style = rocksdb::kCompactionStyleLevel;
  cf.level_compaction_dynamic_level_bytes = true;
  // zstd where data settles (the bottommost level); no compression above it, so memtable
  // flushes and upper-level compactions cost little CPU on the append path's cores.
  cf.compression = rocksdb::kNoCompression;
  cf.bottommost_compression = rocksdb::kZSTD;
  cf.bottommost_compression_opts.level = w.zstd_level;
  cf.bottommost_compression_opts.enabled = true;
  return cf;
}

rocksdb::TableFactory* NewTableFactory(const SharedRocks& res, bool bloom) {
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = res.cache;
  t.block_size = 16 << 10;
  if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.cache_index_and_filter_blocks = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  return rocksdb::NewBlockBasedTableFactory(t);
}

// One descriptor per column family, in Cf order.
std::vector<rocksdb::ColumnFamilyDescriptor> CfDescriptors(const WarmOptions& w,
                                                           const SharedRocks& res) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kCfCount; ++i) {
    rocksdb::ColumnFamilyOptions cf =
        BaseCfOptions(w, i == kEvents ? w.write_buffer_size : w.index_write_buffer_size);
    if (i == kDefault || i == kTime) cf.write_buffer_size = 4 << 20;
    cf.table_factory.reset(NewTableFactory(res, i == kHeads));
    if (i == kHeads) cf.memtable_whole_key_filtering = true;
    descs.emplace_back(kCfNames[i], cf);
  }
  return descs;
}

}  // namespace

Result<std::unique_ptr<WarmShard>> WarmShard::OpenImpl(const std::string& dir,
                                                       const WarmOptions& options, bool create,
                                                       std::shared_ptr<SharedResources> shared,
                                                       bool read_only) {
  const auto& res = *static_cast<SharedRocks*>(shared.get());
  LowerBackgroundPriority();
  rocksdb::DBOptions db = MakeDbOptions(options, res, create && !read_only);

  auto rep = std::make_unique<Rep>();
  rep->dir = dir;
  rep->shared = shared;
  rep->statistics = db.statistics;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs = CfDescriptors(options, res);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (read_only) {
    s = rocksdb::DB::OpenForReadOnly(db, dir, descs, &rep->cfs, &raw);
  } else {
    s = rocksdb::DB::Open(db, dir, descs, &rep->cfs, &raw);
  }
  if (!s.ok()) return FromRocks(s, "opening the warm tier at " + dir, dir);
  rep->db.reset(raw);
  return std::unique_ptr<WarmShard>(new WarmShard(std::move(rep)));
}

Status WarmShard::WriteRecords(const std::vector<std::pair<Position, std::string_view>>& records,
                               bool sync) {
  rocksdb::WriteBatch& b = rep_->write_batch;
  b.Clear();
  char key[8];
  for (const auto& [pos, rec] : records) {
    PutBigEndian64(key, pos.value());
    auto s =
        b.Put(rep_->cfs[kEvents], rocksdb::Slice(key, 8), rocksdb::Slice(rec.data(), rec.size()));
    if (!s.ok()) return FromRocks(s, "building a write batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  auto s = rep_->db->Write(wo, &b);
  if (!s.ok()) return FromRocks(s, "writing to the warm tier", rep_->dir);
  return OkStatus();
}

Status WarmShard::SyncWal() {
  auto s = rep_->db->FlushWAL(/*sync=*/true);
  if (!s.ok()) return FromRocks(s, "syncing the WAL", rep_->dir);
  return OkStatus();
}

Status WarmShard::Resume() {
  // Flushes every memtable (RocksDB cannot vouch for the WAL after a failed write), then
  // accepts writes again. A fatal error (EIO on the WAL) cannot be resumed: reopen the store.
  auto s = rep_->db->Resume();
  if (!s.ok()) return FromRocks(s, "resuming the warm tier after a write error", rep_->dir);
  return OkStatus();
}

Result<std::optional<std::string>> WarmShard::GetRecord(Position p) {
  std::string value;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kEvents], PositionKey(p), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading position " + std::to_string(p.value()));
  return std::optional<std::string>(std::move(value));
}

Status WarmShard::GetRecordsIfPresent(const std::vector<Position>& positions,
                                      std::vector<std::string>* out, std::vector<bool>* found) {
  out->clear();
  found->assign(positions.size(), true);
  if (positions.empty()) return OkStatus();
  std::vector<std::string> keys;
  keys.reserve(positions.size());
  for (auto p : positions) keys.push_back(PositionKey(p));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), rep_->cfs[kEvents]);
  auto statuses = rep_->db->MultiGet(rocksdb::ReadOptions(), cfs, slices, out);
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      (*found)[i] = false;
    } else if (!statuses[i].ok()) {
      return FromRocks(statuses[i], "reading position " + std::to_string(positions[i].value()) +
                                        " from " + rep_->dir);
    }
  }
  return OkStatus();
}

Status WarmShard::DropRecords(Position from, Position to, std::string_view key,
                              std::string_view value) {
  rocksdb::WriteBatch b;
  auto s = b.DeleteRange(rep_->cfs[kEvents], PositionKey(from), PositionKey(to));
  if (s.ok())
    s = b.Put(rep_->cfs[kDefault], rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return FromRocks(s, "building a retention batch");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = rep_->db->Write(wo, &b);
  if (!s.ok()) return FromRocks(s, "dropping archived records from the warm tier", rep_->dir);
  // Reclaim the space now rather than when compaction happens to reach the range.
  const std::string lo = PositionKey(from), hi = PositionKey(to);
  rocksdb::Slice begin(lo), end(hi);
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  // Best effort: the records are gone either way; compaction would reach the range later.
  rep_->db->CompactRange(co, rep_->cfs[kEvents], &begin, &end).PermitUncheckedError();
  return OkStatus();
}

uint64_t WarmShard::ApproximateBytes(Position from, Position to) {
  const std::string lo = PositionKey(from), hi = PositionKey(Position(to.value() + 1));
  rocksdb::Range r(lo, hi);
  uint64_t size = 0;
  rocksdb::SizeApproximationOptions o;
  o.include_files = true;
  o.include_memtables = true;
  auto s = rep_->db->GetApproximateSizes(o, rep_->cfs[kEvents], &r, 1, &size);
  return s.ok() ? size : 0;
}

Status WarmShard::Checkpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(rep_->db.get(), &raw);
  if (!s.ok()) return FromRocks(s, "preparing a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // Flush the memtables first so the checkpoint holds SST files, not WAL to replay.
  s = cp->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
  if (!s.ok()) return FromRocks(s, "creating a checkpoint in " + dir);
  return OkStatus();
}

std::unique_ptr<storage::LogCursor> WarmShard::NewCursor(bool fill_cache) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = fill_cache;
  ro.readahead_size = 2 << 20;
  ro.verify_checksums = true;
  return std::make_unique<RocksCursor>(
      std::unique_ptr<rocksdb::Iterator>(rep_->db->NewIterator(ro, rep_->cfs[kEvents])), rep_->dir);
}

Result<std::optional<Position>> WarmShard::LastPosition() {
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kEvents]));
  it->SeekToLast();
  if (!it->status().ok()) return FromRocks(it->status(), "finding the last position");
  if (!it->Valid()) return std::optional<Position>();
  return std::optional<Position>(Position(GetBigEndian64(it->key().data())));
}

Status WarmShard::CommitIndex(IndexBatch& batch, bool sync) {
  // Insert in key order: the memtable skiplist keeps its search path (splice) from one insert
  // to the next, so neighbouring keys are cheap; random order costs a full descent per key.
  auto& puts = batch.rep_->puts;
  std::sort(puts.begin(), puts.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    return std::get<1>(a) < std::get<1>(b);
  });
  rocksdb::WriteBatch b;
  for (auto& [cf, k, v] : puts) {
    auto s = b.Put(rep_->cfs[cf], k, v);
    if (!s.ok()) return FromRocks(s, "building an index batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  auto s = rep_->db->Write(wo, &b);
  if (!s.ok()) return FromRocks(s, "writing the indexes", rep_->dir);
  batch.rep_->puts.clear();
  return OkStatus();
}

Result<std::optional<std::pair<int64_t, int64_t>>> WarmShard::GetTimeBlock(uint64_t block) {
  std::string key(8, '\0'), value;
  PutBigEndian64(key.data(), block);
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kTime], key, &value);
  if (s.IsNotFound()) return std::optional<std::pair<int64_t, int64_t>>();
  if (!s.ok()) return FromRocks(s, "reading the time index");
  if (value.size() < 16) return Error(ErrorCode::kCorruption, "time index entry too short");
  return std::optional<std::pair<int64_t, int64_t>>(
      std::pair<int64_t, int64_t>(static_cast<int64_t>(GetLittle64(value.data())),
                                  static_cast<int64_t>(GetLittle64(value.data() + 8))));
}

Result<std::optional<std::string>> WarmShard::GetHead(std::string_view stream) {
  std::string value;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kHeads],
                         rocksdb::Slice(stream.data(), stream.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading a stream head");
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::string>> WarmShard::GetMeta(std::string_view key) {
  std::string value;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kDefault],
                         rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading shard metadata");
  return std::optional<std::string>(std::move(value));
}

Status WarmShard::PutMeta(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s = rep_->db->Put(wo, rep_->cfs[kDefault], rocksdb::Slice(key.data(), key.size()),
                         rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return FromRocks(s, "writing shard metadata", rep_->dir);
  return OkStatus();
}

Status WarmShard::ForEachHead(
    const std::function<bool(std::string_view, std::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kHeads]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!visit({it->key().data(), it->key().size()}, {it->value().data(), it->value().size()})) {
      break;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing stream heads");
  return OkStatus();
}

std::vector<WarmFileCheck> WarmShard::VerifyFiles() {
  std::vector<rocksdb::LiveFileMetaData> files;
  rep_->db->GetLiveFilesMetaData(&files);
  std::vector<WarmFileCheck> out;
  rocksdb::Options o;
  for (const auto& f : files) {
    WarmFileCheck c;
    c.file = f.db_path + f.name;
    c.column_family = f.column_family_name;
    c.bytes = f.size;
    if (f.column_family_name == kCfNames[kEvents] && f.smallestkey.size() == 8 &&
        f.largestkey.size() == 8) {
      c.first_position = GetBigEndian64(f.smallestkey.data());
      c.last_position = GetBigEndian64(f.largestkey.data());
    }
    rocksdb::SstFileReader reader(o);
    auto s = reader.Open(c.file);
    if (s.ok()) s = reader.VerifyChecksum();
    if (s.IsNotFound() || s.IsPathNotFound()) continue;  // compacted away meanwhile
    if (!s.ok()) c.error = FromRocks(s, "verifying " + c.file).ToString();
    out.push_back(std::move(c));
  }
  return out;
}

WarmStats WarmShard::Stats() {
  WarmStats st;
  auto* db = rep_->db.get();
  uint64_t v = 0;
  if (db->GetIntProperty(rep_->cfs[kEvents], "rocksdb.estimate-num-keys", &v))
    st.estimated_events = v;
  if (db->GetIntProperty(rep_->cfs[kHeads], "rocksdb.estimate-num-keys", &v))
    st.estimated_streams = v;
  for (auto* cf : rep_->cfs) {
    if (db->GetIntProperty(cf, "rocksdb.estimate-live-data-size", &v)) st.live_bytes += v;
    if (db->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &v)) st.memtable_bytes += v;
    if (db->GetIntProperty(cf, "rocksdb.estimate-pending-compaction-bytes", &v)) {
      st.compaction_pending_bytes += v;
    }
  }
  if (db->GetIntProperty("rocksdb.num-running-compactions", &v)) st.running_compactions = v;
  if (db->GetIntProperty("rocksdb.is-write-stopped", &v)) st.write_stopped = v != 0;
  if (rep_->statistics)
    st.write_stall_micros = rep_->statistics->getTickerCount(rocksdb::STALL_MICROS);
  return st;
}

}  // namespace strata::warm
