#include "storage/index_runs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <type_traits>

#include "base/coding.h"
#include "base/crc32c.h"

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

// Buffered, checksummed writer of one run file (written to .tmp, then renamed).
class RunFileWriter {
 public:
  static Result<RunFileWriter> Create(const std::string& path) {
    RunFileWriter w;
    w.path_ = path;
    w.fd_ = ::open((path + ".tmp").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd_ < 0) return IoError("creating index run " + path);
    w.buf_.reserve(1 << 20);
    w.buf_.resize(kHeaderBytes);
    return w;
  }
  RunFileWriter(RunFileWriter&& o) noexcept { *this = std::move(o); }
  RunFileWriter& operator=(RunFileWriter&& o) noexcept {
    std::swap(fd_, o.fd_);
    path_ = std::move(o.path_);
    buf_ = std::move(o.buf_);
    crc_ = o.crc_;
    count_ = o.count_;
    written_ = o.written_;
    return *this;
  }
  RunFileWriter() = default;
  ~RunFileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Add(const void* entry, size_t size) {
    crc_ = crc32c::Extend(crc_, static_cast<const char*>(entry), size);
    buf_.append(static_cast<const char*>(entry), size);
    ++count_;
    if (buf_.size() >= (1u << 20)) return Drain();
    return OkStatus();
  }

  // Writes the header, syncs, and renames into place.
  Status Finish(RunKind kind, uint32_t entry_size, uint64_t min_pos, uint64_t max_pos,
                int64_t max_ts) {
    STRATA_TRY(Drain());
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
    if (::pwrite(fd_, h, kHeaderBytes, 0) != static_cast<ssize_t>(kHeaderBytes)) {
      return IoError("writing index run header " + path_);
    }
    if (::fdatasync(fd_) != 0) return IoError("syncing index run " + path_);
    ::close(fd_);
    fd_ = -1;
    if (::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0) {
      return IoError("renaming index run " + path_);
    }
    return OkStatus();
  }
  uint64_t count() const { return count_; }

 private:
  Status Drain() {
    size_t off = 0;
    while (off < buf_.size()) {
      ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("writing index run " + path_);
      }
      off += static_cast<size_t>(n);
    }
    // Start writeback now rather than all at once at fdatasync, which would stall the WAL
    // syncs of the append path behind a burst of dirty pages.
    ::sync_file_range(fd_, written_, buf_.size(), SYNC_FILE_RANGE_WRITE);
    written_ += buf_.size();
    buf_.clear();
    return OkStatus();
  }
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string path_;
  std::string buf_;
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
};

}  // namespace

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("opening " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return IoError("syncing " + dir);
  return OkStatus();
}

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
    auto corrupt = [&](const std::string& why) {
      return Error(ErrorCode::kCorruption,
                   "index run " + path + " is corrupt (" + why +
                       "); delete the shard's index directory and its manifest to rebuild it "
                       "from the log");
    };
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

std::string IndexRuns::PathOf(RunKind kind, uint64_t seq) const {
  char name[48];
  std::snprintf(name, sizeof(name), "%s-%012llu.run",
                kind == RunKind::kStream ? "streams" : "dedupe",
                static_cast<unsigned long long>(seq));
  return (fs::path(dir_) / name).string();
}

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

std::shared_ptr<const IndexRuns::RunSet> IndexRuns::Snapshot() const {
  std::lock_guard lock(set_mu_);
  return set_;
}

Status IndexRuns::Load(std::string_view manifest) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Error(ErrorCode::kIoError, "creating " + dir_ + ": " + ec.message());
  auto set = std::make_shared<RunSet>();
  std::set<std::string> live;
  std::istringstream in{std::string(manifest)};
  std::string item;
  uint64_t max_seq = 0;
  while (in >> item) {
    auto colon = item.find(':');
    if (colon == std::string::npos) {
      return Error(ErrorCode::kCorruption, "index manifest entry '" + item + "' is malformed");
    }
    auto kind = static_cast<RunKind>(std::stoul(item.substr(0, colon)));
    uint64_t seq = std::stoull(item.substr(colon + 1));
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

Result<IndexRuns::Pending> IndexRuns::WriteRuns(std::vector<StreamIndexEntry>& streams,
                                                std::vector<DedupeIndexEntry>& dedupe) {
  Pending p;
  if (!streams.empty()) {
    std::sort(streams.begin(), streams.end(), StreamLess);
    uint64_t seq = next_seq_.fetch_add(1);
    auto w = RunFileWriter::Create(PathOf(RunKind::kStream, seq));
    if (!w) return w.error();
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const auto& e : streams) {
      STRATA_TRY(w->Add(&e, sizeof(e)));
      lo = std::min(lo, e.position);
      hi = std::max(hi, e.position);
    }
    STRATA_TRY(w->Finish(RunKind::kStream, sizeof(StreamIndexEntry), lo, hi, 0));
    auto run = Run::Open(PathOf(RunKind::kStream, seq), RunKind::kStream, seq);
    if (!run) return run.error();
    p.runs.push_back(*run);
  }
  if (!dedupe.empty()) {
    std::sort(dedupe.begin(), dedupe.end(), DedupeLess);
    uint64_t seq = next_seq_.fetch_add(1);
    auto w = RunFileWriter::Create(PathOf(RunKind::kDedupe, seq));
    if (!w) return w.error();
    uint64_t lo = UINT64_MAX, hi = 0;
    int64_t max_ts = 0;
    for (const auto& e : dedupe) {
      STRATA_TRY(w->Add(&e, sizeof(e)));
      lo = std::min(lo, e.position);
      hi = std::max(hi, e.position);
      max_ts = std::max(max_ts, e.recorded_ts);
    }
    STRATA_TRY(w->Finish(RunKind::kDedupe, sizeof(DedupeIndexEntry), lo, hi, max_ts));
    auto run = Run::Open(PathOf(RunKind::kDedupe, seq), RunKind::kDedupe, seq);
    if (!run) return run.error();
    p.runs.push_back(*run);
  }
  if (!p.runs.empty()) STRATA_TRY(SyncDir(dir_));
  return p;
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

Result<bool> IndexRuns::MergeOnce(const std::function<Status(const std::string&)>& persist) {
  auto snapshot = Snapshot();
  const int64_t expire_before = clock_->NowMicros() - window_us_;
  // 1. A dedupe run whose newest entry is older than the window goes as a whole.
  std::shared_ptr<Run> expired;
  for (const auto& r : *snapshot) {
    if (r->kind() == RunKind::kDedupe && r->max_ts() < expire_before) expired = r;
  }
  // 2. Otherwise, per kind, the smallest run with up to kFanIn - 1 others of at most
  //    kRatio times its size (size-tiered with fan-in 4: each entry is rewritten about
  //    log4(N) times, half as often as pairwise merging).
  constexpr size_t kFanIn = 4;
  constexpr uint64_t kRatio = 4;
  std::vector<std::shared_ptr<Run>> inputs;
  if (!expired) {
    for (RunKind kind : {RunKind::kStream, RunKind::kDedupe}) {
      std::vector<std::shared_ptr<Run>> runs;
      for (const auto& r : *snapshot) {
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
        inputs = std::move(similar);
        break;
      }
    }
    if (inputs.empty()) return false;
  }

  std::shared_ptr<Run> merged;
  if (!inputs.empty()) {
    const RunKind kind = inputs[0]->kind();
    uint64_t seq = next_seq_.fetch_add(1);
    auto w = RunFileWriter::Create(PathOf(kind, seq));
    if (!w) return w.error();
    uint64_t lo = UINT64_MAX, hi = 0;
    int64_t max_ts = 0;
    if (kind == RunKind::kStream) {
      STRATA_TRY(MergeInto<StreamIndexEntry>(
          inputs, *w, StreamLess, [](const StreamIndexEntry&) { return false; }, &lo, &hi,
          &max_ts));
      STRATA_TRY(w->Finish(kind, sizeof(StreamIndexEntry), lo, hi, 0));
    } else {
      STRATA_TRY(MergeInto<DedupeIndexEntry>(
          inputs, *w, DedupeLess,
          [&](const DedupeIndexEntry& e) { return e.recorded_ts < expire_before; }, &lo, &hi,
          &max_ts));
      STRATA_TRY(w->Finish(kind, sizeof(DedupeIndexEntry), lo, hi, max_ts));
    }
    STRATA_TRY(SyncDir(dir_));
    auto run = Run::Open(PathOf(kind, seq), kind, seq);
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
  STRATA_TRY(persist(Encode(*next)));
  {
    std::lock_guard lock(set_mu_);
    set_ = next;
  }
  // Readers holding the old snapshot keep the mappings alive; the files can go now.
  std::error_code ec;
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
