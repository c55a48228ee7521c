#include "storage/index_streams.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "base/coding.h"
#include "base/crc32c.h"
#include "env/file.h"
#include "model/stream_name.h"

namespace strata::storage {
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kStateMagic = "STRIDX01";

// A bounds-checked reader of STATE.
struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t U64() {
    if (in.size() < 8) return ok = false, 0;
    uint64_t v = GetLittle64(in.data());
    in.remove_prefix(8);
    return v;
  }
  uint32_t U32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v = GetLittle32(in.data());
    in.remove_prefix(4);
    return v;
  }
  std::string_view Bytes(size_t n) {
    if (in.size() < n) return ok = false, std::string_view();
    auto v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
};
}  // namespace

void ForEachIndexStream(
    std::string_view stream, std::string_view type, RecordKind kind,
    const std::function<void(std::string_view prefix, std::string_view key)>& add) {
  if (kind != RecordKind::kEvent || stream.empty() || stream[0] == '$') return;
  auto dash = stream.find('-');
  if (dash != std::string_view::npos && dash > 0)
    add(kCategoryStreamPrefix, stream.substr(0, dash));
  if (!type.empty() && type[0] != '$') add(kEventTypeStreamPrefix, type);
}

bool InIndexStream(std::string_view name, const RecordView& v) {
  bool in = false;
  ForEachIndexStream(v.stream, v.type, v.header.kind,
                     [&](std::string_view prefix, std::string_view key) {
                       in = in || (name.size() == prefix.size() + key.size() &&
                                   name.starts_with(prefix) && name.ends_with(key));
                     });
  return in;
}

IndexStreams::IndexStreams(std::string dir, const StoreOptions& options, Source source)
    : dir_(std::move(dir)),
      options_(options),
      source_(std::move(source)),
      // No dedupe runs here, so the window is irrelevant.
      runs_((fs::path(dir_) / "runs").string(), options.clock, INT64_MAX) {}

IndexStreams::~IndexStreams() { Stop(); }

void IndexStreams::StartOver(const std::string& why) {
  spdlog::warn("the $ce-/$et- index streams are rebuilt from $all: {}", why);
  names_.clear();
  checkpoint_ = 0;
  next_number_.store(1);
  flushed_names_.clear();
  flushed_checkpoint_ = 0;
}

std::optional<IndexStreams::ParsedState> IndexStreams::ParseState(std::string_view bytes) {
  Reader r{bytes};
  std::string_view magic = r.Bytes(kStateMagic.size());
  if (!r.ok || magic != kStateMagic || bytes.size() < kStateMagic.size() + 4) return std::nullopt;
  const uint32_t crc = GetLittle32(bytes.data() + bytes.size() - 4);
  if (crc != crc32c::Value(bytes.data(), bytes.size() - 4)) return std::nullopt;
  ParsedState p;
  r.in = bytes.substr(kStateMagic.size(), bytes.size() - 4 - kStateMagic.size());
  p.checkpoint = r.U64();
  p.next_number = r.U64();
  p.manifest = std::string(r.Bytes(r.U32()));
  const std::string_view names_start = r.in;
  const uint64_t n = r.U64();
  for (uint64_t i = 0; r.ok && i < n; ++i) {
    std::string name(r.Bytes(r.U32()));
    Name e;
    e.number = r.U64();
    e.count = r.U64();
    e.pending_first = e.count;
    p.names.emplace(std::move(name), std::move(e));
  }
  if (!r.ok || !r.in.empty()) return std::nullopt;
  p.flushed_names.assign(names_start);
  return p;
}

Result<std::string> IndexStreams::VerifyStateFile(const std::string& dir) {
  const std::string path = (fs::path(dir) / "STATE").string();
  auto bytes = env::ReadFile(path);
  if (!bytes) return bytes.error();
  auto parsed = ParseState(*bytes);
  if (!parsed) {
    return Error(ErrorCode::kCorruption,
                 path +
                     " is damaged (its checksum or layout is wrong); the next open rebuilds "
                     "the $ce-/$et- index streams from $all");
  }
  return parsed->manifest;
}

Status IndexStreams::Load() {
  STRATA_TRY(env::CreateDirs(dir_));
  const std::string path = (fs::path(dir_) / "STATE").string();
  std::string bytes;
  if (auto read = env::ReadFile(path); read) {
    bytes = std::move(*read);
  } else if (read.error().code() != ErrorCode::kObjectNotFound) {
    StartOver(read.error().ToString());
  }
  std::string manifest;
  if (!bytes.empty()) {
    if (auto parsed = ParseState(bytes)) {
      std::lock_guard lock(runs_.manifest_mu());
      names_ = std::move(parsed->names);
      checkpoint_ = parsed->checkpoint;
      next_number_.store(parsed->next_number);
      flushed_checkpoint_ = parsed->checkpoint;
      flushed_names_ = std::move(parsed->flushed_names);
      manifest = std::move(parsed->manifest);
    } else {
      StartOver(path + " is damaged");
    }
  }
  if (auto st = runs_.Load(manifest); !st) {
    StartOver(st.error().message());
    STRATA_TRY(runs_.Load(""));
  }
  last_flush_ = std::chrono::steady_clock::now();
  return OkStatus();
}

void IndexStreams::Start() {
  follower_ = std::thread([this] { FollowLoop(); });
  merger_ = std::thread([this] { MergeLoop(); });
}

void IndexStreams::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_.store(true, std::memory_order_release);
  }
  stop_cv_.notify_all();
  progress_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
  if (merger_.joinable()) merger_.join();
}

void IndexStreams::Index(const RecordView& v) {
  ForEachIndexStream(
      v.stream, v.type, v.header.kind, [&](std::string_view prefix, std::string_view key) {
        scratch_.assign(prefix).append(key);
        auto it = names_.find(std::string_view(scratch_));
        if (it == names_.end()) {
          it = names_.emplace(scratch_, Name{}).first;
          it->second.number = next_number_.fetch_add(1);
        }
        Name& n = it->second;
        n.pending.push_back(TagPosition(source_.shard_of(v.stream), v.header.position.value()));
        ++n.count;
        ++unflushed_;
      });
}

void IndexStreams::FollowLoop() {
  uint64_t p;
  {
    std::shared_lock lock(mu_);
    p = checkpoint_ + 1;
  }
  indexed_.store(p - 1);
  auto flush_retry_at = std::chrono::steady_clock::now();
  uint64_t flush_failures = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    const uint64_t w = source_.watermark().value();
    if (p < w && !failed_.load()) {
      // At most 4096 records per chunk, however many positions a crash left unused between them.
      uint64_t to = w, seen = 0;
      Status st = OkStatus();
      {
        // Readers see the names and the checkpoint change together, one chunk at a time.
        std::unique_lock lock(mu_);
        st = source_.scan(Position(p), Position(w), [&](const RecordView& v) {
          Index(v);
          if (++seen < 4096) return true;
          to = v.header.position.value() + 1;
          return false;
        });
        if (st) checkpoint_ = to - 1;
      }
      if (!st) {
        spdlog::error("the $ce-/$et- index stopped at position {}: {}", p, st.error().ToString());
        {
          std::lock_guard lock(stop_mu_);
          failed_.store(true);
        }
        progress_cv_.notify_all();
        continue;
      }
      p = to;
      {
        std::lock_guard lock(stop_mu_);
        indexed_.store(to - 1);
      }
      progress_cv_.notify_all();
    } else {
      source_.wait(Position(p), std::chrono::milliseconds(100));
    }
    // Entries are 8 bytes in memory (two per event at most): hold 4x a shard's flush, which
    // makes fewer, larger runs and so fewer merges.
    const bool due = unflushed_ >= 4 * options_.index_flush_events ||
                     (unflushed_ > 0 && std::chrono::steady_clock::now() - last_flush_ >=
                                            options_.index_flush_interval);
    if (due && !failed_.load() && std::chrono::steady_clock::now() >= flush_retry_at) {
      if (auto st = Flush(); !st) {
        const ErrorCode code = st.error().code();
        if (code == ErrorCode::kDiskFull || code == ErrorCode::kIoError) {
          // Retried every second; the entries wait in memory (appends are refused meanwhile).
          if (source_.disk) source_.disk->ReportFailure(st.error());
          if (flush_failures++ % 60 == 0) {
            spdlog::warn("the $ce-/$et- index cannot write its runs yet (retrying): {}",
                         st.error().ToString());
          }
          flush_retry_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        } else {
          spdlog::error("the $ce-/$et- index cannot write its runs (stopped until restart): {}",
                        st.error().ToString());
          failed_.store(true);
        }
      } else if (flush_failures > 0) {
        spdlog::info("the $ce-/$et- index writes its runs again");
        flush_failures = 0;
      }
    }
  }
  if (unflushed_ > 0 && !failed_.load()) {
    if (auto st = Flush(); !st) {
      spdlog::warn("the $ce-/$et- index was not flushed at close (rebuilt at the next open): {}",
                   st.error().ToString());
    }
  }
}

Status IndexStreams::Flush() {
  // Only this thread adds entries, so what is read under the shared lock stays valid.
  std::vector<StreamIndexEntry> entries;
  std::vector<DedupeIndexEntry> no_dedupe;
  std::string names;
  uint64_t checkpoint;
  {
    std::shared_lock lock(mu_);
    entries.reserve(unflushed_);
    AppendLittle64(names, names_.size());
    for (const auto& [name, n] : names_) {
      for (size_t i = 0; i < n.pending.size(); ++i) {
        entries.push_back({n.number, n.pending_first + i, n.pending[i]});
      }
      AppendLittle32(names, static_cast<uint32_t>(name.size()));
      names.append(name);
      AppendLittle64(names, n.number);
      AppendLittle64(names, n.count);
    }
    checkpoint = checkpoint_;
  }
  auto written = runs_.WriteRuns(entries, no_dedupe);
  if (!written) return written.error();
  {
    std::lock_guard lock(runs_.manifest_mu());
    const std::string old_names = std::move(flushed_names_);
    const uint64_t old_checkpoint = flushed_checkpoint_;
    flushed_names_ = std::move(names);
    flushed_checkpoint_ = checkpoint;
    if (auto st = WriteState(runs_.ManifestWith(*written)); !st) {
      flushed_names_ = old_names;
      flushed_checkpoint_ = old_checkpoint;
      runs_.Discard(*written);
      return st;
    }
    runs_.Publish(*written);
  }
  {
    // The entries are in a published run now: drop them from memory.
    std::unique_lock lock(mu_);
    for (auto& [name, n] : names_) {
      n.pending_first = n.count;
      n.pending.clear();
      n.pending.shrink_to_fit();
    }
    unflushed_ = 0;
  }
  last_flush_ = std::chrono::steady_clock::now();
  stop_cv_.notify_all();  // the merger
  return OkStatus();
}

Status IndexStreams::WriteState(const std::string& manifest) {
  std::string out(kStateMagic);
  AppendLittle64(out, flushed_checkpoint_);
  // next_number_ only grows; a merger's STATE may carry a number past the flushed names, which
  // only leaves numbers unused.
  AppendLittle64(out, next_number_.load());
  AppendLittle32(out, static_cast<uint32_t>(manifest.size()));
  out.append(manifest);
  if (flushed_names_.empty()) {
    AppendLittle64(out, 0);
  } else {
    out.append(flushed_names_);
  }
  AppendLittle32(out, crc32c::Value(out.data(), out.size()));
  return env::ReplaceFile((fs::path(dir_) / "STATE").string(), out);
}

void IndexStreams::MergeLoop() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  auto persist = [this](const std::string& manifest) { return WriteState(manifest); };
  while (true) {
    {
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::seconds(1));
      if (stopping_.load()) return;
    }
    while (!stopping_.load()) {
      if (source_.disk && !source_.disk->HasRoom()) break;
      auto merged = runs_.MergeOnce(persist);
      if (!merged) {
        if (source_.disk) source_.disk->ReportFailure(merged.error());
        spdlog::warn("merging $ce-/$et- index runs failed (will retry): {}",
                     merged.error().ToString());
        break;
      }
      if (!*merged) break;
    }
  }
}

bool IndexStreams::WaitFor(uint64_t position, std::chrono::milliseconds max_wait) {
  std::unique_lock lock(stop_mu_);
  return progress_cv_.wait_for(lock, max_wait, [&] {
    return indexed_.load() >= position || stopping_.load() || failed_.load();
  }) && indexed_.load() >= position;
}

IndexStreams::Head IndexStreams::GetHead(std::string_view name) const {
  std::shared_lock lock(mu_);
  Head h;
  h.checkpoint = checkpoint_;
  auto it = names_.find(name);
  if (it != names_.end()) {
    h.known = true;
    h.count = it->second.count;
  }
  return h;
}

Result<std::vector<uint64_t>> IndexStreams::Positions(std::string_view name, uint64_t lo,
                                                      uint64_t hi) const {
  std::vector<uint64_t> out;
  if (hi < lo) return out;
  std::vector<uint64_t> tail;
  uint64_t pending_first = 0, number = 0;
  {
    std::shared_lock lock(mu_);
    auto it = names_.find(name);
    if (it == names_.end()) {
      return Error(ErrorCode::kStreamNotFound, "index stream '" + std::string(name) + "' is empty");
    }
    const Name& n = it->second;
    number = n.number;
    pending_first = n.pending_first;
    for (uint64_t r = std::max(lo, n.pending_first); r <= hi && r < n.count; ++r) {
      tail.push_back(n.pending[r - n.pending_first]);
    }
  }
  // Revisions below pending_first were published in a run before they left memory.
  if (lo < pending_first) {
    const uint64_t run_hi = std::min(hi, pending_first - 1);
    auto found = runs_.FindStream(number, lo, run_hi);
    if (found.size() != run_hi - lo + 1) {
      return Error(ErrorCode::kCorruption, "the index-stream runs are missing revisions " +
                                               std::to_string(lo) + ".." + std::to_string(run_hi) +
                                               " of index " + std::to_string(number));
    }
    out.reserve(found.size() + tail.size());
    for (const auto& [rev, pos] : found) out.push_back(pos);
  }
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

IndexStreams::Stats IndexStreams::GetStats() const {
  Stats s;
  {
    std::shared_lock lock(mu_);
    s.checkpoint = checkpoint_;
    s.streams = names_.size();
    s.unflushed = unflushed_;
  }
  s.failed = failed_.load();
  return s;
}

}  // namespace strata::storage
