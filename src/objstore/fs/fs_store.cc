#include "objstore/fs/fs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/crc32c.h"
#include "base/uuid.h"
#include "env/file.h"

namespace strata::objstore {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBufferSize = 64 << 10;
constexpr std::string_view kReserved = ".strata-";  // internal directories; not keys
constexpr const char* kTmpDir = ".strata-tmp";
constexpr const char* kMultipartDir = ".strata-multipart";

// Through the file seam: ENOSPC is disk-full, anything else io-error, both naming the path.
Error Errno(const std::string& what) {
  const int err = errno;
  const auto space = what.find(' ');
  return env::FromErrno(err, what.substr(0, space),
                        space == std::string::npos ? std::string() : what.substr(space + 1));
}

// Creates the directories of `path` below root (mkdir -p), fsyncing each new one's parent.
Status MakeParents(const std::string& root, const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.size() <= root.size()) return OkStatus();
  return env::CreateDirs(dir);
}

// Writes the whole source to `path` (created exclusively) and fdatasyncs it. Returns the CRC32C.
Result<uint32_t> WriteFile(const std::string& path, ByteSource& body) {
  auto file = env::WritableFile::Open(path, env::WritableFile::Mode::kExclusive, 0);
  if (!file) return file.error();
  auto fail = [&](Error e) {
    file->reset();
    ::unlink(path.c_str());
    return e;
  };
  if (auto st = body.Seek(0); !st) return fail(st.error());
  std::string buf(kBufferSize, '\0');
  uint32_t crc = 0;
  uint64_t total = 0;
  while (true) {
    auto n = body.Read(buf.data(), buf.size());
    if (!n) return fail(n.error());
    if (*n == 0) break;
    crc = crc32c::Extend(crc, buf.data(), *n);
    total += *n;
    if (auto st = (*file)->Append(std::string_view(buf.data(), *n)); !st) return fail(st.error());
  }
  if (total != body.size()) {
    return fail(Error(ErrorCode::kInternal, "a source gave " + std::to_string(total) +
                                                " bytes, not the " + std::to_string(body.size()) +
                                                " it announced"));
  }
  if (auto st = (*file)->Sync(); !st) return fail(st.error());
  if (auto st = (*file)->Close(); !st) return fail(st.error());
  return crc;
}

std::string Hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

class FsStore final : public ObjectStore {
 public:
  FsStore(std::string root, std::string url) : root_(std::move(root)), url_(std::move(url)) {}

  const std::string& url() const override { return url_; }

  Status Put(std::string_view key, ByteSource& body, const PutOptions& options) override {
    if (auto st = CheckKey(key); !st) return st;
    const std::string dst = Path(key);
    if (auto st = MakeParents(root_, dst); !st) return st;
    const std::string tmp = TempPath();
    auto crc = WriteFile(tmp, body);
    if (!crc) return crc.error();
    return Publish(tmp, dst, options.if_absent, key);
  }

  Status Get(std::string_view key, ByteRange range, const ByteSink& sink) override {
    if (auto st = CheckKey(key); !st) return st;
    const std::string path = Path(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? NotFound(key) : Errno("open " + path);
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return NotFound(key);
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (auto ok = CheckRange(key, range, size); !ok) {
      ::close(fd);
      return ok;
    }
    uint64_t at = range.offset;
    const uint64_t end = range.length ? std::min(size, at + *range.length) : size;
    std::string buf(kBufferSize, '\0');
    Status result = OkStatus();
    while (at < end && result) {
      ssize_t n =
          ::pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - at), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        result = n < 0 ? Errno("read " + path) : Error(ErrorCode::kIoError, path + " shrank");
        break;
      }
      at += static_cast<uint64_t>(n);
      result = sink(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    ::close(fd);
    return result;
  }

  Result<ObjectInfo> Head(std::string_view key) override {
    if (auto st = CheckKey(key); !st) return st.error();
    struct stat st;
    if (::stat(Path(key).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound(key);
    return Info(std::string(key), st);
  }

  Result<ListPage> List(std::string_view prefix, std::string_view page_token,
                        uint32_t max_keys) override {
    if (max_keys == 0) max_keys = 1000;
    // Walk only the deepest directory the prefix names completely.
    std::string dir_part(
        prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/') + 1));
    std::vector<std::pair<std::string, struct stat>> found;
    if (auto st = Walk(dir_part, prefix, page_token, &found); !st) return st.error();
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    ListPage page;
    for (auto& [key, st] : found) {
      if (page.objects.size() == max_keys) {
        page.next = page.objects.back().key;
        break;
      }
      page.objects.push_back(Info(std::move(key), st));
    }
    return page;
  }

  Status Delete(std::string_view key) override {
    if (auto st = CheckKey(key); !st) return st;
    const std::string path = Path(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return OkStatus();
      return Errno("unlink " + path);
    }
    if (auto st = env::SyncDir(fs::path(path).parent_path().string()); !st) return st;
    // Empty directories left behind are removed (best effort: a concurrent put may refill one).
    for (fs::path dir = fs::path(path).parent_path(); dir.string().size() > root_.size();
         dir = dir.parent_path()) {
      if (::rmdir(dir.c_str()) != 0) break;
    }
    return OkStatus();
  }

  Result<std::string> CreateMultipart(std::string_view key) override {
    if (auto st = CheckKey(key); !st) return st.error();
    std::string id = Uuid::Random().ToString();
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    const std::string dir = UploadDir(id);
    if (::mkdir(dir.c_str(), 0755) != 0) return Errno("mkdir " + dir);
    StringSource k(key);
    auto crc = WriteFile(dir + "/key", k);
    if (!crc) return crc.error();
    return id;
  }

  Result<std::string> UploadPart(std::string_view key, std::string_view upload_id, int part_number,
                                 ByteSource& body) override {
    if (part_number < 1 || part_number > 10000) {
      return Error(ErrorCode::kInvalidArgument, "part numbers are 1 to 10000");
    }
    auto dir = CheckUpload(key, upload_id);
    if (!dir) return dir.error();
    const std::string tmp = TempPath();
    auto crc = WriteFile(tmp, body);
    if (!crc) return crc.error();
    const std::string part = PartPath(*dir, part_number);
    if (::rename(tmp.c_str(), part.c_str()) != 0) return Errno("rename " + tmp);
    return PartEtag(*crc, body.size());
  }

  Status CompleteMultipart(std::string_view key, std::string_view upload_id,
                           const std::vector<PartInfo>& parts) override {
    auto dir = CheckUpload(key, upload_id);
    if (!dir) return dir.error();
    if (parts.empty()) {
      return Error(ErrorCode::kInvalidArgument, "a multipart upload needs at least one part");
    }
    // Order, presence and sizes are checked before writing; each part's etag while the parts are
    // copied (one read of every byte), before the object is published.
    ConcatSource all;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0 && parts[i].number <= parts[i - 1].number) {
        return Error(ErrorCode::kInvalidArgument, "multipart parts must be in ascending order");
      }
      auto src = FileSource::Open(PartPath(*dir, parts[i].number));
      if (!src) {
        return Error(ErrorCode::kInvalidArgument,
                     "part " + std::to_string(parts[i].number) + " was never uploaded");
      }
      if (i + 1 < parts.size() && (*src)->size() < kMinPartSize) {
        return Error(ErrorCode::kInvalidArgument, "part " + std::to_string(parts[i].number) +
                                                      " is " + std::to_string((*src)->size()) +
                                                      " bytes; every part but the last needs " +
                                                      std::to_string(kMinPartSize));
      }
      all.Add(std::move(*src));
    }
    const std::string dst = Path(key);
    if (auto st = MakeParents(root_, dst); !st) return st;
    const std::string tmp = TempPath();
    auto crc = WriteFile(tmp, all);
    if (!crc) return crc.error();
    for (size_t i = 0; i < parts.size(); ++i) {
      if (PartEtag(all.crc(i), all.part_size(i)) != parts[i].etag) {
        ::unlink(tmp.c_str());
        return Error(ErrorCode::kInvalidArgument,
                     "part " + std::to_string(parts[i].number) + " has another etag");
      }
    }
    if (auto st = Publish(tmp, dst, false, key); !st) return st;
    std::error_code ec;
    fs::remove_all(*dir, ec);
    return OkStatus();
  }

  Status AbortMultipart(std::string_view key, std::string_view upload_id) override {
    auto dir = CheckUpload(key, upload_id);
    if (!dir) return dir.error();
    std::error_code ec;
    fs::remove_all(*dir, ec);
    if (ec) return Error(ErrorCode::kIoError, "remove " + *dir + ": " + ec.message());
    return OkStatus();
  }

  Status Init() {
    std::error_code ec;
    fs::create_directories(root_ + "/" + kTmpDir, ec);
    if (!ec) fs::create_directories(root_ + "/" + kMultipartDir, ec);
    if (ec) {
      return Error(ErrorCode::kIoError,
                   "cannot create the object store directory " + root_ + ": " + ec.message());
    }
    // Temporary files of puts interrupted by a crash are garbage; an hour's age tells them from
    // the puts of another process using the same directory now.
    const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
    for (auto& e : fs::directory_iterator(root_ + "/" + kTmpDir, ec)) {
      if (e.last_write_time(ec) < cutoff) fs::remove(e.path(), ec);
    }
    return OkStatus();
  }

 private:
  // The concatenation of files, for completing a multipart upload without buffering it; keeps
  // each file's CRC32C as it is read.
  class ConcatSource final : public ByteSource {
   public:
    void Add(std::unique_ptr<FileSource> part) {
      size_ += part->size();
      parts_.push_back(std::move(part));
      crcs_.push_back(0);
    }
    uint32_t crc(size_t i) const { return crcs_[i]; }
    uint64_t part_size(size_t i) const { return parts_[i]->size(); }
    uint64_t size() const override { return size_; }
    Result<size_t> Read(char* buf, size_t cap) override {
      while (i_ < parts_.size()) {
        auto n = parts_[i_]->Read(buf, cap);
        if (!n) return n;
        if (*n > 0) {
          crcs_[i_] = crc32c::Extend(crcs_[i_], buf, *n);
          return n;
        }
        ++i_;
      }
      return size_t{0};
    }
    Status Seek(uint64_t offset) override {
      if (offset != 0) return Error(ErrorCode::kInternal, "ConcatSource seeks only to 0");
      i_ = 0;
      for (size_t i = 0; i < parts_.size(); ++i) {
        crcs_[i] = 0;
        if (auto st = parts_[i]->Seek(0); !st) return st;
      }
      return OkStatus();
    }

   private:
    std::vector<std::unique_ptr<FileSource>> parts_;
    std::vector<uint32_t> crcs_;
    uint64_t size_ = 0;
    size_t i_ = 0;
  };

  static std::string PartEtag(uint32_t crc, uint64_t size) {
    return Hex((static_cast<uint64_t>(crc) << 32) ^ size);
  }

  Status CheckKey(std::string_view key) const {
    if (auto st = ValidateKey(key); !st) return st;
    if (key.starts_with(kReserved)) {
      return Error(ErrorCode::kInvalidArgument,
                   "object keys starting with '.strata-' are reserved by the fs store");
    }
    return OkStatus();
  }

  Error NotFound(std::string_view key) const {
    return Error(ErrorCode::kObjectNotFound, "no object '" + std::string(key) + "' in " + url_);
  }

  static Status CheckRange(std::string_view key, const ByteRange& range, uint64_t size) {
    if (range.offset > 0 && range.offset >= size) {
      return Error(ErrorCode::kInvalidArgument,
                   "range starts at byte " + std::to_string(range.offset) + " of '" +
                       std::string(key) + "', which has " + std::to_string(size));
    }
    return OkStatus();
  }

  std::string Path(std::string_view key) const { return root_ + "/" + std::string(key); }
  std::string TempPath() { return root_ + "/" + kTmpDir + "/" + Uuid::Random().ToString(); }
  std::string UploadDir(std::string_view id) const {
    return root_ + "/" + kMultipartDir + "/" + std::string(id);
  }
  static std::string PartPath(const std::string& dir, int number) {
    char b[16];
    std::snprintf(b, sizeof b, "/part-%05d", number);
    return dir + b;
  }

  Result<std::string> CheckUpload(std::string_view key, std::string_view upload_id) {
    auto no = [&] {
      return Error(ErrorCode::kObjectNotFound, "no multipart upload '" + std::string(upload_id) +
                                                   "' for '" + std::string(key) + "' in " + url_);
    };
    if (upload_id.empty() || upload_id.find('/') != std::string_view::npos ||
        upload_id.find('.') != std::string_view::npos) {
      return no();
    }
    std::string dir = UploadDir(upload_id);
    auto stored = FileSource::Open(dir + "/key");
    if (!stored) return no();
    std::string k((*stored)->size(), '\0');
    auto n = (*stored)->Read(k.data(), k.size());
    if (!n || *n != k.size() || k != key) return no();
    return dir;
  }

  Status Publish(const std::string& tmp, const std::string& dst, bool if_absent,
                 std::string_view key) {
    if (if_absent) {
      // link(2) fails if dst exists: an atomic create-if-absent.
      int rc = ::link(tmp.c_str(), dst.c_str());
      int err = errno;
      ::unlink(tmp.c_str());
      if (rc != 0) {
        if (err == EEXIST) {
          return Error(ErrorCode::kAlreadyExists,
                       "object '" + std::string(key) + "' already exists in " + url_);
        }
        errno = err;
        return Errno("link " + dst);
      }
    } else if (::rename(tmp.c_str(), dst.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      errno = err;
      return Errno("rename to " + dst);
    }
    return env::SyncDir(fs::path(dst).parent_path().string());
  }

  static ObjectInfo Info(std::string key, const struct stat& st) {
    ObjectInfo o;
    o.key = std::move(key);
    o.size = static_cast<uint64_t>(st.st_size);
    o.etag = Hex(static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ull +
                 static_cast<uint64_t>(st.st_mtim.tv_nsec)) +
             Hex(static_cast<uint64_t>(st.st_ino));
    return o;
  }

  // Collects the regular files under root/dir whose keys start with `prefix` and sort after
  // `after`.
  Status Walk(const std::string& dir, std::string_view prefix, std::string_view after,
              std::vector<std::pair<std::string, struct stat>>* out) {
    const std::string path = dir.empty() ? root_ : root_ + "/" + dir.substr(0, dir.size() - 1);
    DIR* d = ::opendir(path.c_str());
    if (!d) return errno == ENOENT || errno == ENOTDIR ? OkStatus() : Errno("opendir " + path);
    Status result = OkStatus();
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || (dir.empty() && name.starts_with(kReserved))) continue;
      std::string key = dir + name;
      struct stat st;
      if (::stat((path + "/" + name).c_str(), &st) != 0) continue;  // removed meanwhile
      if (S_ISDIR(st.st_mode)) {
        std::string sub = key + "/";
        // Descend only where keys with the prefix can be.
        if (sub.starts_with(prefix) || prefix.starts_with(sub)) {
          result = Walk(sub, prefix, after, out);
          if (!result) break;
        }
      } else if (S_ISREG(st.st_mode) && key.starts_with(prefix) && key > after) {
        out->emplace_back(std::move(key), st);
      }
    }
    ::closedir(d);
    return result;
  }

  std::string root_, url_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenFsStore(const std::string& root, std::string url) {
  auto store = std::make_unique<FsStore>(root, std::move(url));
  if (auto st = store->Init(); !st) return st.error();
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace strata::objstore
