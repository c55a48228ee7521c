#include "objstore/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "objstore/fs/fs_store.h"
#include "objstore/s3/s3_store.h"

namespace strata::objstore {

Result<size_t> StringSource::Read(char* buf, size_t cap) {
  size_t n = std::min(cap, bytes_.size() - at_);
  std::memcpy(buf, bytes_.data() + at_, n);
  at_ += n;
  return n;
}

Status StringSource::Seek(uint64_t offset) {
  if (offset > bytes_.size()) return Error(ErrorCode::kInternal, "seek past the end of a source");
  at_ = offset;
  return OkStatus();
}

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path, uint64_t offset,
                                                     std::optional<uint64_t> length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error(ErrorCode::kIoError, "cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Error(ErrorCode::kIoError, "cannot stat " + path + ": " + std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || (length && *length > size - offset)) {
    ::close(fd);
    return Error(ErrorCode::kInternal, "range past the end of " + path);
  }
  return std::unique_ptr<FileSource>(
      new FileSource(fd, path, offset, length.value_or(size - offset)));
}

FileSource::~FileSource() { ::close(fd_); }

Result<size_t> FileSource::Read(char* buf, size_t cap) {
  size_t want = static_cast<size_t>(std::min<uint64_t>(cap, length_ - at_));
  while (want > 0) {
    ssize_t n = ::pread(fd_, buf, want, static_cast<off_t>(offset_ + at_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kIoError, "read " + path_ + ": " + std::strerror(errno));
    if (n == 0) return Error(ErrorCode::kIoError, path_ + " shrank while being uploaded");
    at_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
  return size_t{0};
}

Status FileSource::Seek(uint64_t offset) {
  if (offset > length_) return Error(ErrorCode::kInternal, "seek past the end of " + path_);
  at_ = offset;
  return OkStatus();
}

Result<size_t> SliceSource::Read(char* buf, size_t cap) {
  if (!positioned_) {
    if (auto st = base_.Seek(offset_ + at_); !st) return st.error();
    positioned_ = true;
  }
  size_t want = static_cast<size_t>(std::min<uint64_t>(cap, length_ - at_));
  if (want == 0) return size_t{0};
  auto n = base_.Read(buf, want);
  if (!n) return n;
  if (*n == 0) return Error(ErrorCode::kInternal, "a source ended inside its slice");
  at_ += *n;
  return n;
}

Status SliceSource::Seek(uint64_t offset) {
  if (offset > length_) return Error(ErrorCode::kInternal, "seek past the end of a slice");
  at_ = offset;
  positioned_ = false;
  return OkStatus();
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return Error(ErrorCode::kInvalidArgument, "an object key cannot be empty");
  if (key.size() > 1024) {
    return Error(ErrorCode::kInvalidArgument,
                 "object key of " + std::to_string(key.size()) + " bytes; at most 1024");
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view seg = key.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") {
      return Error(ErrorCode::kInvalidArgument,
                   "object key '" + std::string(key) +
                       "' has an empty, '.' or '..' segment; use names like 'a/b/c'");
    }
    start = end + 1;
  }
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Error(ErrorCode::kInvalidArgument, "object key contains a control character");
    }
  }
  return OkStatus();
}

Result<std::unique_ptr<ObjectStore>> Open(std::string_view url, const S3Config& s3) {
  constexpr std::string_view kFile = "file://", kS3 = "s3://";
  if (url.starts_with(kFile)) {
    std::string path(url.substr(kFile.size()));
    if (path.empty() || path[0] != '/') {
      return Error(ErrorCode::kInvalidArgument,
                   "a file object store needs an absolute path: file:///var/lib/strata/cold "
                   "(three slashes); got '" +
                       std::string(url) + "'");
    }
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return OpenFsStore(path, std::string(url));
  }
  if (url.starts_with(kS3)) {
    std::string_view rest = url.substr(kS3.size());
    size_t slash = rest.find('/');
    std::string bucket(rest.substr(0, slash));
    std::string prefix(slash == std::string_view::npos ? "" : rest.substr(slash + 1));
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (bucket.size() < 3 || bucket.size() > 63) {
      return Error(ErrorCode::kInvalidArgument,
                   "S3 bucket names are 3 to 63 characters: s3://my-bucket/prefix; got '" +
                       std::string(url) + "'");
    }
    if (!prefix.empty()) {
      if (auto st = ValidateKey(prefix); !st) {
        return Error(ErrorCode::kInvalidArgument,
                     "the prefix of '" + std::string(url) + "': " + st.error().message());
      }
      prefix += '/';
    }
    return OpenS3Store(bucket, prefix, s3, std::string(url));
  }
  return Error(ErrorCode::kInvalidArgument,
               "unknown object store URL '" + std::string(url) +
                   "'; use file:///absolute/path or s3://bucket/prefix");
}

Result<std::string> GetString(ObjectStore& store, std::string_view key, ByteRange range) {
  std::string out;
  auto st = store.Get(key, range, [&](std::string_view chunk) {
    out.append(chunk);
    return OkStatus();
  });
  if (!st) return st.error();
  return out;
}

Status PutString(ObjectStore& store, std::string_view key, std::string_view bytes,
                 const PutOptions& options) {
  StringSource src(bytes);
  return store.Put(key, src, options);
}

Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix) {
  std::vector<ObjectInfo> all;
  std::string token;
  do {
    auto page = store.List(prefix, token);
    if (!page) return page.error();
    for (auto& o : page->objects) all.push_back(std::move(o));
    token = std::move(page->next);
  } while (!token.empty());
  return all;
}

Status Upload(ObjectStore& store, std::string_view key, ByteSource& body, uint64_t part_size,
              const std::function<void(uint64_t)>& progress) {
  if (part_size < kMinPartSize) {
    return Error(ErrorCode::kInvalidArgument,
                 "multipart parts must be at least " + std::to_string(kMinPartSize) + " bytes");
  }
  const uint64_t size = body.size();
  if (size <= part_size) {
    if (auto st = body.Seek(0); !st) return st;
    auto st = store.Put(key, body);
    if (st && progress) progress(size);
    return st;
  }
  auto id = store.CreateMultipart(key);
  if (!id) return id.error();
  std::vector<PartInfo> parts;
  Status result = OkStatus();
  for (uint64_t off = 0; off < size && result; off += part_size) {
    SliceSource part(body, off, std::min(part_size, size - off));
    int number = static_cast<int>(parts.size()) + 1;
    auto etag = store.UploadPart(key, *id, number, part);
    if (!etag) {
      result = etag.error();
      break;
    }
    parts.push_back({number, std::move(*etag)});
    if (progress) progress(off + part.size());
  }
  if (result) result = store.CompleteMultipart(key, *id, parts);
  if (!result) IgnoreError(store.AbortMultipart(key, *id));  // best effort; the error is `result`
  return result;
}

}  // namespace strata::objstore
