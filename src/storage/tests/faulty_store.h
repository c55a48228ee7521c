// FaultyStore: fault injection for the object-store tests (named as such): an ObjectStore that
// forwards to a real one and fails the calls a hook picks, before the call (a 500) or after it
// (done, its answer lost).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace strata::coldtest {

class FaultyStore final : public objstore::ObjectStore {
 public:
  using Hook = std::function<bool(std::string_view op, std::string_view key)>;
  explicit FaultyStore(std::shared_ptr<objstore::ObjectStore> base) : base_(std::move(base)) {}

  void SetFaults(Hook before, Hook after = nullptr) {
    std::lock_guard lock(mu_);
    before_ = std::move(before);
    after_ = std::move(after);
  }
  uint64_t injected() const { return injected_.load(); }

  const std::string& url() const override { return base_->url(); }
  Status Put(std::string_view key, objstore::ByteSource& body,
             const objstore::PutOptions& options) override {
    return Wrap("put", key, [&] { return base_->Put(key, body, options); });
  }
  Status Get(std::string_view key, objstore::ByteRange range,
             const objstore::ByteSink& sink) override {
    return Wrap("get", key, [&] { return base_->Get(key, range, sink); });
  }
  Result<objstore::ObjectInfo> Head(std::string_view key) override {
    return WrapResult("head", key, [&] { return base_->Head(key); });
  }
  Result<objstore::ListPage> List(std::string_view prefix, std::string_view token,
                                  uint32_t max_keys) override {
    return WrapResult("list", prefix, [&] { return base_->List(prefix, token, max_keys); });
  }
  Status Delete(std::string_view key) override {
    return Wrap("delete", key, [&] { return base_->Delete(key); });
  }
  Result<std::string> CreateMultipart(std::string_view key) override {
    return WrapResult("create_multipart", key, [&] { return base_->CreateMultipart(key); });
  }
  Result<std::string> UploadPart(std::string_view key, std::string_view id, int n,
                                 objstore::ByteSource& body) override {
    return WrapResult("upload_part", key, [&] { return base_->UploadPart(key, id, n, body); });
  }
  Status CompleteMultipart(std::string_view key, std::string_view id,
                           const std::vector<objstore::PartInfo>& parts) override {
    return Wrap("complete", key, [&] { return base_->CompleteMultipart(key, id, parts); });
  }
  Status AbortMultipart(std::string_view key, std::string_view id) override {
    return Wrap("abort", key, [&] { return base_->AbortMultipart(key, id); });
  }

 private:
  bool Fire(bool before, std::string_view op, std::string_view key) {
    std::lock_guard lock(mu_);
    const Hook& h = before ? before_ : after_;
    if (!h || !h(op, key)) return false;
    ++injected_;
    return true;
  }
  Error Injected(std::string_view op, std::string_view key, bool after) {
    return Error(ErrorCode::kUnavailable, "injected fault: " + std::string(op) + " " +
                                              std::string(key) +
                                              (after ? " (done, response lost)" : " (500)"));
  }
  template <class F>
  Status Wrap(std::string_view op, std::string_view key, F f) {
    if (Fire(true, op, key)) return Injected(op, key, false);
    STRATA_TRY(f());
    if (Fire(false, op, key)) return Injected(op, key, true);
    return OkStatus();
  }
  template <class F>
  auto WrapResult(std::string_view op, std::string_view key, F f) -> decltype(f()) {
    if (Fire(true, op, key)) return Injected(op, key, false);
    auto r = f();
    if (r && Fire(false, op, key)) return Injected(op, key, true);
    return r;
  }

  std::shared_ptr<objstore::ObjectStore> base_;
  std::mutex mu_;
  Hook before_, after_;
  std::atomic<uint64_t> injected_{0};
};

}  // namespace strata::coldtest
