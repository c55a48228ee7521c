#include "storage/snapshot.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "base/coding.h"
#include "env/file.h"
#include "model/record.h"
#include "storage/cold/cold_tier.h"
#include "storage/cold/snapshots.h"
#include "storage/cold/wal_format.h"
#include "storage/store_impl.h"

namespace strata {

namespace fs = std::filesystem;

namespace storage {

Result<SnapshotInfo> StoreImpl::Snapshot(
    const std::function<void(const SnapshotProgress&)>& progress) {
  if (!cold_store_) {
    return Error(ErrorCode::kInvalidConfig,
                 "this store has no cold tier to snapshot to; configure --cold");
  }
  std::lock_guard lock(snapshot_mu_);  // one snapshot at a time
  std::vector<ShardLog*> logs;
  for (auto& s : shards_) logs.push_back(s.get());
  return cold::TakeSnapshot(logs, options_.partitions, *cold_store_,
                            options_.cold.upload_part_bytes,
                            (fs::path(options_.data_dir) / ".snapshot").string(), progress);
}

}  // namespace storage

namespace {

using Report = std::function<void(const char*)>;

Status CheckRestoreTarget(const RestoreOptions& o) {
  std::error_code ec;
  const fs::path data(o.data_dir);
  if (fs::exists(data / "STRATA")) {
    return Error(ErrorCode::kInvalidConfig,
                 "'" + o.data_dir +
                     "' already holds a store; restore into an empty directory (a new --data)");
  }
  if (fs::exists(data) && !fs::is_empty(data, ec)) {
    return Error(ErrorCode::kInvalidConfig,
                 "'" + o.data_dir +
                     "' is not empty (a partial restore?); remove it or choose another --data");
  }
  return OkStatus();
}

// The files of a committed snapshot, and per shard the last position it holds.
Status ReadSnapshotFiles(objstore::ObjectStore& store, const SnapshotListing& chosen,
                         const std::string& prefix, uint32_t shards, std::vector<uint64_t>& after,
                         std::vector<std::pair<std::string, uint64_t>>& files) {
  auto text = objstore::GetString(store, prefix + std::string(cold::kCommitName));
  if (!text) return text.error();
  try {
    const auto desc = nlohmann::json::parse(*text);
    if (desc.at("shards").get<uint32_t>() != shards) {
      throw std::runtime_error("its shard count differs from store.json's");
    }
    const auto& positions = desc.at("shard_last_positions");
    for (size_t i = 0; i < after.size(); ++i) after[i] = positions.at(i).get<uint64_t>();
    for (const auto& f : desc.at("files")) {
      files.emplace_back(f.at("path").get<std::string>(), f.at("size").get<uint64_t>());
      if (!cold::IsSnapshotFilePath(files.back().first)) {
        throw std::runtime_error("file name '" + files.back().first +
                                 "' is not shard-NNN/db/NAME or shard-NNN/index/NAME");
      }
    }
  } catch (const std::exception& e) {
    return Error(ErrorCode::kCorruption,
                 "snapshot " + chosen.id + " in " + store.url() + " is damaged: " + e.what() +
                     "; restore an older one with --snapshot ID (strata snapshot --list)");
  }
  return OkStatus();
}

// Downloads the snapshot's files into `data`; `after` gets what it holds per shard.
Status DownloadSnapshot(objstore::ObjectStore& store, const SnapshotListing& chosen,
                        uint32_t shards, const fs::path& data, std::vector<uint64_t>& after,
                        SnapshotProgress& p, const Report& report, RestoreResult& result) {
  std::error_code ec;
  result.snapshot = chosen.id;
  const std::string prefix = std::string(cold::kSnapshotsPrefix) + chosen.id + "/";
  std::vector<std::pair<std::string, uint64_t>> files;
  STRATA_TRY(ReadSnapshotFiles(store, chosen, prefix, shards, after, files));
  p.bytes_total = chosen.bytes;
  p.files_total = chosen.files;
  report("download");
  for (const auto& [rel, size] : files) {
    const fs::path to = data / rel;
    STRATA_TRY(cold::DownloadFile(store, prefix + rel, to, [&](uint64_t n) {
      p.bytes_done += n;
      if ((p.bytes_done & ((16u << 20) - 1)) < n) report("download");
    }));
    if (fs::file_size(to, ec) != size) {
      return Error(ErrorCode::kCorruption,
                   "snapshot file " + prefix + rel + " has the wrong size; it may be damaged");
    }
    ++p.files_done;
    result.bytes += size;
    ++result.files;
  }
  return OkStatus();
}

// Copies the records after `after` of one archived segment into the shard's warm tier.
Status CopySegment(objstore::ObjectStore& store, const SegmentInfo& s, uint64_t after,
                   warm::WarmShard& warm, RestoreResult& result) {
  auto reader = cold::SegmentReader::Open(store, s.key);
  if (!reader) return reader.error();
  const auto& footer = (*reader)->footer();
  if (footer.segment_id != s.segment_id || footer.first_position != s.first_position.value() ||
      footer.last_position != s.last_position.value() || footer.events != s.events) {
    return Error(ErrorCode::kCorruption, "segment object " + s.key +
                                             " does not match its manifest entry; the cold "
                                             "tier is damaged there");
  }
  for (size_t b = 0; b < (*reader)->footer().blocks.size(); ++b) {
    auto block = (*reader)->ReadBlock(b);
    if (!block) return block.error();
    std::vector<std::pair<Position, std::string_view>> batch;
    STRATA_TRY(cold::ForEachRecord(*block, [&](uint64_t pos, std::string_view rec) {
      if (pos > after) batch.emplace_back(Position(pos), rec);
      return true;
    }));
    result.events += batch.size();
    STRATA_TRY(warm.WriteRecords(batch, /*sync=*/false));
  }
  return OkStatus();
}

// Archived segments after the snapshot: copy their records into each shard's warm tier. The
// store's recovery then indexes them like any unindexed tail of the log.
Status CopySegmentsAfter(objstore::ObjectStore& store, const cold::Layout& layout,
                         const fs::path& data, std::vector<uint64_t>& after, SnapshotProgress& p,
                         const Report& report, RestoreResult& result) {
  StoreOptions so;
  so.data_dir = data.string();
  so.shards = layout.shards;
  so.partitions = layout.partitions;
  so.warm.memtable_budget = 256u << 20;
  auto shared = warm::SharedResources::Create(so.warm);
  for (uint32_t i = 0; i < layout.shards; ++i) {
    auto manifest = cold::LoadManifest(store, i);
    if (!manifest) return manifest.error();
    std::vector<const SegmentInfo*> todo;
    for (const auto& s : *manifest) {
      if (s.last_position.value() > after[i]) {
        todo.push_back(&s);
        p.bytes_total += s.bytes;
      }
    }
    // Shard 0 carries the store's identity: the restored store archives to the same URL.
    const bool identity = i == 0 && !layout.store_id.empty();
    if (todo.empty() && !identity) continue;
    const fs::path shard_dir = data / cold::ShardName(i);
    STRATA_TRY(env::CreateDirs((shard_dir / "db").string()));
    auto warm =
        warm::WarmShard::Open((shard_dir / "db").string(), so.warm, so.create_if_missing, shared);
    if (!warm) return warm.error();
    if (identity) STRATA_TRY((*warm)->PutMeta(cold::kStoreIdKey, layout.store_id));
    for (const SegmentInfo* s : todo) {
      report("segments");
      STRATA_TRY(CopySegment(store, *s, after[i], **warm, result));
      p.bytes_done += s->bytes;
      ++result.segments;
    }
    for (const SegmentInfo* s : todo) after[i] = std::max(after[i], s->last_position.value());
    STRATA_TRY((*warm)->SyncWal());
  }
  return OkStatus();
}

// The object-store WAL (cold/wal_format.h): the records after what the snapshot and the
// segments hold, i.e. the unsealed tail every acknowledged append of the lost store is in. The
// ring reservation goes above every WAL object's next_position, so no position a reader of the
// old store may have passed is handed out again.
Status CopyWalAfter(objstore::ObjectStore& store, const cold::Layout& layout, const fs::path& data,
                    const std::vector<uint64_t>& after, SnapshotProgress& p, const Report& report,
                    RestoreResult& result) {
  auto objects = objstore::ListAll(store, cold::kWalPrefix);
  if (!objects) return objects.error();
  p = SnapshotProgress();
  for (const auto& info : *objects) p.bytes_total += info.size;
  WarmOptions wo;
  wo.memtable_budget = 256u << 20;
  auto shared = warm::SharedResources::Create(wo);
  std::map<uint32_t, std::unique_ptr<warm::WarmShard>> shards;
  auto warm_of = [&](uint32_t shard) -> Result<warm::WarmShard*> {
    auto it = shards.find(shard);
    if (it != shards.end()) return it->second.get();
    const fs::path db = data / cold::ShardName(shard) / "db";
    STRATA_TRY(env::CreateDirs(db.string()));
    auto w = warm::WarmShard::Open(db.string(), wo, /*create_if_missing=*/true, shared);
    if (!w) return w.error();
    return shards.emplace(shard, std::move(*w)).first->second.get();
  };
  uint64_t reserve = 0;
  for (const auto& info : *objects) {
    if (!cold::ParseWalKey(info.key)) continue;
    auto bytes = objstore::GetString(store, info.key);
    if (!bytes) return bytes.error();
    p.bytes_done += info.size;
    if (result.wal_objects % 64 == 0) report("wal");
    auto o = cold::DecodeWalObject(*bytes, info.key);
    if (!o) return o.error();
    reserve = std::max(reserve, o->next_position);
    ++result.wal_objects;
    for (const auto& g : o->groups) {
      if (g.shard >= layout.shards) {
        return Error(ErrorCode::kCorruption, "WAL object " + info.key + " names shard " +
                                                 std::to_string(g.shard) + " of a store with " +
                                                 std::to_string(layout.shards));
      }
      if (g.last_position <= after[g.shard]) continue;
      std::vector<std::pair<Position, std::string_view>> batch;
      STRATA_TRY(cold::ForEachRecord(g.records, [&](uint64_t pos, std::string_view rec) {
        if (pos > after[g.shard]) batch.emplace_back(Position(pos), rec);
        return true;
      }));
      auto warm = warm_of(g.shard);
      if (!warm) return warm.error();
      STRATA_TRY((*warm)->WriteRecords(batch, /*sync=*/false));
      result.wal_events += batch.size();
    }
  }
  if (reserve > 0) {
    auto meta = warm_of(0);
    if (!meta) return meta.error();
    std::string v(8, '\0');
    PutLittle64(v.data(), reserve);
    STRATA_TRY((*meta)->PutMeta(storage::kReservationKey, v));
  }
  for (auto& [_, w] : shards) STRATA_TRY(w->SyncWal());
  return OkStatus();
}

}  // namespace

Result<RestoreResult> RestoreStore(const RestoreOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path data(o.data_dir);
  STRATA_TRY(CheckRestoreTarget(o));
  auto opened = objstore::Open(o.from, o.s3);
  if (!opened) return opened.error();
  objstore::ObjectStore& store = **opened;
  auto layout = cold::ReadLayout(store);
  if (!layout) return layout.error();
  if (!*layout) {
    return Error(ErrorCode::kObjectNotFound,
                 "nothing to restore in " + store.url() +
                     ": it has no store.json (no Strata store has archived there)");
  }
  auto snaps = ListSnapshots(store);
  if (!snaps) return snaps.error();
  RestoreResult result;
  SnapshotProgress p;
  const Report report = [&](const char* phase) {
    p.phase = phase;
    if (o.progress) o.progress(p);
  };
  std::vector<uint64_t> after((*layout)->shards, 0);  // per shard: positions the snapshot holds
  const SnapshotListing* chosen = nullptr;
  for (const auto& s : *snaps) {
    if (o.snapshot.empty() || s.id == o.snapshot) chosen = &s;
  }
  if (!o.snapshot.empty() && !chosen) {
    return Error(ErrorCode::kObjectNotFound,
                 "no complete snapshot '" + o.snapshot + "' in " + store.url() +
                     "; `strata snapshot list` shows the ones there are");
  }
  STRATA_TRY(env::CreateDirs(data.string()));
  if (chosen) {
    STRATA_TRY(DownloadSnapshot(store, *chosen, (*layout)->shards, data, after, p, report, result));
  }
  p = SnapshotProgress();
  STRATA_TRY(CopySegmentsAfter(store, **layout, data, after, p, report, result));
  STRATA_TRY(CopyWalAfter(store, **layout, data, after, p, report, result));
  STRATA_TRY(storage::WriteStoreDescription(
      o.data_dir, {(*layout)->shards, (*layout)->partitions, /*cold_url=*/std::nullopt}));
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report("done");
  return result;
}

}  // namespace strata
