#include "storage/index_runs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <type_traits>

#include "base/coding.h"
#include "base/crc32c.h"
#include "env/file.h"

namespace strata::storage {
namespace {
namespace fs = std::filesystem;

constexpr char kMagic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'R', 'N'};
constexpr uint32_t kRunVersion = 1;
constexpr size_t kHeaderBytes = 64;  // docs/index-runs.md

bool StreamLess(const StreamIndexEntry& a, const StreamIndexEntry& b) {
  return a.number != b.number ? a.number < b.number : a.revision < b.revision;
}
bool DedupeLess(const DedupeIndexEntry& a, const DedupeIndexEntry& b) {
  return a.number != b.number ? a.number < b.number : a.id < b.id;
}

Error IoError(const std::string& what) {
  return Error(ErrorCode::kIoError, what + ": " + std::strerror(errno));
}

// Checksummed writer of one run file (written to .tmp through the file seam, then renamed).
class RunFileWriter {
 public:
  static Result<RunFileWriter> Create(const std::string& path) {
    RunFileWriter w;
    w.path_ = path;
    auto f = env::WritableFile::Open(path + ".tmp", env::WritableFile::Mode::kTruncate);
    if (!f) return f.error();
    w.file_ = std::move(*f);
    STRATA_TRY(w.file_->Append(std::string(kHeaderBytes, '\0')));
    return w;
  }
  ~RunFileWriter() {
    // An unfinished run (a failed flush or merge, a full disk) leaves no file behind.
    if (file_) {
      file_.reset();
      ::unlink((path_ + ".tmp").c_str());
    }
  }
  RunFileWriter(RunFileWriter&&) = default;
  RunFileWriter& operator=(RunFileWriter&&) = default;

  Status Add(const void* entry, size_t size) {
    crc_ = crc32c::Extend(crc_, static_cast<const char*>(entry), size);
    const uint64_t before = file_->size();
    STRATA_TRY(file_->Append(std::string_view(static_cast<const char*>(entry), size)));
    ++count_;
    // Start writeback every MiB rather than all at once at fdatasync, which would stall the
    // WAL syncs of the append path behind a burst of dirty pages.
    if ((before >> 20) != (file_->size() >> 20)) {
      STRATA_TRY(file_->Flush());
      file_->StartWriteback();
    }
    return OkStatus();
  }

  // Writes the header, syncs, and renames into place (the caller syncs the directory).
  Status Finish(RunKind kind, uint32_t entry_size, uint64_t min_pos, uint64_t max_pos,
                int64_t max_ts) {
    char h[kHeaderBytes] = {};
    std::memcpy(h, kMagic, 8);
    PutLittle32(h + 8, kRunVersion);
    PutLittle32(h + 12, static_cast<uint32_t>(kind));
    PutLittle32(h + 16, entry_size);
    PutLittle64(h + 24, count_);
    PutLittle64(h + 32, min_pos);
    PutLittle64(h + 40, max_pos);
    PutLittle64(h + 48, static_cast<uint64_t>(max_ts));
    PutLittle32(h + 56, crc32c::Mask(crc_));
    PutLittle32(h + 60, crc32c::Mask(crc32c::Value(h, 60)));
    STRATA_TRY(file_->WriteAt(0, std::string_view(h, kHeaderBytes)));
    STRATA_TRY(file_->Sync());
    STRATA_TRY(file_->Close());
    if (::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0) {
      return env::FromErrno(errno, "renaming index run", path_);
    }
    file_.reset();
    return OkStatus();
  }
  uint64_t count() const { return count_; }

 private:
  RunFileWriter() = default;
  std::unique_ptr<env::WritableFile> file_;
  std::string path_;
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
};

}  // namespace

namespace {
Error CorruptRun(const std::string& path, const std::string& why) {
  return Error(ErrorCode::kCorruption,
               "index run " + path + " is corrupt (" + why +
                   "); the log is intact: restore the store from a snapshot ('strata restore') "
                   "and run 'strata check' to see everything that is damaged");
}
}  // namespace

// One immutable run file, memory-mapped.
class Run {
 public:
  static Result<std::shared_ptr<Run>> Open(const std::string& path, RunKind kind, uint64_t seq) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("opening index run " + path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return IoError("stat " + path);
    }
    auto corrupt = [&](const std::string& why) { return CorruptRun(path, why); };
    size_t size = static_cast<size_t>(st.st_size);
    if (size < kHeaderBytes) {
      ::close(fd);
      return corrupt("shorter than its header");
    }
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return IoError("mapping " + path);
    auto run = std::shared_ptr<Run>(new Run(static_cast<const char*>(map), size, kind, seq));
    const char* h = run->base_;
    if (std::memcmp(h, kMagic, 8) != 0) return corrupt("bad magic");
    if (crc32c::Unmask(GetLittle32(h + 60)) != crc32c::Value(h, 60))
      return corrupt("header checksum");
    if (GetLittle32(h + 8) != kRunVersion) return corrupt("unknown version");
    if (GetLittle32(h + 12) != static_cast<uint32_t>(kind)) return corrupt("wrong kind");
    run->entry_size_ = GetLittle32(h + 16);
    run->count_ = GetLittle64(h + 24);
    run->max_ts_ = static_cast<int64_t>(GetLittle64(h + 48));
    size_t want = kind == RunKind::kStream ? sizeof(StreamIndexEntry) : sizeof(DedupeIndexEntry);
    if (run->entry_size_ != want || kHeaderBytes + run->count_ * want != size) {
      return corrupt("size does not match its header");
    }
    // Verify the entries with pread, not through the mapping: reading through it would make
    // every page of every run resident (RSS growing with the index); lookups then touch only
    // the pages they search.
    int vfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (vfd < 0) return IoError("opening index run " + path);
    std::string chunk(1 << 20, '\0');
    uint32_t crc = 0;
    for (uint64_t off = kHeaderBytes; off < size;) {
      ssize_t n = ::pread(vfd, chunk.data(), std::min<uint64_t>(chunk.size(), size - off), off);
      if (n <= 0) {
        ::close(vfd);
        return IoError("reading index run " + path);
      }
      crc = crc32c::Extend(crc, chunk.data(), static_cast<size_t>(n));
      off += static_cast<uint64_t>(n);
    }
    ::posix_fadvise(vfd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(vfd);
    if (crc32c::Unmask(GetLittle32(h + 56)) != crc) return corrupt("entries checksum");
    ::madvise(const_cast<char*>(run->base_), size, MADV_RANDOM);
    return run;
  }
  ~Run() { ::munmap(const_cast<char*>(base_), size_); }

  // Checks the header and the entries' checksum again, through the mapping (what readers use),
  // dropping the pages afterwards. For strata check on a live store.
  Status Verify(const std::string& path) const {
    const char* h = base_;
    if (std::memcmp(h, kMagic, 8) != 0) return CorruptRun(path, "bad magic");
    if (crc32c::Unmask(GetLittle32(h + 60)) != crc32c::Value(h, 60)) {
      return CorruptRun(path, "header checksum");
    }
    uint32_t crc = 0;
    constexpr size_t kChunk = 16u << 20;
    for (size_t off = kHeaderBytes; off < size_; off += kChunk) {
      const size_t n = std::min(kChunk, size_ - off);
      crc = crc32c::Extend(crc, base_ + off, n);
      DropPages(base_ + off, base_ + off + n);
    }
    if (crc32c::Unmask(GetLittle32(h + 56)) != crc) return CorruptRun(path, "entries checksum");
    return OkStatus();
  }
  uint64_t min_position() const { return GetLittle64(base_ + 32); }
  uint64_t max_position() const { return GetLittle64(base_ + 40); }

  template <class E>
  const E* begin() const {
    return reinterpret_cast<const E*>(base_ + kHeaderBytes);
  }
  template <class E>
  const E* end() const {
    return begin<E>() + count_;
  }
  // Drops this process's mapping of the pages in [from, to) (they stay in the page cache and
  // fault back in if read again): merges read whole runs and must not leave them resident.
  void DropPages(const void* from, const void* to) const {
    const uintptr_t page = 4096;
    uintptr_t lo = reinterpret_cast<uintptr_t>(from) & ~(page - 1);
    uintptr_t hi = reinterpret_cast<uintptr_t>(to) & ~(page - 1);
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  RunKind kind() const { return kind_; }
  uint64_t seq() const { return seq_; }
  uint64_t count() const { return count_; }
  int64_t max_ts() const { return max_ts_; }

 private:
  Run(const char* base, size_t size, RunKind kind, uint64_t seq)
      : base_(base), size_(size), kind_(kind), seq_(seq) {}
  const char* base_;
  size_t size_;
  RunKind kind_;
  uint64_t seq_;
  uint32_t entry_size_ = 0;
  uint64_t count_ = 0;
  int64_t max_ts_ = 0;
};

IndexRuns::IndexRuns(std::string dir, Clock* clock, int64_t window_us)
    : dir_(std::move(dir)),
      clock_(clock),
      window_us_(window_us),
      set_(std::make_shared<const RunSet>()) {}

IndexRuns::~IndexRuns() = default;

std::string IndexRuns::PathOf(RunKind kind, uint64_t seq) const { return RunPath(dir_, kind, seq); }

std::string IndexRuns::Encode(const RunSet& set) {
  // "<kind>:<seq> ..." — kind 1 streams, 2 dedupe.
  std::string out;
  for (const auto& r : set) {
    if (!out.empty()) out += ' ';
    out += std::to_string(static_cast<uint32_t>(r->kind())) + ":" + std::to_string(r->seq());
  }
  return out;
}

std::string IndexRuns::EncodeManifest() const { return Encode(*Snapshot()); }

Result<std::vector<std::pair<RunKind, uint64_t>>> IndexRuns::ParseManifest(
    std::string_view manifest, const std::string& dir) {
  std::vector<std::pair<RunKind, uint64_t>> out;
  std::istringstream in{std::string(manifest)};
  std::string item;
  while (in >> item) {
    const auto colon = item.find(':');
    uint32_t kind_number = 0;
    uint64_t seq = 0;
    const char* end = item.data() + item.size();
    auto whole = [](const char* from, const char* to, auto& value) {
      const auto r = std::from_chars(from, to, value);
      return from < to && r.ec == std::errc() && r.ptr == to;
    };
    const bool parsed = colon != std::string::npos &&
                        whole(item.data(), item.data() + colon, kind_number) &&
                        whole(item.data() + colon + 1, end, seq);
    if (!parsed || (kind_number != static_cast<uint32_t>(RunKind::kStream) &&
                    kind_number != static_cast<uint32_t>(RunKind::kDedupe))) {
      return Error(ErrorCode::kCorruption,
                   "the index run manifest of " + dir + " has a malformed entry '" + item +
                       "'; restore the store from a snapshot ('strata restore') or run 'strata "
                       "check' to see what else is damaged");
    }
    out.emplace_back(static_cast<RunKind>(kind_number), seq);
  }
  return out;
}

Status IndexRuns::VerifyFile(const std::string& path, RunKind kind) {
  auto run = Run::Open(path, kind, 0);
  if (!run) return run.error();
  return OkStatus();
}

void IndexRuns::VerifyLive(
    const std::function<void(const std::string& path, uint64_t first, uint64_t last,
                             const Status& st)>& visit) const {
  for (const auto& r : *Snapshot()) {
    const std::string path = PathOf(r->kind(), r->seq());
    visit(path, r->min_position(), r->max_position(), r->Verify(path));
  }
}

std::string IndexRuns::RunPath(const std::string& dir, RunKind kind, uint64_t seq) {
  char name[48];
  std::snprintf(name, sizeof(name), "%s-%012llu.run",
                kind == RunKind::kStream ? "streams" : "dedupe",
                static_cast<unsigned long long>(seq));
  return (fs::path(dir) / name).string();
}

std::shared_ptr<const IndexRuns::RunSet> IndexRuns::Snapshot() const {
  std::lock_guard lock(set_mu_);
  return set_;
}

Status IndexRuns::Load(std::string_view manifest) {
  std::error_code ec;
  STRATA_TRY(env::CreateDirs(dir_));
  auto set = std::make_shared<RunSet>();
  std::set<std::string> live;
  uint64_t max_seq = 0;
  auto entries = ParseManifest(manifest, dir_);
  if (!entries) return entries.error();
  for (const auto& [kind, seq] : *entries) {
    auto run = Run::Open(PathOf(kind, seq), kind, seq);
    if (!run) return run.error();
    set->push_back(*run);
    live.insert(fs::path(PathOf(kind, seq)).filename().string());
    max_seq = std::max(max_seq, seq);
  }
  // Files of flushes or merges that a crash interrupted before their manifest was written.
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!live.count(entry.path().filename().string())) fs::remove(entry.path(), ec);
  }
  next_seq_.store(max_seq + 1);
  std::lock_guard lock(set_mu_);
  set_ = std::move(set);
  return OkStatus();
}

template <class E, class Less>
Result<std::shared_ptr<Run>> IndexRuns::WriteRun(RunKind kind, std::vector<E>& entries, Less less) {
  std::sort(entries.begin(), entries.end(), less);
  const uint64_t seq = next_seq_.fetch_add(1);
  auto w = RunFileWriter::Create(PathOf(kind, seq));
  if (!w) return w.error();
  uint64_t lo = UINT64_MAX, hi = 0;
  int64_t max_ts = 0;
  for (const auto& e : entries) {
    STRATA_TRY(w->Add(&e, sizeof(e)));
    lo = std::min(lo, e.position);
    hi = std::max(hi, e.position);
    if constexpr (std::is_same_v<E, DedupeIndexEntry>) max_ts = std::max(max_ts, e.recorded_ts);
  }
  STRATA_TRY(w->Finish(kind, sizeof(E), lo, hi, max_ts));
  return Run::Open(PathOf(kind, seq), kind, seq);
}

Result<IndexRuns::Pending> IndexRuns::WriteRuns(std::vector<StreamIndexEntry>& streams,
                                                std::vector<DedupeIndexEntry>& dedupe) {
  Pending p;
  auto add = [&](Result<std::shared_ptr<Run>> run) -> Status {
    if (!run) {
      Discard(p);  // a full disk: no half-written flush stays behind
      return run.error();
    }
    p.runs.push_back(std::move(*run));
    return OkStatus();
  };
  if (!streams.empty()) STRATA_TRY(add(WriteRun(RunKind::kStream, streams, StreamLess)));
  if (!dedupe.empty()) STRATA_TRY(add(WriteRun(RunKind::kDedupe, dedupe, DedupeLess)));
  if (!p.runs.empty()) {
    if (auto st = env::SyncDir(dir_); !st) {
      Discard(p);
      return st.error();
    }
  }
  return p;
}

void IndexRuns::Discard(const Pending& p) {
  std::error_code ec;
  for (const auto& r : p.runs) fs::remove(PathOf(r->kind(), r->seq()), ec);
}

std::string IndexRuns::ManifestWith(const Pending& p) const {
  RunSet set = *Snapshot();
  set.insert(set.end(), p.runs.begin(), p.runs.end());
  return Encode(set);
}

void IndexRuns::Publish(const Pending& p) {
  std::lock_guard lock(set_mu_);
  auto set = std::make_shared<RunSet>(*set_);
  set->insert(set->end(), p.runs.begin(), p.runs.end());
  set_ = std::move(set);
}

namespace {
// K-way merge of sorted runs of entries E into `w`, skipping entries `drop` rejects.
template <class E, class Less, class Drop>
Status MergeInto(const std::vector<std::shared_ptr<Run>>& inputs, RunFileWriter& w, Less less,
                 Drop drop, uint64_t* lo, uint64_t* hi, int64_t* max_ts) {
  std::vector<std::pair<const E*, const E*>> cursors;
  std::vector<const E*> dropped;
  for (const auto& r : inputs) {
    cursors.emplace_back(r->begin<E>(), r->end<E>());
    dropped.push_back(r->begin<E>());
  }
  constexpr size_t kDropEvery = (16u << 20) / sizeof(E);
  while (true) {
    for (size_t i = 0; i < cursors.size(); ++i) {
      if (static_cast<size_t>(cursors[i].first - dropped[i]) >= kDropEvery) {
        inputs[i]->DropPages(dropped[i], cursors[i].first);
        dropped[i] = cursors[i].first;
      }
    }
    int best = -1;
    for (int i = 0; i < static_cast<int>(cursors.size()); ++i) {
      if (cursors[i].first == cursors[i].second) continue;
      if (best < 0 || less(*cursors[i].first, *cursors[best].first)) best = i;
    }
    if (best < 0) {
      for (size_t i = 0; i < cursors.size(); ++i)
        inputs[i]->DropPages(dropped[i], cursors[i].second);
      return OkStatus();
    }
    const E* e = cursors[best].first++;
    if (drop(*e)) continue;
    STRATA_TRY(w.Add(e, sizeof(E)));
    *lo = std::min(*lo, e->position);
    *hi = std::max(*hi, e->position);
    if constexpr (std::is_same_v<E, DedupeIndexEntry>) *max_ts = std::max(*max_ts, e->recorded_ts);
  }
}
}  // namespace

namespace {
// A dedupe run whose newest entry is older than the window (the last such in `set`), or null.
std::shared_ptr<Run> ExpiredDedupeRun(const std::vector<std::shared_ptr<Run>>& set,
                                      int64_t expire_before) {
  std::shared_ptr<Run> expired;
  for (const auto& r : set) {
    if (r->kind() == RunKind::kDedupe && r->max_ts() < expire_before) expired = r;
  }
  return expired;
}

// Per kind, the smallest run with up to kFanIn - 1 others of at most kRatio times its size
// (size-tiered with fan-in 4: each entry is rewritten about log4(N) times, half as often as
// pairwise merging); empty when no kind has a tier worth merging.
std::vector<std::shared_ptr<Run>> PickMergeInputs(const std::vector<std::shared_ptr<Run>>& set) {
  constexpr size_t kFanIn = 4;
  constexpr uint64_t kRatio = 4;
  for (RunKind kind : {RunKind::kStream, RunKind::kDedupe}) {
    std::vector<std::shared_ptr<Run>> runs;
    for (const auto& r : set) {
      if (r->kind() == kind) runs.push_back(r);
    }
    if (runs.size() < 2) continue;
    std::sort(runs.begin(), runs.end(), [](auto& x, auto& y) { return x->count() < y->count(); });
    std::vector<std::shared_ptr<Run>> similar{runs[0]};
    for (size_t i = 1; i < runs.size() && similar.size() < kFanIn; ++i) {
      if (runs[i]->count() <= kRatio * runs[0]->count() + 1024) similar.push_back(runs[i]);
    }
    // Merge a full tier, or any two when runs pile up (many flushes of small runs).
    if (similar.size() >= kFanIn || (similar.size() >= 2 && runs.size() > 2 * kFanIn)) {
      return similar;
    }
  }
  return {};
}
}  // namespace

Result<std::shared_ptr<Run>> IndexRuns::WriteMergedRun(const RunSet& inputs,
                                                       int64_t expire_before) {
  const RunKind kind = inputs[0]->kind();
  uint64_t seq = next_seq_.fetch_add(1);
  auto w = RunFileWriter::Create(PathOf(kind, seq));
  if (!w) return w.error();
  uint64_t lo = UINT64_MAX, hi = 0;
  int64_t max_ts = 0;
  if (kind == RunKind::kStream) {
    STRATA_TRY(MergeInto<StreamIndexEntry>(
        inputs, *w, StreamLess, [](const StreamIndexEntry&) { return false; }, &lo, &hi, &max_ts));
    STRATA_TRY(w->Finish(kind, sizeof(StreamIndexEntry), lo, hi, 0));
  } else {
    STRATA_TRY(MergeInto<DedupeIndexEntry>(
        inputs, *w, DedupeLess,
        [&](const DedupeIndexEntry& e) { return e.recorded_ts < expire_before; }, &lo, &hi,
        &max_ts));
    STRATA_TRY(w->Finish(kind, sizeof(DedupeIndexEntry), lo, hi, max_ts));
  }
  STRATA_TRY(env::SyncDir(dir_));
  return Run::Open(PathOf(kind, seq), kind, seq);
}

Result<bool> IndexRuns::MergeOnce(const std::function<Status(const std::string&)>& persist) {
  auto snapshot = Snapshot();
  const int64_t expire_before = clock_->NowMicros() - window_us_;
  // 1. A dedupe run whose newest entry is older than the window goes as a whole.
  std::shared_ptr<Run> expired = ExpiredDedupeRun(*snapshot, expire_before);
  // 2. Otherwise, per kind, a tier of runs of similar size (PickMergeInputs).
  std::vector<std::shared_ptr<Run>> inputs;
  if (!expired) {
    inputs = PickMergeInputs(*snapshot);
    if (inputs.empty()) return false;
  }

  std::shared_ptr<Run> merged;
  std::error_code ec;
  if (!inputs.empty()) {
    auto run = WriteMergedRun(inputs, expire_before);
    if (!run) return run.error();
    merged = *run;
  }
  if (expired) inputs.push_back(expired);

  std::lock_guard manifest_lock(manifest_mu_);
  auto current = Snapshot();  // flushes may have added runs meanwhile
  auto next = std::make_shared<RunSet>();
  for (const auto& r : *current) {
    if (std::find(inputs.begin(), inputs.end(), r) == inputs.end()) next->push_back(r);
  }
  if (merged) next->push_back(merged);
  if (auto st = persist(Encode(*next)); !st) {
    if (merged) fs::remove(PathOf(merged->kind(), merged->seq()), ec);
    return st.error();
  }
  {
    std::lock_guard lock(set_mu_);
    set_ = next;
  }
  // Readers holding the old snapshot keep the mappings alive; the files can go now.
  for (const auto& r : inputs) fs::remove(PathOf(r->kind(), r->seq()), ec);
  return true;
}

std::vector<std::string> IndexRuns::LiveFiles() const {
  std::vector<std::string> out;
  for (const auto& r : *Snapshot()) out.push_back(PathOf(r->kind(), r->seq()));
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> IndexRuns::FindStream(uint64_t number, uint64_t from,
                                                                 uint64_t to) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto snapshot = Snapshot();
  StreamIndexEntry key{number, from, 0};
  for (const auto& r : *snapshot) {
    if (r->kind() != RunKind::kStream) continue;
    const auto* it =
        std::lower_bound(r->begin<StreamIndexEntry>(), r->end<StreamIndexEntry>(), key, StreamLess);
    for (; it != r->end<StreamIndexEntry>() && it->number == number && it->revision <= to; ++it) {
      out.emplace_back(it->revision, it->position);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<DedupeIndexEntry> IndexRuns::FindDedupe(uint64_t number, const Uuid& id) const {
  auto snapshot = Snapshot();
  DedupeIndexEntry key{number, id, 0, 0, 0};
  for (const auto& r : *snapshot) {
    if (r->kind() != RunKind::kDedupe) continue;
    const auto* it =
        std::lower_bound(r->begin<DedupeIndexEntry>(), r->end<DedupeIndexEntry>(), key, DedupeLess);
    if (it != r->end<DedupeIndexEntry>() && it->number == number && it->id == id) return *it;
  }
  return std::nullopt;
}

size_t IndexRuns::run_count() const { return Snapshot()->size(); }

uint64_t IndexRuns::entry_count(RunKind kind) const {
  uint64_t n = 0;
  for (const auto& r : *Snapshot()) {
    if (r->kind() == kind) n += r->count();
  }
  return n;
}

}  // namespace strata::storage
