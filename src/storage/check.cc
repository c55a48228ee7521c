#include "storage/check.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/record.h"
#include "storage/check_parts.h"
#include "storage/cold/cold_tier.h"
#include "storage/index_streams.h"
#include "storage/store_impl.h"

namespace strata {
namespace fs = std::filesystem;

// ---- the report

std::string CheckReport::ToJson() const {
  nlohmann::json j;
  j["ok"] = ok();
  j["online"] = online;
  auto& ps = j["problems"] = nlohmann::json::array();
  for (const auto& p : problems) {
    nlohmann::json o = {{"kind", p.kind}, {"location", p.location}, {"message", p.message}};
    if (p.shard >= 0) o["shard"] = p.shard;
    if (p.first_position || p.last_position) {
      o["first_position"] = p.first_position;
      o["last_position"] = p.last_position;
    }
    ps.push_back(std::move(o));
  }
  j["checked"] = {{"records", records},
                  {"warm_files", warm_files},
                  {"index_runs", index_runs},
                  {"metadata_files", metadata_files},
                  {"local_segments", local_segments},
                  {"cold_segments", cold_segments},
                  {"cold_blocks", cold_blocks}};
  j["seconds"] = seconds;
  return j.dump();
}

Result<CheckReport> CheckReport::FromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("problems") || !j["problems"].is_array() ||
      !j.contains("checked") || !j["checked"].is_object()) {
    return Error(ErrorCode::kInternal, "the server's check report is not the expected JSON");
  }
  auto u64 = [](const nlohmann::json& o, const char* k) -> uint64_t {
    return o.contains(k) && o[k].is_number_unsigned() ? o[k].get<uint64_t>() : 0;
  };
  auto str = [](const nlohmann::json& o, const char* k) -> std::string {
    return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string();
  };
  CheckReport r;
  for (const auto& o : j["problems"]) {
    if (!o.is_object()) continue;
    CheckProblem p;
    p.kind = str(o, "kind");
    p.location = str(o, "location");
    p.message = str(o, "message");
    p.shard =
        o.contains("shard") && o["shard"].is_number_integer() ? o["shard"].get<int64_t>() : -1;
    p.first_position = u64(o, "first_position");
    p.last_position = u64(o, "last_position");
    r.problems.push_back(std::move(p));
  }
  const auto& c = j["checked"];
  r.records = u64(c, "records");
  r.warm_files = u64(c, "warm_files");
  r.index_runs = u64(c, "index_runs");
  r.metadata_files = u64(c, "metadata_files");
  r.local_segments = u64(c, "local_segments");
  r.cold_segments = u64(c, "cold_segments");
  r.cold_blocks = u64(c, "cold_blocks");
  r.seconds = j.contains("seconds") && j["seconds"].is_number() ? j["seconds"].get<double>() : 0;
  r.online = j.contains("online") && j["online"].is_boolean() && j["online"].get<bool>();
  return r;
}

std::string CheckReport::ToText() const {
  std::string out;
  for (const auto& p : problems) {
    out += "PROBLEM " + p.kind;
    if (p.shard >= 0) out += fmt::format(" shard {}", p.shard);
    if (p.first_position || p.last_position) {
      out += fmt::format(" positions {}-{}", p.first_position, p.last_position);
    }
    if (!p.location.empty()) out += " in " + p.location;
    out += ": " + p.message + "\n";
  }
  out += fmt::format(
      "check{}: {} problem{}; checked {} records, {} RocksDB files, {} index runs, {} metadata "
      "files, {} local segments, {} archived segments ({} blocks) in {:.1f} s\n",
      online ? " (online)" : "", problems.size(), problems.size() == 1 ? "" : "s", records,
      warm_files, index_runs, metadata_files, local_segments, cold_segments, cold_blocks, seconds);
  return out;
}

namespace storage {
namespace {

CheckProblem Problem(std::string kind, std::string location, int64_t shard, std::string message,
                     uint64_t first = 0, uint64_t last = 0) {
  CheckProblem p;
  p.kind = std::move(kind);
  p.location = std::move(location);
  p.shard = shard;
  p.message = std::move(message);
  p.first_position = first;
  p.last_position = last;
  return p;
}

// True when another process holds RocksDB's lock on the shard (fcntl, as RocksDB takes it).
bool LockedByAnotherProcess(const std::string& db_dir) {
  const int fd = ::open((db_dir + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock l = {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  const bool held = ::fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

}  // namespace

void CheckStoreDescription(const std::string& data_dir, CheckReport* report) {
  ++report->metadata_files;
  auto d = ReadStoreDescription(data_dir);
  if (!d) {
    report->Add(Problem("store-description", data_dir + "/STRATA", -1, d.error().ToString()));
    return;
  }
  if (d->cold_url) return;
  // A store made before STRATA recorded the cold URL keeps it in <data>/cold-url.
  const std::string path = LegacyColdUrlPath(data_dir);
  auto legacy = env::ReadMetaFileIfExists(path, kColdUrlRemedy, /*accept_legacy=*/true);
  if (legacy && !legacy->has_value()) return;
  ++report->metadata_files;
  if (!legacy) report->Add(Problem("metadata", path, -1, legacy.error().ToString()));
}

void CheckWarm(warm::WarmShard& warm, uint32_t shard, CheckReport* report) {
  // 1. Every block of every SST file: a damaged one is reported with the positions it holds.
  std::vector<std::pair<uint64_t, uint64_t>> damaged;  // events column family
  for (const auto& f : warm.VerifyFiles()) {
    ++report->warm_files;
    if (f.error.empty()) continue;
    report->Add(Problem("warm-file", f.file, shard,
                        "RocksDB file of column family '" + f.column_family + "': " + f.error,
                        f.first_position, f.last_position));
    if (f.last_position) damaged.emplace_back(f.first_position, f.last_position);
  }
  // 2. Every record: its CRC, its key, increasing positions. Past an unreadable stretch the
  // scan continues after the damaged file that holds it.
  auto cursor = warm.NewCursor(/*fill_cache=*/false);
  uint64_t last = 0;
  cursor->Seek(Position(1));
  while (true) {
    for (; cursor->Valid(); cursor->Next()) {
      const uint64_t p = cursor->position().value();
      auto v = DecodeRecord(cursor->record());
      if (!v) {
        report->Add(Problem("record", "", shard, v.error().ToString(), p, p));
      } else if (v->header.position.value() != p) {
        report->Add(Problem(
            "record", "", shard,
            fmt::format("the record under key {} says position {}", p, v->header.position.value()),
            p, p));
      } else if (p <= last) {
        report->Add(Problem("record", "", shard,
                            fmt::format("position {} after {}: not increasing", p, last), p, p));
      }
      last = p;
      ++report->records;
    }
    auto st = cursor->status();
    if (st) break;
    uint64_t resume = 0;
    for (const auto& [lo, hi] : damaged) {
      if (hi > last && (resume == 0 || hi + 1 < resume)) resume = hi + 1;
    }
    report->Add(Problem("record", "", shard,
                        "the log cannot be read after position " + std::to_string(last) + ": " +
                            st.error().ToString(),
                        last + 1, resume ? resume - 1 : 0));
    if (resume == 0) break;
    cursor = warm.NewCursor(false);
    cursor->Seek(Position(resume));
    last = resume - 1;
  }
}

void CheckIndexRunFiles(const std::string& dir, std::string_view manifest, int64_t shard,
                        CheckReport* report) {
  auto entries = IndexRuns::ParseManifest(manifest, dir);
  if (!entries) {
    report->Add(Problem("index-manifest", dir, shard, entries.error().ToString()));
    return;
  }
  for (const auto& [kind, seq] : *entries) {
    const std::string path = IndexRuns::RunPath(dir, kind, seq);
    ++report->index_runs;
    if (auto st = IndexRuns::VerifyFile(path, kind); !st) {
      report->Add(Problem("index-run", path, shard, st.error().ToString()));
    }
  }
}

void CheckLiveIndexRuns(const IndexRuns& runs, int64_t shard, CheckReport* report) {
  runs.VerifyLive([&](const std::string& path, uint64_t first, uint64_t last, const Status& st) {
    ++report->index_runs;
    if (!st) report->Add(Problem("index-run", path, shard, st.error().ToString(), first, last));
  });
}

void CheckLocalSegments(const std::string& outbox, uint32_t shard, CheckReport* report) {
  std::error_code ec;
  if (!fs::is_directory(outbox, ec)) return;
  auto local = objstore::Open("file://" + fs::absolute(outbox).string());
  if (!local) {
    report->Add(Problem("local-segment", outbox, shard, local.error().ToString()));
    return;
  }
  for (const auto& entry : fs::directory_iterator(outbox, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".seg")) continue;
    ++report->local_segments;
    auto reader = cold::SegmentReader::Open(**local, name);
    if (!reader) {
      report->Add(Problem(
          "local-segment", entry.path().string(), shard,
          reader.error().ToString() + " (an unfinished export: the archiver writes it anew)"));
      continue;
    }
    const auto& blocks = (*reader)->footer().blocks;
    for (size_t b = 0; b < blocks.size(); ++b) {
      auto block = (*reader)->ReadBlock(b);
      Status st = block
                      ? cold::ForEachRecord(*block, [](uint64_t, std::string_view) { return true; })
                      : Status(block.error());
      if (!st) {
        report->Add(Problem("local-segment", entry.path().string(), shard, st.error().ToString(),
                            blocks[b].first_position, blocks[b].last_position));
      }
    }
  }
}

void CheckColdTier(objstore::ObjectStore& store, uint32_t shards, CheckReport* report) {
  for (uint32_t shard = 0; shard < shards; ++shard) {
    auto manifest = cold::LoadManifest(store, shard);
    if (!manifest) {
      report->Add(Problem("cold-manifest", store.url() + "/" + cold::ManifestPrefix(shard), shard,
                          manifest.error().ToString()));
      continue;
    }
    for (const SegmentInfo& s : *manifest) {
      ++report->cold_segments;
      const uint64_t lo = s.first_position.value(), hi = s.last_position.value();
      auto reader = cold::SegmentReader::Open(store, s.key);
      if (!reader) {
        report->Add(Problem("cold-segment", s.key, shard, reader.error().ToString(), lo, hi));
        continue;
      }
      const auto& footer = (*reader)->footer();
      if (footer.segment_id != s.segment_id || footer.first_position != lo ||
          footer.last_position != hi || footer.events != s.events) {
        report->Add(Problem("cold-segment", s.key, shard,
                            "the segment's footer does not match its manifest entry", lo, hi));
        continue;
      }
      for (size_t b = 0; b < footer.blocks.size(); ++b) {
        ++report->cold_blocks;
        auto block = (*reader)->ReadBlock(b);
        Status st =
            block ? cold::ForEachRecord(*block, [](uint64_t, std::string_view) { return true; })
                  : Status(block.error());
        if (!st) {
          report->Add(Problem("cold-segment", s.key, shard, st.error().ToString(),
                              footer.blocks[b].first_position, footer.blocks[b].last_position));
        }
      }
    }
  }
}

Result<CheckReport> CheckDataDir(const StoreOptions& options, const CheckOptions& check) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path dir(options.data_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Error(ErrorCode::kInvalidConfig,
                 "no Strata store at '" + options.data_dir + "'; check --data");
  }
  if (LockedByAnotherProcess((dir / cold::ShardName(0) / "db").string())) {
    return Error(ErrorCode::kInvalidArgument,
                 "the store at '" + options.data_dir +
                     "' is open in another process (strata serve?): check it online with "
                     "--server HOST:PORT, or stop that process first");
  }
  CheckReport report;
  CheckStoreDescription(options.data_dir, &report);
  // The shards there are, whatever STRATA says (it may be the damaged file).
  uint32_t shards = 0;
  while (fs::exists(dir / cold::ShardName(shards) / "db" / "CURRENT", ec)) ++shards;
  auto shared = warm::SharedResources::Create(options.warm);
  for (uint32_t i = 0; i < shards; ++i) {
    const fs::path shard_dir = dir / cold::ShardName(i);
    auto warm = warm::WarmShard::OpenReadOnly((shard_dir / "db").string(), options.warm, shared);
    if (!warm) {
      report.Add(Problem("warm-file", (shard_dir / "db").string(), i, warm.error().ToString()));
      continue;
    }
    CheckWarm(**warm, i, &report);
    auto manifest = (*warm)->GetMeta("index.manifest");
    if (!manifest) {
      report.Add(
          Problem("index-manifest", (shard_dir / "db").string(), i, manifest.error().ToString()));
    } else {
      CheckIndexRunFiles((shard_dir / "index").string(), manifest->value_or(""), i, &report);
    }
    CheckLocalSegments((shard_dir / "outbox").string(), i, &report);
  }
  const std::string streams_dir = (dir / "index-streams").string();
  if (fs::exists(fs::path(streams_dir) / "STATE", ec)) {
    ++report.metadata_files;
    auto manifest = IndexStreams::VerifyStateFile(streams_dir);
    if (!manifest) {
      report.Add(
          Problem("index-streams-state", streams_dir + "/STATE", -1, manifest.error().ToString()));
    } else {
      CheckIndexRunFiles((fs::path(streams_dir) / "runs").string(), *manifest, -1, &report);
    }
  }
  if (check.cold && !options.cold.url.empty()) {
    auto cold = objstore::Open(options.cold.url, options.cold.s3);
    if (!cold) return cold.error();
    CheckColdTier(**cold, shards, &report);
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace storage
}  // namespace strata
