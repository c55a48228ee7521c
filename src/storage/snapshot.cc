#include "storage/snapshot.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>

#include "env/file.h"
#include "model/record.h"
#include "storage/cold/cold_tier.h"
#include "storage/store_impl.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSnapshotsPrefix = "snapshots/";
constexpr std::string_view kCommitName = "snapshot.json";

// UTC time to the millisecond plus a random suffix: sortable by time, unique across runs.
std::string NewSnapshotId() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%S", &tm);
  char id[64];
  std::snprintf(id, sizeof(id), "%s.%03dZ-%04x", buf, static_cast<int>(ms.count()),
                static_cast<unsigned>(std::random_device{}() & 0xffff));
  return id;
}

// A snapshot file's path inside the data directory: shard-NNN/db/NAME or shard-NNN/index/NAME.
// Anything else (absolute, "..", other directories) would let a damaged or hostile snapshot
// description write outside the store.
bool IsSnapshotFilePath(const std::string& rel) {
  static const std::regex kPath("shard-[0-9]{3}/(db|index)/[A-Za-z0-9_.-]+");
  if (!std::regex_match(rel, kPath)) return false;
  const std::string name = rel.substr(rel.rfind('/') + 1);
  return name != "." && name != "..";
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The staged description of a snapshot being taken, checked (a damaged one is not resumed).
Result<nlohmann::json> ReadJsonFile(const fs::path& p) {
  auto text = env::ReadMetaFile(p.string(), "the interrupted snapshot is started anew");
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array()) {
    return Error(ErrorCode::kCorruption, p.string() + " is not a snapshot description");
  }
  return j;
}

Status WriteJsonFile(const fs::path& p, const nlohmann::json& j) {
  return env::WriteMetaFile(p.string(), j.dump(2) + "\n");
}

// Streams `key` into a new local file, durably: fdatasynced, its directory entry fsynced.
Status Download(objstore::ObjectStore& store, const std::string& key, const fs::path& to,
                const std::function<void(uint64_t)>& on_bytes) {
  STRATA_TRY(env::CreateDirs(to.parent_path().string()));
  auto file = env::WritableFile::Open(to.string(), env::WritableFile::Mode::kTruncate);
  if (!file) return file.error();
  STRATA_TRY(store.Get(key, {}, [&](std::string_view chunk) -> Status {
    STRATA_TRY((*file)->Append(chunk));
    on_bytes(chunk.size());
    return OkStatus();
  }));
  STRATA_TRY((*file)->Sync());
  STRATA_TRY((*file)->Close());
  return env::SyncDir(to.parent_path().string());
}

}  // namespace

Result<std::vector<SnapshotListing>> ListSnapshots(objstore::ObjectStore& store) {
  auto keys = objstore::ListAll(store, kSnapshotsPrefix);
  if (!keys) return keys.error();
  std::vector<SnapshotListing> out;
  for (const auto& k : *keys) {
    const std::string_view key = k.key;
    if (key.size() <= kCommitName.size() ||
        key.substr(key.size() - kCommitName.size()) != kCommitName) {
      continue;
    }
    auto text = objstore::GetString(store, k.key);
    if (!text) return text.error();
    // A damaged description makes that one snapshot unusable, not the others.
    try {
      const auto j = nlohmann::json::parse(*text);
      SnapshotListing s;
      s.id = j.at("id").get<std::string>();
      s.created_us = j.at("created_us").get<int64_t>();
      s.shards = j.at("shards").get<uint32_t>();
      for (const auto& f : j.at("files")) {
        s.bytes += f.at("size").get<uint64_t>();
        ++s.files;
      }
      if (k.key != std::string(kSnapshotsPrefix) + s.id + "/" + std::string(kCommitName)) {
        throw std::runtime_error("its id does not match its key");
      }
      out.push_back(std::move(s));
    } catch (const std::exception& e) {
      spdlog::warn("skipping snapshot {} in {}: its description is damaged ({})", k.key,
                   store.url(), e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Status PruneSnapshots(objstore::ObjectStore& store, uint32_t keep) {
  auto snaps = ListSnapshots(store);
  if (!snaps) return snaps.error();
  if (snaps->empty()) return OkStatus();
  std::set<std::string> kept;
  for (size_t i = snaps->size() > keep ? snaps->size() - keep : 0; i < snaps->size(); ++i) {
    kept.insert((*snaps)[i].id);
  }
  const std::string newest = snaps->back().id;
  auto keys = objstore::ListAll(store, kSnapshotsPrefix);
  if (!keys) return keys.error();
  // Commit objects first, so a snapshot being deleted is never seen as complete.
  std::vector<std::string> commits, files;
  for (const auto& k : *keys) {
    const std::string rest = k.key.substr(kSnapshotsPrefix.size());
    const std::string id = rest.substr(0, rest.find('/'));
    if (kept.count(id) || id >= newest) continue;  // kept, or newer than the newest (in progress)
    (k.key.ends_with(kCommitName) ? commits : files).push_back(k.key);
  }
  for (const auto& k : commits) STRATA_TRY(store.Delete(k));
  for (const auto& k : files) STRATA_TRY(store.Delete(k));
  return OkStatus();
}

Result<bool> HasRestorableStore(const std::string& url, const objstore::S3Config& s3) {
  auto store = objstore::Open(url, s3);
  if (!store) return store.error();
  auto layout = cold::ReadLayout(**store);
  if (!layout) return layout.error();
  if (!layout->has_value()) return false;
  // A store that archived nothing yet (store.json only) has nothing to restore.
  auto snaps = ListSnapshots(**store);
  if (!snaps) return snaps.error();
  if (!snaps->empty()) return true;
  for (uint32_t i = 0; i < (*layout)->shards; ++i) {
    auto page = (*store)->List(cold::ManifestPrefix(i), "", 1);
    if (!page) return page.error();
    if (!page->objects.empty()) return true;
  }
  return false;
}

namespace storage {

// A snapshot interrupted earlier (its checkpoint and file list still staged, not committed):
// its id and description, to resume it; nullopt to start a new one.
Result<std::optional<std::pair<std::string, nlohmann::json>>> StoreImpl::StagedSnapshot(
    const fs::path& staging) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(staging, ec)) {
    const fs::path list = entry.path() / "files.json";
    if (!fs::exists(list)) continue;
    auto j = ReadJsonFile(list);
    if (!j) continue;
    const std::string staged = entry.path().filename().string();
    // Committed already (the process stopped before removing its staging): start a new one.
    auto committed =
        cold_store_->Head(std::string(kSnapshotsPrefix) + staged + "/" + std::string(kCommitName));
    if (committed) break;
    if (committed.error().code() != ErrorCode::kObjectNotFound) return committed.error();
    spdlog::info("resuming snapshot {} (interrupted earlier)", staged);
    return std::optional(std::make_pair(staged, std::move(*j)));
  }
  return std::optional<std::pair<std::string, nlohmann::json>>();
}

// Checkpoints every shard into `dir` and writes the snapshot's description (files.json).
Result<nlohmann::json> StoreImpl::StageSnapshot(const fs::path& dir, const std::string& id) {
  nlohmann::json positions = nlohmann::json::array();
  for (auto& s : shards_) {
    // Read before the checkpoint: the checkpoint holds at least up to here, and a restore
    // copies in archived segments after it (rewriting a record it already has is harmless).
    positions.push_back(s->last_position().value());
    STRATA_TRY(s->Checkpoint((dir / cold::ShardName(s->id().value())).string()));
  }
  nlohmann::json files = nlohmann::json::array();
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    files.push_back({{"path", fs::relative(entry.path(), dir).string()},
                     {"size", static_cast<uint64_t>(entry.file_size())}});
  }
  nlohmann::json desc = {{"format", 1},
                         {"id", id},
                         {"created_us", NowUs()},
                         {"shards", options_.shards},
                         {"partitions", options_.partitions},
                         {"shard_last_positions", positions},
                         {"files", files}};
  STRATA_TRY(WriteJsonFile(dir / "files.json", desc));
  return desc;
}

// Uploads the staged files that are not in the cold tier yet (an interrupted run's are reused).
Status StoreImpl::UploadSnapshot(const nlohmann::json& desc, const fs::path& dir,
                                 const std::string& prefix, SnapshotProgress& p,
                                 const std::function<void(const char*)>& report,
                                 SnapshotInfo& info) {
  for (const auto& f : desc["files"]) {
    const std::string rel = f["path"].get<std::string>();
    const uint64_t size = f["size"].get<uint64_t>();
    const std::string key = prefix + rel;
    auto head = cold_store_->Head(key);
    if (head && head->size == size) {
      ++info.reused_files;
    } else {
      if (!head && head.error().code() != ErrorCode::kObjectNotFound) return head.error();
      auto body = objstore::FileSource::Open((dir / rel).string());
      if (!body) return body.error();
      const uint64_t before = p.bytes_done;
      STRATA_TRY(objstore::Upload(*cold_store_, key, **body, options_.cold.upload_part_bytes,
                                  [&](uint64_t sent) {
                                    p.bytes_done = before + sent;
                                    report("upload");
                                  }));
      p.bytes_done = before;
    }
    p.bytes_done += size;
    ++p.files_done;
    info.bytes += size;
    ++info.files;
    report("upload");
  }
  return OkStatus();
}

Result<SnapshotInfo> StoreImpl::Snapshot(
    const std::function<void(const SnapshotProgress&)>& progress) {
  if (!cold_store_) {
    return Error(ErrorCode::kInvalidConfig,
                 "this store has no cold tier to snapshot to; configure --cold");
  }
  std::lock_guard lock(snapshot_mu_);
  const auto started = std::chrono::steady_clock::now();
  const fs::path staging = fs::path(options_.data_dir) / ".snapshot";
  std::error_code ec;
  SnapshotProgress p;
  auto report = [&](const char* phase) {
    p.phase = phase;
    if (progress) progress(p);
  };
  auto staged = StagedSnapshot(staging);
  if (!staged) return staged.error();
  std::string id;
  nlohmann::json desc;
  if (*staged) {
    id = (*staged)->first;
    desc = std::move((*staged)->second);
  } else {
    fs::remove_all(staging, ec);
    id = NewSnapshotId();
    report("checkpoint");
    auto d = StageSnapshot(staging / id, id);
    if (!d) return d.error();
    desc = std::move(*d);
  }
  const fs::path dir = staging / id;
  const std::string prefix = std::string(kSnapshotsPrefix) + id + "/";
  for (const auto& f : desc["files"]) {
    p.bytes_total += f["size"].get<uint64_t>();
    ++p.files_total;
  }
  SnapshotInfo info;
  info.id = id;
  report("upload");
  STRATA_TRY(UploadSnapshot(desc, dir, prefix, p, report, info));
  // The commit: a reader lists a snapshot only once this exists.
  STRATA_TRY(objstore::PutString(*cold_store_, prefix + std::string(kCommitName), desc.dump(2),
                                 {.if_absent = true}));
  fs::remove_all(dir, ec);
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  p.bytes_done = p.bytes_total;
  report("done");
  spdlog::info("snapshot {}: {} files, {} bytes to {} in {:.1f} s ({} already uploaded)", id,
               info.files, info.bytes, cold_store_->url(), info.seconds, info.reused_files);
  return info;
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
  auto text = objstore::GetString(store, prefix + std::string(kCommitName));
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
      if (!IsSnapshotFilePath(files.back().first)) {
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
  const std::string prefix = std::string(kSnapshotsPrefix) + chosen.id + "/";
  std::vector<std::pair<std::string, uint64_t>> files;
  STRATA_TRY(ReadSnapshotFiles(store, chosen, prefix, shards, after, files));
  p.bytes_total = chosen.bytes;
  p.files_total = chosen.files;
  report("download");
  for (const auto& [rel, size] : files) {
    const fs::path to = data / rel;
    STRATA_TRY(Download(store, prefix + rel, to, [&](uint64_t n) {
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
                         const fs::path& data, const std::vector<uint64_t>& after,
                         SnapshotProgress& p, const Report& report, RestoreResult& result) {
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
    STRATA_TRY((*warm)->SyncWal());
  }
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
  STRATA_TRY(storage::WriteStoreDescription(
      o.data_dir, {(*layout)->shards, (*layout)->partitions, /*cold_url=*/std::nullopt}));
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report("done");
  return result;
}

}  // namespace strata
