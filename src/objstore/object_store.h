#pragma once

// ObjectStore: the one small interface the cold tier and snapshots need from object storage,
// with a local-directory implementation (fs/, the embedded default) and S3 (s3/, libcurl with
// its SigV4 signing). A store is named by a URL: file:///path or s3://bucket/prefix.
//
// Keys are relative to the store's root (the directory, or the bucket plus prefix): non-empty
// '/'-separated names without empty, "." or ".." segments. Every call is thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace strata::objstore {

struct ObjectInfo {
  std::string key;  // relative to the store's root
  uint64_t size = 0;
  std::string etag;  // opaque; changes when the content does
};

struct ListPage {
  std::vector<ObjectInfo> objects;  // in key order
  std::string next;                 // pass to List for the next page; empty on the last page
};

// [offset, offset + length), or to the end when length is unset.
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

// The body of a put, pulled in order. Seek lets a store retry a transfer or send a window of it.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Up to `cap` bytes into `buf`; 0 only at the end.
  virtual Result<size_t> Read(char* buf, size_t cap) = 0;
  virtual Status Seek(uint64_t offset) = 0;
};

// Bytes in memory (not owned).
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  Result<size_t> Read(char* buf, size_t cap) override;
  Status Seek(uint64_t offset) override;

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

// A byte range of a file, read with pread.
class FileSource final : public ByteSource {
 public:
  // The whole file when `length` is unset.
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path, uint64_t offset = 0,
                                                  std::optional<uint64_t> length = std::nullopt);
  ~FileSource() override;
  uint64_t size() const override { return length_; }
  Result<size_t> Read(char* buf, size_t cap) override;
  Status Seek(uint64_t offset) override;

 private:
  FileSource(int fd, std::string path, uint64_t offset, uint64_t length)
      : fd_(fd), path_(std::move(path)), offset_(offset), length_(length) {}
  int fd_;
  std::string path_;
  uint64_t offset_, length_, at_ = 0;
};

// A window [offset, offset + length) of another source (a part of a multipart upload).
class SliceSource final : public ByteSource {
 public:
  SliceSource(ByteSource& base, uint64_t offset, uint64_t length)
      : base_(base), offset_(offset), length_(length) {}
  uint64_t size() const override { return length_; }
  Result<size_t> Read(char* buf, size_t cap) override;
  Status Seek(uint64_t offset) override;

 private:
  ByteSource& base_;
  uint64_t offset_, length_, at_ = 0;
  bool positioned_ = false;
};

// Receives a get's bytes in order; an error stops the transfer and is returned by Get.
using ByteSink = std::function<Status(std::string_view chunk)>;

struct PartInfo {
  int number = 0;  // 1..10000
  std::string etag;
};

struct PutOptions {
  bool if_absent = false;  // fail with kAlreadyExists instead of replacing an existing object
};

// S3's smallest part but the last; both stores enforce it so tests catch misuse on either.
inline constexpr uint64_t kMinPartSize = 5 << 20;

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The URL this store was opened from (no credentials), for messages.
  virtual const std::string& url() const = 0;

  // Creates or replaces `key` with the source's bytes, atomically: readers see the old object
  // or the whole new one.
  virtual Status Put(std::string_view key, ByteSource& body, const PutOptions& options = {}) = 0;
  // Streams the range of `key` to `sink`. kObjectNotFound if absent; kInvalidArgument if the
  // range starts past the end.
  virtual Status Get(std::string_view key, ByteRange range, const ByteSink& sink) = 0;
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  // Keys starting with `prefix`, in key order, at most `max_keys` per page.
  virtual Result<ListPage> List(std::string_view prefix, std::string_view page_token,
                                uint32_t max_keys = 1000) = 0;
  // Removes `key`; removing an absent key succeeds.
  virtual Status Delete(std::string_view key) = 0;

  // Multipart upload: parts of at least kMinPartSize (but the last), completed into one object
  // atomically, or aborted. An unknown upload id is kObjectNotFound.
  virtual Result<std::string> CreateMultipart(std::string_view key) = 0;
  virtual Result<std::string> UploadPart(std::string_view key, std::string_view upload_id,
                                         int part_number, ByteSource& body) = 0;
  virtual Status CompleteMultipart(std::string_view key, std::string_view upload_id,
                                   const std::vector<PartInfo>& parts) = 0;
  virtual Status AbortMultipart(std::string_view key, std::string_view upload_id) = 0;
};

// Settings of the s3 store; empty fields are filled from AWS_ENDPOINT_URL, AWS_REGION (or
// AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
struct S3Config {
  std::string endpoint;  // http(s)://host[:port]; default https://s3.REGION.amazonaws.com
  std::string region;    // default us-east-1
  std::string access_key, secret_key, session_token;
  bool virtual_host = false;  // bucket.host addressing instead of host/bucket
  // How long one call keeps retrying transient failures (timeouts, 5xx, throttling).
  std::chrono::milliseconds retry_deadline{30'000};
  // A transfer that moves less than 1 byte/s for this long is abandoned (and retried).
  std::chrono::milliseconds stall_timeout{30'000};
};

// Opens the store `url` names: file:///absolute/path (created if missing) or
// s3://bucket[/prefix]. kInvalidArgument for anything else, with what would work.
Result<std::unique_ptr<ObjectStore>> Open(std::string_view url, const S3Config& s3 = {});

// Conveniences over the interface.
Result<std::string> GetString(ObjectStore& store, std::string_view key, ByteRange range = {});
Status PutString(ObjectStore& store, std::string_view key, std::string_view bytes,
                 const PutOptions& options = {});
// Every key under `prefix`, following pages.
Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix);
// Uploads `body` as one put when it is at most `part_size`, else as a multipart upload of
// `part_size` parts (aborted if any step fails). Buffers nothing itself: memory is the store's
// transfer buffer. `progress` (optional) is told the bytes sent so far after each part.
Status Upload(ObjectStore& store, std::string_view key, ByteSource& body,
              uint64_t part_size = 16 << 20,
              const std::function<void(uint64_t)>& progress = nullptr);

// Checks a key against the rules above; the error says what is wrong with it.
Status ValidateKey(std::string_view key);

}  // namespace strata::objstore
