#include "objstore/s3/s3_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <pugixml.hpp>
#include <thread>
#include <utility>

#include "base/retry.h"

namespace strata::objstore {
namespace {

using Clock = std::chrono::steady_clock;
constexpr long kTransferBuffer = 64 << 10;  // curl's upload and download buffers
constexpr size_t kMaxResponseBody = 16 << 20;
// Pauses between attempts of one request, until S3Config::retry_deadline.
constexpr BackoffPolicy kRetryBackoff{
    .min = std::chrono::milliseconds(100), .max = std::chrono::milliseconds(5000), .jitter = true};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// RFC 3986 percent-encoding; '/' kept in paths (S3 signs the path encoded once).
std::string Encode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

struct Request {
  const char* method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string key;             // relative to the store's prefix; empty for the bucket
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> headers;
  ByteSource* body = nullptr;      // PUT
  std::string post;                // POST
  const ByteSink* sink = nullptr;  // GET: where a 2xx body goes
  std::optional<ByteRange> range;  // GET
};

struct Response {
  long status = 0;
  std::string body;                                          // unless streamed to the sink
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string Header(std::string_view name) const {
    for (auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

// What an S3 error document says.
struct S3Error {
  std::string code, message;
};
S3Error ParseError(const std::string& body) {
  pugi::xml_document doc;
  S3Error e;
  if (doc.load_buffer(body.data(), body.size())) {
    auto err = doc.child("Error");
    e.code = err.child_value("Code");
    e.message = err.child_value("Message");
  }
  return e;
}

bool Retryable(long status, const S3Error& e) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 ||
         e.code == "SlowDown" || e.code == "RequestTimeout" || e.code == "InternalError";
}

bool RetryableCurl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

class S3Store final : public ObjectStore {
 public:
  S3Store(std::string bucket, std::string prefix, S3Config config, std::string url)
      : bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        cfg_(std::move(config)),
        url_(std::move(url)),
        sigv4_("aws:amz:" + cfg_.region + ":s3") {
    std::string ep = cfg_.endpoint;
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    if (cfg_.virtual_host) {
      auto scheme = ep.find("://");
      base_ = ep.substr(0, scheme + 3) + bucket_ + "." + ep.substr(scheme + 3) + "/";
    } else {
      base_ = ep + "/" + bucket_ + "/";
    }
  }
  ~S3Store() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  const std::string& url() const override { return url_; }

  Status Put(std::string_view key, ByteSource& body, const PutOptions& options) override {
    if (auto st = ValidateKey(key); !st) return st;
    Request r;
    r.method = "PUT";
    r.key = key;
    r.body = &body;
    if (options.if_absent) r.headers.push_back("If-None-Match: *");
    auto resp = Perform(r);
    if (!resp) return resp.error();
    return OkStatus();
  }

  Status Get(std::string_view key, ByteRange range, const ByteSink& sink) override {
    if (auto st = ValidateKey(key); !st) return st;
    if (range.length && *range.length == 0) return OkStatus();
    Request r;
    r.key = key;
    r.sink = &sink;
    if (range.offset > 0 || range.length) r.range = range;
    auto resp = Perform(r);
    if (!resp) return resp.error();
    return OkStatus();
  }

  Result<ObjectInfo> Head(std::string_view key) override {
    if (auto st = ValidateKey(key); !st) return st.error();
    Request r;
    r.method = "HEAD";
    r.key = key;
    auto resp = Perform(r);
    if (!resp) return resp.error();
    ObjectInfo o;
    o.key = key;
    o.size = std::strtoull(resp->Header("content-length").c_str(), nullptr, 10);
    o.etag = Unquote(resp->Header("etag"));
    return o;
  }

  Result<ListPage> List(std::string_view prefix, std::string_view page_token,
                        uint32_t max_keys) override {
    Request r;
    r.query = {{"list-type", "2"},
               {"max-keys", std::to_string(max_keys == 0 ? 1000 : max_keys)},
               {"prefix", prefix_ + std::string(prefix)}};
    if (!page_token.empty()) r.query.emplace_back("continuation-token", page_token);
    auto resp = Perform(r);
    if (!resp) return resp.error();
    pugi::xml_document doc;
    if (!doc.load_buffer(resp->body.data(), resp->body.size())) {
      return Error(ErrorCode::kIoError,
                   "S3 at " + cfg_.endpoint +
                       " answered a listing that is not XML: " + resp->body.substr(0, 200));
    }
    auto root = doc.child("ListBucketResult");
    ListPage page;
    for (auto c : root.children("Contents")) {
      std::string full = c.child_value("Key");
      if (!full.starts_with(prefix_)) continue;
      ObjectInfo o;
      o.key = full.substr(prefix_.size());
      o.size = std::strtoull(c.child_value("Size"), nullptr, 10);
      o.etag = Unquote(c.child_value("ETag"));
      page.objects.push_back(std::move(o));
    }
    if (std::string_view(root.child_value("IsTruncated")) == "true") {
      page.next = root.child_value("NextContinuationToken");
    }
    return page;
  }

  Status Delete(std::string_view key) override {
    if (auto st = ValidateKey(key); !st) return st;
    Request r;
    r.method = "DELETE";
    r.key = key;
    auto resp = Perform(r);
    if (!resp && resp.error().code() != ErrorCode::kObjectNotFound) return resp.error();
    return OkStatus();
  }

  Result<std::string> CreateMultipart(std::string_view key) override {
    if (auto st = ValidateKey(key); !st) return st.error();
    Request r;
    r.method = "POST";
    r.key = key;
    r.query = {{"uploads", ""}};
    auto resp = Perform(r);
    if (!resp) return resp.error();
    pugi::xml_document doc;
    doc.load_buffer(resp->body.data(), resp->body.size());
    std::string id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
    if (id.empty()) {
      return Error(ErrorCode::kIoError,
                   "S3 at " + cfg_.endpoint + " started a multipart upload without an UploadId");
    }
    return id;
  }

  Result<std::string> UploadPart(std::string_view key, std::string_view upload_id, int part_number,
                                 ByteSource& body) override {
    if (part_number < 1 || part_number > 10000) {
      return Error(ErrorCode::kInvalidArgument, "part numbers are 1 to 10000");
    }
    Request r;
    r.method = "PUT";
    r.key = key;
    r.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}};
    r.body = &body;
    auto resp = Perform(r);
    if (!resp) return resp.error();
    std::string etag = resp->Header("etag");
    if (etag.empty()) {
      return Error(ErrorCode::kIoError, "S3 at " + cfg_.endpoint + " gave part " +
                                            std::to_string(part_number) + " no ETag");
    }
    return etag;
  }

  Status CompleteMultipart(std::string_view key, std::string_view upload_id,
                           const std::vector<PartInfo>& parts) override {
    // radosgw 16.2 answers completing an aborted upload with 500 InternalError (AWS: 404
    // NoSuchUpload), which would be retried until the deadline; asking for its parts first
    // gives the right answer at once.
    Request probe;
    probe.key = key;
    probe.query = {{"max-parts", "1"}, {"uploadId", std::string(upload_id)}};
    if (auto listed = Perform(probe); !listed) return listed.error();
    Request r;
    r.method = "POST";
    r.key = key;
    r.query = {{"uploadId", std::string(upload_id)}};
    pugi::xml_document doc;
    auto root = doc.append_child("CompleteMultipartUpload");
    for (auto& p : parts) {
      auto part = root.append_child("Part");
      part.append_child("PartNumber").text().set(p.number);
      part.append_child("ETag").text().set(p.etag.c_str());
    }
    struct Writer : pugi::xml_writer {
      std::string* out;
      void write(const void* data, size_t size) override {
        out->append(static_cast<const char*>(data), size);
      }
    } w;
    w.out = &r.post;
    doc.save(w, "", pugi::format_raw | pugi::format_no_declaration);
    r.headers.push_back("Content-Type: application/xml");
    auto resp = Perform(r);
    if (!resp) return resp.error();
    // S3 may answer 200 and still fail: the error is then in the body.
    S3Error e = ParseError(resp->body);
    if (!e.code.empty()) return MapError(r, 500, e);
    return OkStatus();
  }

  Status AbortMultipart(std::string_view key, std::string_view upload_id) override {
    Request r;
    r.method = "DELETE";
    r.key = key;
    r.query = {{"uploadId", std::string(upload_id)}};
    auto resp = Perform(r);
    if (!resp) return resp.error();
    return OkStatus();
  }

 private:
  struct Attempt {
    CURLcode curl = CURLE_OK;
    Response resp;
    std::optional<Error> own_error;  // the source or the sink failed: not retried
  };

  CURL* Acquire() {
    {
      std::lock_guard l(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Release(CURL* h) {
    curl_easy_reset(h);  // keeps the live connection for the next request
    std::lock_guard l(mu_);
    if (idle_.size() < 16) {
      idle_.push_back(h);
    } else {
      curl_easy_cleanup(h);
    }
  }

  std::string Target(const Request& r) const {
    std::string u = r.key.empty() ? base_ : base_ + Encode(prefix_ + r.key, true);
    auto q = r.query;
    std::sort(q.begin(), q.end());  // SigV4 signs the query exactly as written: keep it canonical
    for (size_t i = 0; i < q.size(); ++i) {
      u += i == 0 ? '?' : '&';
      u += Encode(q[i].first, false) + "=" + Encode(q[i].second, false);
    }
    return u;
  }

  // What the curl callbacks of one attempt work on, and the callbacks.
  struct Transfer {
    Attempt* a;
    const Request* r;
    uint64_t* delivered;
    CURL* h;

    // PUT: the request body, from the source.
    static size_t ReadBody(char* buf, size_t size, size_t n, void* p) {
      auto* c = static_cast<Transfer*>(p);
      auto got = c->r->body->Read(buf, size * n);
      if (!got) {
        c->a->own_error = got.error();
        return CURL_READFUNC_ABORT;
      }
      return *got;
    }
    // One response header line; names lower-cased.
    static size_t OnHeader(char* buf, size_t size, size_t n, void* p) {
      auto* c = static_cast<Transfer*>(p);
      std::string_view line(buf, size * n);
      if (line.starts_with("HTTP/")) {
        c->a->resp.headers.clear();  // a new response (after 100 Continue)
      } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
          v.remove_suffix(1);
        }
        c->a->resp.headers.emplace_back(std::move(name), std::string(v));
      }
      return size * n;
    }
    // Response body bytes: a 2xx body to the request's sink, if any; else kept (bounded).
    static size_t OnBody(char* buf, size_t size, size_t n, void* p) {
      auto* c = static_cast<Transfer*>(p);
      long status = 0;
      curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
      if (c->r->sink && status / 100 == 2) {
        if (auto st = (*c->r->sink)(std::string_view(buf, size * n)); !st) {
          c->a->own_error = st.error();
          return 0;  // aborts the transfer
        }
        *c->delivered += size * n;
        return size * n;
      }
      if (c->a->resp.body.size() + size * n > kMaxResponseBody) return 0;
      c->a->resp.body.append(buf, size * n);
      return size * n;
    }
  };

  // The URL, the credentials, the buffers and the timeouts.
  void SetConnection(CURL* h, const std::string& target) const {
    curl_easy_setopt(h, CURLOPT_URL, target.c_str());
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, cfg_.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg_.secret_key.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kTransferBuffer);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, kTransferBuffer);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(
        h, CURLOPT_LOW_SPEED_TIME,
        static_cast<long>(std::max<int64_t>(
            1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.stall_timeout).count())));
  }

  // The request's headers; a range resumes after the `delivered` bytes of earlier attempts.
  // The caller frees the list.
  curl_slist* Headers(const Request& r, uint64_t delivered) const {
    curl_slist* headers = nullptr;
    auto add = [&](const std::string& hdr) { headers = curl_slist_append(headers, hdr.c_str()); };
    add("x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (!cfg_.session_token.empty()) add("x-amz-security-token: " + cfg_.session_token);
    for (auto& hdr : r.headers) add(hdr);
    if (r.range) {
      uint64_t from = r.range->offset + delivered;
      std::string v = "Range: bytes=" + std::to_string(from) + "-";
      if (r.range->length) v += std::to_string(r.range->offset + *r.range->length - 1);
      add(v);
    } else if (delivered > 0) {
      add("Range: bytes=" + std::to_string(delivered) + "-");
    }
    return headers;
  }

  // The method and its body: PUT reads r.body from its start (a failed rewind is t->a's error).
  static void SetMethod(CURL* h, const Request& r, Transfer* t) {
    const std::string_view method = r.method;
    if (method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT") {
      if (auto st = r.body->Seek(0); !st) {
        t->a->own_error = st.error();
      }
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body->size()));
      curl_easy_setopt(h, CURLOPT_READDATA, t);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, &Transfer::ReadBody);
    } else if (method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.post.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.post.size()));
    } else if (method == "DELETE") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
  }

  // `delivered`: bytes of a GET body already given to the sink by earlier attempts.
  Attempt Once(const Request& r, uint64_t* delivered) {
    Attempt a;
    CURL* h = Acquire();
    Transfer t{&a, &r, delivered, h};
    const std::string target = Target(r);
    SetConnection(h, target);
    curl_slist* headers = Headers(r, *delivered);
    SetMethod(h, r, &t);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
    if (!a.own_error) {
      a.curl = curl_easy_perform(h);
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.resp.status);
    }
    curl_slist_free_all(headers);
    Release(h);
    return a;
  }

  Result<Response> Perform(const Request& r) {
    const Deadline deadline = DeadlineIn(cfg_.retry_deadline);
    Backoff backoff(kRetryBackoff);
    uint64_t delivered = 0;
    std::string last;
    for (int attempt = 1;; ++attempt) {
      Attempt a = Once(r, &delivered);
      if (a.own_error) return *a.own_error;
      if (a.curl == CURLE_OK && a.resp.status / 100 == 2) return std::move(a.resp);
      if (a.curl != CURLE_OK) {
        if (!RetryableCurl(a.curl)) {
          return Error(ErrorCode::kIoError, "S3 " + std::string(r.method) + " " + Describe(r) +
                                                " at " + cfg_.endpoint + ": " +
                                                curl_easy_strerror(a.curl));
        }
        last = curl_easy_strerror(a.curl);
      } else {
        S3Error e = ParseError(a.resp.body);
        if (!Retryable(a.resp.status, e)) return MapError(r, a.resp.status, e);
        last = "HTTP " + std::to_string(a.resp.status) + (e.code.empty() ? "" : " " + e.code);
      }
      // Jittered: from half of the doubling pause to all of it.
      const std::chrono::milliseconds pause = backoff.Next();
      if (Clock::now() + pause > deadline) {
        return Error(
            ErrorCode::kUnavailable,
            "S3 at " + cfg_.endpoint + " failed " + std::string(r.method) + " " + Describe(r) +
                " " + std::to_string(attempt) + " times over " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(cfg_.retry_deadline).count()) +
                " s (last: " + last + "); is it running and reachable?");
      }
      std::this_thread::sleep_for(pause);
    }
  }

  std::string Describe(const Request& r) const { return "s3://" + bucket_ + "/" + prefix_ + r.key; }

  Error MapError(const Request& r, long status, const S3Error& e) const {
    const std::string what = std::string(r.method) + " " + Describe(r);
    const std::string detail = e.code.empty()
                                   ? "HTTP " + std::to_string(status)
                                   : e.code + (e.message.empty() ? "" : ": " + e.message);
    if (status == 403 || e.code == "InvalidAccessKeyId" || e.code == "SignatureDoesNotMatch" ||
        e.code == "AccessDenied") {
      return Error(ErrorCode::kPermissionDenied,
                   "S3 at " + cfg_.endpoint + " refused " + what + " (" + detail +
                       "); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the s3 "
                       "credentials in the config) and the bucket's permissions");
    }
    if (e.code == "NoSuchBucket") {
      return Error(ErrorCode::kInvalidConfig, "bucket '" + bucket_ + "' does not exist at " +
                                                  cfg_.endpoint +
                                                  "; create it first or fix the URL");
    }
    if (e.code == "NoSuchUpload") {
      return Error(ErrorCode::kObjectNotFound, "no such multipart upload for " + what);
    }
    if (status == 404) return Error(ErrorCode::kObjectNotFound, "no object at " + Describe(r));
    if (status == 412) {
      return Error(ErrorCode::kAlreadyExists, "object " + Describe(r) + " already exists");
    }
    if (status == 416) {
      return Error(ErrorCode::kInvalidArgument, "range starts past the end of " + Describe(r));
    }
    if (status == 301 || status == 307 || e.code == "PermanentRedirect" ||
        e.code == "AuthorizationHeaderMalformed") {
      return Error(ErrorCode::kInvalidConfig,
                   "S3 says bucket '" + bucket_ + "' is elsewhere (" + detail +
                       "); set AWS_REGION / AWS_ENDPOINT_URL to the bucket's region");
    }
    if (status == 400)
      return Error(ErrorCode::kInvalidArgument, "S3 rejected " + what + ": " + detail);
    return Error(ErrorCode::kIoError, "S3 " + what + " failed: " + detail);
  }

  std::string bucket_, prefix_;
  S3Config cfg_;
  std::string url_, sigv4_, base_;
  std::mutex mu_;
  std::vector<CURL*> idle_;  // GUARDED_BY(mu_)
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket,
                                                 const std::string& prefix, S3Config config,
                                                 std::string url) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (config.region.empty()) config.region = Env("AWS_REGION");
  if (config.region.empty()) config.region = Env("AWS_DEFAULT_REGION");
  if (config.region.empty()) config.region = "us-east-1";
  if (config.endpoint.empty()) config.endpoint = Env("AWS_ENDPOINT_URL");
  if (config.endpoint.empty()) config.endpoint = "https://s3." + config.region + ".amazonaws.com";
  if (config.access_key.empty()) config.access_key = Env("AWS_ACCESS_KEY_ID");
  if (config.secret_key.empty()) config.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  if (config.session_token.empty()) config.session_token = Env("AWS_SESSION_TOKEN");
  if (!config.endpoint.starts_with("http://") && !config.endpoint.starts_with("https://")) {
    return Error(ErrorCode::kInvalidConfig,
                 "the S3 endpoint must start with http:// or https://: '" + config.endpoint + "'");
  }
  if (config.access_key.empty() || config.secret_key.empty()) {
    return Error(ErrorCode::kInvalidConfig,
                 "no S3 credentials for " + url +
                     ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the s3 access key and "
                     "secret key in the config)");
  }
  return std::unique_ptr<ObjectStore>(
      new S3Store(bucket, prefix, std::move(config), std::move(url)));
}

}  // namespace strata::objstore
