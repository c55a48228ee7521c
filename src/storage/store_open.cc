// StoreImpl's open path: the store description, the shards and their recovery, the cold tier
// and its identity, the ring's reservation, the index streams, the archivers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "base/coding.h"
#include "base/uuid.h"
#include "env/file.h"
#include "storage/store_impl.h"

namespace strata::storage {
namespace {
constexpr uint32_t kDefaultShards = 4;
constexpr uint64_t kReservationBlock = 1u << 20;  // one synced meta write per 2^20 positions
}  // namespace

Result<std::unique_ptr<StoreImpl>> StoreImpl::Open(const StoreOptions& options) {
  STRATA_TRY(options.Validate());
  std::unique_ptr<StoreImpl> store(new StoreImpl(options));
  STRATA_TRY(store->OpenShards());
  return store;
}

Status StoreImpl::OpenShards() {
  namespace fs = std::filesystem;
  // STRATA is the commit point of a new store: it is written only after every shard exists, so
  // a process killed while creating leaves no half-made store (the next open creates it anew).
  const bool creating = !fs::exists(fs::path(options_.data_dir) / "STRATA");
  STRATA_TRY(creating ? PrepareNewStore() : ReadDescription());
  disk_ = std::make_unique<DiskGuard>(options_.data_dir, options_.disk_reserve_bytes);
  disk_->Start();
  shared_ = warm::SharedResources::Create(options_.warm);
  uint64_t last = 0;
  for (uint32_t i = 0; i < options_.shards; ++i) STRATA_TRY(OpenShard(i, &last));
  STRATA_TRY(OpenCold());
  if (creating) STRATA_TRY(CommitNewStore());
  STRATA_TRY(OpenRing(last));
  STRATA_TRY(StartWal());
  STRATA_TRY(OpenIndexStreams());
  for (auto& s : shards_) s->Start(ring_.get());
  if (options_.index_streams) index_streams_->Start();
  StartArchivers();
  if (options_.durability == Durability::kAsync) {
    async_sync_ = std::thread([this] { AsyncSyncLoop(); });
  }
  if (!creating) RecordColdUrl();
  spdlog::debug("store open at {}: {} shards, next position {}", options_.data_dir, options_.shards,
                last + 1);
  return OkStatus();
}

Status StoreImpl::PrepareNewStore() {
  if (!options_.create_if_missing) {
    return Error(ErrorCode::kInvalidConfig,
                 "no Strata store at '" + options_.data_dir +
                     "' (missing STRATA file); check --data or create one by appending");
  }
  STRATA_TRY(env::CreateDirs(options_.data_dir));
  if (options_.shards == 0) options_.shards = kDefaultShards;
  return OkStatus();
}

Status StoreImpl::ReadDescription() {
  auto description = ReadStoreDescription(options_.data_dir);
  if (!description) return description.error();
  const uint32_t shards = description->shards;
  if (options_.shards != 0 && options_.shards != shards) {
    return Error(ErrorCode::kInvalidConfig, "the store at '" + options_.data_dir +
                                                "' was created with " + std::to_string(shards) +
                                                " shards; omit --shards or pass --shards " +
                                                std::to_string(shards));
  }
  options_.shards = shards;
  options_.partitions = description->partitions;
  recorded_cold_url_ = description->cold_url;
  return OkStatus();
}

// Opens (creating its directories) and recovers shard i; *last gets the highest position seen.
Status StoreImpl::OpenShard(uint32_t i, uint64_t* last) {
  namespace fs = std::filesystem;
  const fs::path dir(options_.data_dir);
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%03u", i);
  // Durably (each parent fsynced): after a power cut a store whose STRATA exists has every
  // shard directory. RocksDB syncs what it creates inside db/, not db/ itself.
  STRATA_TRY(env::CreateDirs((dir / name / "db").string()));
  STRATA_TRY(env::CreateDirs((dir / name / "index").string()));
  auto w = warm::WarmShard::Open((dir / name / "db").string(), options_.warm,
                                 options_.create_if_missing, shared_);
  if (!w) return w.error();
  auto shard = std::make_unique<Shard>(ShardId(i), options_, std::move(*w),
                                       (dir / name / "index").string(), disk_.get());
  STRATA_TRY(shard->Recover());
  auto lp = shard->warm().LastPosition();
  if (!lp) return lp.error();
  if (*lp) *last = std::max(*last, (*lp)->value());
  shards_.push_back(std::move(shard));
  return OkStatus();
}

// The commit point. The data directory may have existed (empty) before; its own entry must be
// durable too, or a power cut takes the whole new store with it.
Status StoreImpl::CommitNewStore() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(options_.data_dir, ec).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // "data/" names "data"
  STRATA_TRY(env::SyncDir(abs.has_parent_path() ? abs.parent_path().string() : "/"));
  StoreDescription d{options_.shards, options_.partitions, RecordableColdUrl()};
  return WriteStoreDescription(options_.data_dir, d);
}

// Positions are handed out only below a reservation persisted (synced) in shard 0, so that no
// position a reader may have seen is reused after a crash, even with durability=async.
Status StoreImpl::OpenRing(uint64_t last) {
  auto reserved = shards_[0]->warm().GetMeta(kReservationKey);
  if (!reserved) return reserved.error();
  uint64_t next = last + 1;
  if (*reserved && (*reserved)->size() == 8)
    next = std::max(next, GetLittle64((*reserved)->data()));
  warm::WarmShard* meta_shard = &shards_[0]->warm();
  HotOptions hot = options_.hot;
  hot.partition_bits = 1;
  while ((uint64_t{1} << hot.partition_bits) < options_.partitions) ++hot.partition_bits;
  // Clock positions grow by 2^bits a microsecond: reserve about a second of them at a time.
  const uint64_t block = hot.positions == PositionScheme::kClock
                             ? kReservationBlock << hot.partition_bits
                             : kReservationBlock;
  ring_ = std::make_unique<hot::Ring>(
      hot, Position(next), options_.clock, [meta_shard, block](uint64_t need) -> Result<uint64_t> {
        uint64_t limit = need + block;
        std::string v(8, '\0');
        PutLittle64(v.data(), limit);
        auto st = meta_shard->PutMeta(kReservationKey, v);
        if (!st) {
          return Error(st.error().code(),
                       "cannot persist the position reservation: " + st.error().message());
        }
        return limit;
      });
  return OkStatus();
}

Status StoreImpl::OpenIndexStreams() {
  IndexStreams::Source source;
  source.watermark = [this] { return ring_->watermark(); };
  source.scan = [this](Position from, Position to,
                       const std::function<bool(const RecordView&)>& visit) {
    return ScanAll(from, to, visit);
  };
  source.shard_of = [this](std::string_view stream) { return ShardFor(stream).id().value(); };
  source.wait = [this](Position above, std::chrono::milliseconds max_wait) {
    ring_->WaitForWatermarkAbove(above, max_wait);
  };
  source.disk = disk_.get();
  index_streams_ = std::make_unique<IndexStreams>(
      (std::filesystem::path(options_.data_dir) / "index-streams").string(), options_,
      std::move(source));
  return index_streams_->Load();
}

std::optional<std::string> StoreImpl::RecordableColdUrl() const {
  // A store handed an object store directly (tests, tools) has no URL of its own to record.
  if (options_.cold.store) return std::nullopt;
  return options_.cold.url;
}

// STRATA records the cold URL the store was opened with, so that the next open without --cold
// finds its cold tier. A failure to record it is not a failure to open: the store works, and the
// next open with the same --cold records it.
void StoreImpl::RecordColdUrl() {
  const auto url = RecordableColdUrl();
  if (!url || recorded_cold_url_ == url) return;
  StoreDescription d{options_.shards, options_.partitions, url};
  if (auto st = WriteStoreDescription(options_.data_dir, d); !st) {
    spdlog::warn("cannot record the cold tier URL in STRATA: {}", st.error().ToString());
    return;
  }
  recorded_cold_url_ = url;
  std::error_code ec;  // the file stores made before STRATA recorded the URL kept it in
  std::filesystem::remove(LegacyColdUrlPath(options_.data_dir), ec);
}

Status StoreImpl::OpenCold() {
  const ColdOptions& c = options_.cold;
  uint64_t floor = 0;  // the highest warm floor: events below it live only in the cold tier
  for (auto& shard : shards_) floor = std::max(floor, shard->warm_floor());
  if (c.store) {
    cold_store_ = c.store;
  } else {
    if (c.url.empty()) {
      if (floor > 1) {
        return Error(ErrorCode::kInvalidConfig,
                     "the store at '" + options_.data_dir +
                         "' keeps archived events only in its cold tier, which is not "
                         "configured: open it with --cold and the URL it archived to (see "
                         "<data>/STRATA)");
      }
      return OkStatus();
    }
    auto store = objstore::Open(c.url, c.s3);
    if (!store) return store.error();
    cold_store_ = std::move(*store);
  }
  STRATA_TRY(CheckColdIdentity(floor));
  block_cache_ = std::make_unique<cold::BlockCache>(c.block_cache_bytes);
  for (auto& shard : shards_) {
    auto cs = std::make_unique<cold::ColdShard>(shard->id().value(), cold_store_.get(),
                                                block_cache_.get());
    STRATA_TRY(cs->Load());
    shard->AttachCold(cs.get());
    cold_shards_.push_back(std::move(cs));
  }
  return OpenWal();
}

Status StoreImpl::OpenWal() {
  if (!options_.cold.wal) return OkStatus();
  cold::WalWriterOptions wo;
  wo.interval = options_.cold.wal_interval;
  wo.close_grace = options_.cold.wal_close_grace;
  wo.retry_min = std::min(wo.retry_min, options_.cold.retry_min);
  auto wal = cold::WalWriter::Open(cold_store_.get(), wo, options_.clock);
  if (!wal) return wal.error();
  wal_ = std::move(*wal);
  for (auto& shard : shards_) shard->AttachWal(wal_.get());
  return OkStatus();
}

Status StoreImpl::StartWal() {
  if (!wal_) return OkStatus();
  wal_->Start([this] { return ring_->next().value(); },
              [this](uint32_t shard) -> uint64_t {
                if (shard >= cold_shards_.size()) return 0;
                auto last = cold_shards_[shard]->last();
                return last ? last->last_position.value() : 0;
              });
  STRATA_TRY(CatchUpWal());
  spdlog::info("object-store WAL: appends are acknowledged once in {} (every {} ms)",
               cold_store_->url(), options_.cold.wal_interval.count());
  return OkStatus();
}

// Records of the local log that no WAL object or archived segment holds: the groups a crash
// (or a failed PUT) left between the local write and the object store. They were never
// acknowledged and never passed the watermark; written to the WAL now, before anything reads
// them, they are as durable as the rest.
Status StoreImpl::CatchUpWal() {
  uint64_t records = 0;
  for (size_t i = 0; i < shards_.size(); ++i) {
    const uint32_t shard = static_cast<uint32_t>(i);
    uint64_t covered = wal_->LastLogged(shard);
    if (auto last = cold_shards_[i]->last()) {
      covered = std::max(covered, last->last_position.value());
    }
    if (shards_[i]->last_position().value() <= covered) continue;
    auto cursor = shards_[i]->NewWarmScan();
    cursor->Seek(Position(covered + 1));
    std::string run;
    uint64_t first = 0, last = 0;
    uint32_t events = 0;
    auto flush = [&]() -> Status {
      if (run.empty()) return OkStatus();
      STRATA_TRY(wal_->Write(shard, first, last, events, run));
      run.clear();
      events = 0;
      return OkStatus();
    };
    for (; cursor->Valid(); cursor->Next()) {
      const uint64_t p = cursor->position().value();
      if (run.size() >= (8u << 20)) STRATA_TRY(flush());
      if (run.empty()) first = p;
      run.append(cursor->record());
      last = p;
      ++events;
      ++records;
    }
    STRATA_TRY(cursor->status());
    STRATA_TRY(flush());
  }
  if (records > 0) {
    spdlog::warn(
        "object-store WAL: wrote {} records of the local log that had not reached it "
        "(the last run stopped between a local write and its WAL object)",
        records);
  }
  return OkStatus();
}

// store.json names the store that archives to a URL. A store adopts a new URL only while it has
// moved nothing there; otherwise the URL must hold its own store.json (same id), so that reads
// never mix two stores' segments and a retention floor always has its cold copy behind it.
Status StoreImpl::CheckColdIdentity(uint64_t floor) {
  warm::WarmShard& meta = shards_[0]->warm();
  auto local = meta.GetMeta(cold::kStoreIdKey);
  if (!local) return local.error();
  auto layout = cold::ReadLayout(*cold_store_);
  if (!layout) return layout.error();
  const std::string url = cold_store_->url();
  if (!*layout) {
    if (floor > 1) {
      return Error(ErrorCode::kInvalidConfig,
                   "the cold tier " + url +
                       " holds no store, but this store has moved events "
                       "to its cold tier: is --cold the URL it archived to (see <data>/STRATA)?");
    }
    cold::Layout mine{options_.shards, options_.partitions,
                      local->value_or(Uuid::Random().ToString())};
    if (!*local) {  // the store's own copy first: a crash before store.json is harmless
      STRATA_TRY(meta.PutMeta(cold::kStoreIdKey, mine.store_id));
      *local = mine.store_id;
    }
    auto got = cold::EnsureLayout(*cold_store_, mine);
    if (!got) return got.error();
    *layout = *got;
  }
  const cold::Layout& l = **layout;
  if (l.shards != options_.shards || l.partitions != options_.partitions) {
    return Error(ErrorCode::kInvalidConfig,
                 "the cold tier " + url + " belongs to a store with " + std::to_string(l.shards) +
                     " shards and " + std::to_string(l.partitions) + " partitions, not this one (" +
                     std::to_string(options_.shards) + "/" + std::to_string(options_.partitions) +
                     "); give each store its own --cold URL");
  }
  if (l.store_id.empty()) return OkStatus();
  if (!*local || **local != l.store_id) {
    return Error(ErrorCode::kInvalidConfig,
                 "the cold tier " + url + " belongs to another store (id " + l.store_id +
                     "); to rebuild that store use `strata restore --from " + url +
                     "` into an empty directory, or give this store its own --cold URL");
  }
  return OkStatus();
}

void StoreImpl::StartArchivers() {
  if (!cold_store_ || !options_.cold.archive) return;
  namespace fs = std::filesystem;
  uint32_t slots = options_.cold.export_threads;
  if (slots == 0) slots = std::max(1u, std::thread::hardware_concurrency() / 2);
  export_slots_ = std::make_unique<cold::ExportSlots>(slots);
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto a = std::make_unique<cold::Archiver>(
        shards_[i].get(), cold_shards_[i].get(), cold_store_.get(), options_.cold, options_.clock,
        /*sync_before_export=*/options_.durability == Durability::kAsync,
        (fs::path(options_.data_dir) / cold::ShardName(static_cast<uint32_t>(i)) / "outbox")
            .string(),
        export_slots_.get());
    a->Start();
    archivers_.push_back(std::move(a));
  }
  spdlog::info("cold tier: archiving sealed segments to {}", cold_store_->url());
}

}  // namespace strata::storage
