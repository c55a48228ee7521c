#include "storage/cold/snapshots.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>

#include "env/file.h"
#include "storage/cold/cold_tier.h"
#include "storage/cold/wal_format.h"

namespace strata::cold {

namespace fs = std::filesystem;

namespace {

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

// A snapshot interrupted earlier (its checkpoint and file list still staged, not committed):
// its id and description, to resume it; nullopt to start a new one.
Result<std::optional<std::pair<std::string, nlohmann::json>>> StagedSnapshot(
    objstore::ObjectStore& cold_store, const fs::path& staging) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(staging, ec)) {
    const fs::path list = entry.path() / "files.json";
    if (!fs::exists(list)) continue;
    auto j = ReadJsonFile(list);
    if (!j) continue;
    const std::string staged = entry.path().filename().string();
    // Committed already (the process stopped before removing its staging): start a new one.
    auto committed =
        cold_store.Head(std::string(kSnapshotsPrefix) + staged + "/" + std::string(kCommitName));
    if (committed) break;
    if (committed.error().code() != ErrorCode::kObjectNotFound) return committed.error();
    spdlog::info("resuming snapshot {} (interrupted earlier)", staged);
    return std::optional(std::make_pair(staged, std::move(*j)));
  }
  return std::optional<std::pair<std::string, nlohmann::json>>();
}

// Checkpoints every shard into `dir` and writes the snapshot's description (files.json).
Result<nlohmann::json> StageSnapshot(const std::vector<storage::ShardLog*>& shards,
                                     uint32_t partitions, const fs::path& dir,
                                     const std::string& id) {
  nlohmann::json positions = nlohmann::json::array();
  for (storage::ShardLog* s : shards) {
    // Read before the checkpoint: the checkpoint holds at least up to here, and a restore
    // copies in archived segments after it (rewriting a record it already has is harmless).
    positions.push_back(s->last_position().value());
    STRATA_TRY(s->Checkpoint((dir / ShardName(s->shard_index())).string()));
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
                         {"shards", static_cast<uint32_t>(shards.size())},
                         {"partitions", partitions},
                         {"shard_last_positions", positions},
                         {"files", files}};
  STRATA_TRY(WriteJsonFile(dir / "files.json", desc));
  return desc;
}

// Uploads the staged files that are not in the cold tier yet (an interrupted run's are reused).
Status UploadSnapshot(objstore::ObjectStore& cold_store, uint64_t part_bytes,
                      const nlohmann::json& desc, const fs::path& dir, const std::string& prefix,
                      SnapshotProgress& p, const std::function<void(const char*)>& report,
                      SnapshotInfo& info) {
  for (const auto& f : desc["files"]) {
    const std::string rel = f["path"].get<std::string>();
    const uint64_t size = f["size"].get<uint64_t>();
    const std::string key = prefix + rel;
    auto head = cold_store.Head(key);
    if (head && head->size == size) {
      ++info.reused_files;
    } else {
      if (!head && head.error().code() != ErrorCode::kObjectNotFound) return head.error();
      auto body = objstore::FileSource::Open((dir / rel).string());
      if (!body) return body.error();
      const uint64_t before = p.bytes_done;
      STRATA_TRY(objstore::Upload(cold_store, key, **body, part_bytes, [&](uint64_t sent) {
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

}  // namespace

bool IsSnapshotFilePath(const std::string& rel) {
  static const std::regex kPath("shard-[0-9]{3}/(db|index)/[A-Za-z0-9_.-]+");
  if (!std::regex_match(rel, kPath)) return false;
  const std::string name = rel.substr(rel.rfind('/') + 1);
  return name != "." && name != "..";
}

Status DownloadFile(objstore::ObjectStore& store, const std::string& key, const fs::path& to,
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
  auto layout = ReadLayout(**store);
  if (!layout) return layout.error();
  if (!layout->has_value()) return false;
  // A store that archived nothing yet (store.json only) has nothing to restore.
  auto snaps = ListSnapshots(**store);
  if (!snaps) return snaps.error();
  if (!snaps->empty()) return true;
  for (uint32_t i = 0; i < (*layout)->shards; ++i) {
    auto page = (*store)->List(ManifestPrefix(i), "", 1);
    if (!page) return page.error();
    if (!page->objects.empty()) return true;
  }
  // Acknowledged appends of a store with the object-store WAL that archived nothing yet.
  auto wal = (*store)->List(kWalPrefix, "", 1);
  if (!wal) return wal.error();
  return !wal->objects.empty();
}

Result<SnapshotInfo> TakeSnapshot(const std::vector<storage::ShardLog*>& shards,
                                  uint32_t partitions, objstore::ObjectStore& cold_store,
                                  uint64_t part_bytes, const std::string& staging_dir,
                                  const std::function<void(const SnapshotProgress&)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path staging(staging_dir);
  std::error_code ec;
  SnapshotProgress p;
  auto report = [&](const char* phase) {
    p.phase = phase;
    if (progress) progress(p);
  };
  auto staged = StagedSnapshot(cold_store, staging);
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
    auto d = StageSnapshot(shards, partitions, staging / id, id);
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
  STRATA_TRY(UploadSnapshot(cold_store, part_bytes, desc, dir, prefix, p, report, info));
  // The commit: a reader lists a snapshot only once this exists.
  STRATA_TRY(objstore::PutString(cold_store, prefix + std::string(kCommitName), desc.dump(2),
                                 {.if_absent = true}));
  fs::remove_all(dir, ec);
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  p.bytes_done = p.bytes_total;
  report("done");
  spdlog::info("snapshot {}: {} files, {} bytes to {} in {:.1f} s ({} already uploaded)", id,
               info.files, info.bytes, cold_store.url(), info.seconds, info.reused_files);
  return info;
}

}  // namespace strata::cold
