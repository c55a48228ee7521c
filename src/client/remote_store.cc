#include "client/remote_store.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "admin.grpc.pb.h"
#include "model/stream_name.h"
#include "status.pb.h"
#include "streams.grpc.pb.h"
#include "wire/admin.h"
#include "wire/convert.h"

namespace strata::client {
namespace {
namespace pb = event_store::client::streams;
using Options = pb::ReadReq::Options;

std::string Trailer(const grpc::ClientContext& ctx, const char* key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// "invalid-stream-name: ..." (an Error's ToString, as the server sends in BadRequest) back into a
// code, or `fallback`.
Error ParseErrorText(const std::string& text, ErrorCode fallback) {
  auto colon = text.find(": ");
  if (colon != std::string::npos) {
    if (auto code = ErrorCodeFromName(text.substr(0, colon))) {
      return Error(*code, text.substr(colon + 2));
    }
  }
  return Error(fallback, text);
}

// A failed call's status and `exception` trailers back into the Error the server had.
Error ErrorFromStatus(const grpc::Status& st, const grpc::ClientContext& ctx,
                      const std::string& target) {
  const std::string exception = Trailer(ctx, "exception");
  const std::string& msg = st.error_message();
  if (exception == "wrong-expected-version") {
    Error e(ErrorCode::kWrongExpectedRevision, msg);
    std::string actual = Trailer(ctx, "actual-version");
    uint64_t v = 0;
    if (!actual.empty() && actual != "-1" &&
        std::from_chars(actual.data(), actual.data() + actual.size(), v).ec == std::errc()) {
      e.actual_revision = v;
    }
    return e;
  }
  if (exception == "maximum-append-size-exceeded") return Error(ErrorCode::kAppendTooLarge, msg);
  if (!exception.empty()) {
    if (auto code = ErrorCodeFromName(exception)) return Error(*code, msg);
  }
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Error(ErrorCode::kUnavailable, "strata serve at " + target + " is unavailable (" +
                                                msg +
                                                "); is it running? start it with 'strata serve'");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Error(ErrorCode::kDeadlineExceeded, msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return ParseErrorText(msg, ErrorCode::kInvalidArgument);
    case grpc::StatusCode::NOT_FOUND:
      return Error(ErrorCode::kStreamNotFound, msg);
    case grpc::StatusCode::UNIMPLEMENTED:
      return Error(ErrorCode::kInvalidArgument, "the server at " + target +
                                                    " does not implement this call (" + msg +
                                                    "); is it a Strata server of this version?");
    default:
      return ParseErrorText(msg, ErrorCode::kInternal);
  }
}

// A BatchAppendResp.error (google.rpc.Status with one detail) back into an Error.
Error ErrorFromBatch(const google::rpc::Status& st) {
  const auto& d = st.details();
  if (d.Is<event_store::client::WrongExpectedVersion>()) {
    event_store::client::WrongExpectedVersion w;
    d.UnpackTo(&w);
    Error e(ErrorCode::kWrongExpectedRevision, st.message());
    if (w.current_stream_revision_option_case() ==
        event_store::client::WrongExpectedVersion::kCurrentStreamRevision) {
      e.actual_revision = w.current_stream_revision();
    }
    return e;
  }
  if (d.Is<event_store::client::StreamDeleted>()) {
    return Error(ErrorCode::kStreamDeleted, st.message());
  }
  if (d.Is<event_store::client::MaximumAppendSizeExceeded>()) {
    return Error(ErrorCode::kAppendTooLarge, st.message());
  }
  if (d.Is<event_store::client::Timeout>()) {
    return Error(st.code() == google::rpc::DEADLINE_EXCEEDED ? ErrorCode::kDeadlineExceeded
                                                             : ErrorCode::kServerBusy,
                 st.message());
  }
  if (d.Is<event_store::client::BadRequest>()) {
    event_store::client::BadRequest b;
    d.UnpackTo(&b);
    return ParseErrorText(b.message(), ErrorCode::kInvalidArgument);
  }
  return Error(ErrorCode::kInternal, st.message());
}

template <class Success>
AppendResult ResultFromSuccess(const Success& s, uint32_t count) {
  AppendResult a;
  a.count = count;
  if (s.current_revision_option_case() == Success::kCurrentRevision) {
    a.stream_exists = true;
    a.last_revision = Revision(s.current_revision());
    a.first_revision = Revision(s.current_revision() - (count > 0 ? count - 1 : 0));
  }
  if (s.position_option_case() == Success::kPosition && count > 0) {
    a.last_position = Position(s.position().commit_position());
    a.first_position = Position(s.position().commit_position() - (count - 1));
  }
  return a;
}

// One long-lived BatchAppend call: appends are queued to a writer thread and answered on a
// reader thread by correlation id. A broken call fails what is in flight with kUnavailable and
// is reopened by the next append.
class BatchSession {
 public:
  BatchSession(std::shared_ptr<grpc::Channel> channel, std::string target, uint64_t id)
      : stub_(pb::Streams::NewStub(channel)), target_(std::move(target)), id_(id) {}
  ~BatchSession() { Close(); }

  void Append(AppendRequest req, Store::AppendCallback done) {
    pb::BatchAppendReq msg;
    auto* o = msg.mutable_options();
    o->mutable_stream_identifier()->set_stream_name(req.stream);
    wire::ExpectedToWire(req.expected, o);
    if (req.deadline != NoDeadline()) {
      auto left = std::max(req.deadline - std::chrono::steady_clock::now(),
                           std::chrono::steady_clock::duration::zero());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      o->mutable_deadline()->set_seconds(ns / 1'000'000'000);
      o->mutable_deadline()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
    }
    for (const auto& e : req.events) wire::ProposedToWire(e, msg.add_proposed_messages());
    msg.set_is_final(true);
    const uint32_t count = static_cast<uint32_t>(req.events.size());
    if (auto st = EnsureOpen(); !st) return done(st.error());
    std::unique_lock l(mu_);
    if (broken_) {
      l.unlock();
      return done(Error(ErrorCode::kUnavailable, "the BatchAppend call to " + target_ +
                                                     " broke; retry the append (it is "
                                                     "idempotent with the same event ids)"));
    }
    const uint64_t corr = next_++;
    auto* c = msg.mutable_correlation_id()->mutable_structured();
    c->set_most_significant_bits(static_cast<int64_t>(id_));
    c->set_least_significant_bits(static_cast<int64_t>(corr));
    pending_.emplace(corr, Pending{std::move(done), count});
    out_.push_back(std::move(msg));
    if (out_.size() == 1) cv_.notify_all();
  }

  void Close() {
    std::lock_guard r(restart_mu_);
    {
      std::lock_guard l(mu_);
      closing_ = true;
      cv_.notify_all();
    }
    Join();
  }

 private:
  struct Pending {
    Store::AppendCallback done;
    uint32_t count;
  };

  Status EnsureOpen() {
    {
      std::lock_guard l(mu_);
      if (closing_) return Error(ErrorCode::kStoreClosed, "the remote store is closed");
      if (call_ && !broken_) return OkStatus();
    }
    std::lock_guard r(restart_mu_);
    {
      std::lock_guard l(mu_);
      if (call_ && !broken_) return OkStatus();
    }
    Join();
    std::lock_guard l(mu_);
    ctx_ = std::make_unique<grpc::ClientContext>();
    call_ = stub_->BatchAppend(ctx_.get());
    broken_ = false;
    writer_done_ = false;
    writer_ = std::thread([this] { WriterLoop(); });
    reader_ = std::thread([this] { ReaderLoop(); });
    return OkStatus();
  }

  // Joins the threads of the current call, if any (restart_mu_ held).
  void Join() {
    if (writer_.joinable()) writer_.join();
    if (reader_.joinable()) reader_.join();
  }

  void WriterLoop() {
    std::unique_lock l(mu_);
    while (true) {
      cv_.wait(l, [&] { return !out_.empty() || closing_ || broken_; });
      if (broken_) break;
      if (out_.empty() && closing_) {
        l.unlock();
        call_->WritesDone();
        l.lock();
        break;
      }
      std::deque<pb::BatchAppendReq> batch;
      batch.swap(out_);
      l.unlock();
      bool ok = true;
      for (size_t i = 0; i < batch.size() && ok; ++i) {
        grpc::WriteOptions wo;
        if (i + 1 < batch.size()) wo.set_buffer_hint();  // more follow: coalesce frames
        ok = call_->Write(batch[i], wo);
      }
      l.lock();
      if (!ok) break;  // the call is over; the reader fails what is pending
    }
    writer_done_ = true;
    cv_.notify_all();
  }

  void ReaderLoop() {
    pb::BatchAppendResp r;
    while (call_->Read(&r)) {
      const uint64_t corr =
          static_cast<uint64_t>(r.correlation_id().structured().least_significant_bits());
      Pending p;
      {
        std::lock_guard l(mu_);
        auto it = pending_.find(corr);
        if (it == pending_.end()) continue;
        p = std::move(it->second);
        pending_.erase(it);
      }
      if (r.has_success()) {
        p.done(ResultFromSuccess(r.success(), p.count));
      } else {
        p.done(ErrorFromBatch(r.error()));
      }
    }
    std::unordered_map<uint64_t, Pending> orphans;
    {
      std::unique_lock l(mu_);
      broken_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return writer_done_; });  // Finish() only after the last Write
      orphans.swap(pending_);
      out_.clear();
    }
    grpc::Status st = call_->Finish();
    if (!orphans.empty()) {
      Error e = st.ok() ? Error(ErrorCode::kUnavailable,
                                "the server ended the BatchAppend call with appends unanswered")
                        : ErrorFromStatus(st, *ctx_, target_);
      spdlog::warn("BatchAppend call to {} ended with {} appends unanswered: {}", target_,
                   orphans.size(), e.ToString());
      for (auto& [_, p] : orphans) p.done(e);
    }
  }

  std::unique_ptr<pb::Streams::Stub> stub_;
  std::string target_;
  uint64_t id_;
  std::mutex restart_mu_;  // serialises opening, reopening and closing the call
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::BatchAppendReq, pb::BatchAppendResp>> call_;
  std::deque<pb::BatchAppendReq> out_;                           // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, Pending> pending_;                // GUARDED_BY(mu_)
  uint64_t next_ = 1;                                            // GUARDED_BY(mu_)
  bool broken_ = false, closing_ = false, writer_done_ = false;  // GUARDED_BY(mu_)
  std::thread writer_, reader_;
};

// A catch-up/live subscription: one Read call on its own thread.
class RemoteSubscription;

// The store's live subscriptions, so that Close() ends them as a local store's Close does.
// Shared with the subscriptions: either may go first.
struct SubscriptionSet {
  std::mutex mu;
  std::set<RemoteSubscription*> live;  // GUARDED_BY(mu)
  bool closed = false;                 // GUARDED_BY(mu)
};

class RemoteSubscription : public Subscription {
 public:
  RemoteSubscription(std::shared_ptr<pb::Streams::Stub> stub, std::string target, pb::ReadReq req,
                     std::shared_ptr<SubscriptionHandler> handler,
                     std::shared_ptr<SubscriptionSet> set)
      : stub_(std::move(stub)),
        target_(std::move(target)),
        req_(std::move(req)),
        handler_(std::move(handler)),
        set_(std::move(set)) {
    std::lock_guard l(set_->mu);
    if (set_->closed) cancelled_ = true;  // Start() then ends at once
    set_->live.insert(this);
  }
  ~RemoteSubscription() override {
    {
      std::lock_guard l(set_->mu);
      set_->live.erase(this);
    }
    Cancel();
    if (thread_.joinable()) thread_.join();
  }
  // The store is closing: end the call and wait until the handler has had OnStop.
  void CancelAndWait() {
    closed_by_store_ = true;
    Cancel();
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !started_ || stopped_ || (ended_ && !confirmed_); });
  }

  // Starts the call and waits for the server's confirmation (so that "from the end" means from
  // now, as for a local subscription).
  Status Start() {
    {
      std::lock_guard l(mu_);
      started_ = true;
    }
    thread_ = std::thread([this] { Run(); });
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return confirmed_ || ended_; });
    if (!confirmed_)
      return start_error_ ? *start_error_ : Error(ErrorCode::kUnavailable, "no confirmation");
    return OkStatus();
  }
  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }
  bool cancelled() const { return cancelled_; }
  uint64_t delivered() const override { return delivered_.load(); }
  Position position() const override { return Position(position_.load()); }

 private:
  void Run() {
    if (cancelled_) {  // the store closed before the call began
      std::lock_guard l(mu_);
      start_error_ = Error(ErrorCode::kStoreClosed, "the remote store is closed");
      ended_ = stopped_ = true;
      cv_.notify_all();
      return;
    }
    auto reader = stub_->Read(&ctx_, req_);  // a Cancel() from now on cancels the call
    pb::ReadResp r;
    bool stopped_by_handler = false;
    while (reader->Read(&r)) {
      switch (r.content_case()) {
        case pb::ReadResp::kConfirmation: {
          std::lock_guard l(mu_);
          confirmed_ = true;
          cv_.notify_all();
          break;
        }
        case pb::ReadResp::kEvent: {
          auto e = wire::FromWire(r.event());
          if (!e) break;
          position_ = e->position.value();
          delivered_.fetch_add(1);
          if (!handler_->OnEvent(*e)) {
            stopped_by_handler = true;
            ctx_.TryCancel();
          }
          break;
        }
        case pb::ReadResp::kCaughtUp:
          handler_->OnCaughtUp();
          break;
        case pb::ReadResp::kCheckpoint:
          handler_->OnCheckpoint(Position(r.checkpoint().commit_position()));
          break;
        default:
          break;
      }
      if (stopped_by_handler) break;
    }
    grpc::Status st = reader->Finish();
    std::optional<Error> error;
    if (!st.ok() && !cancelled_ && !stopped_by_handler) error = ErrorFromStatus(st, ctx_, target_);
    if (closed_by_store_ && !stopped_by_handler) {  // as a local store's Close reports it
      error = Error(ErrorCode::kStoreClosed, "the remote store was closed");
    }
    {
      std::lock_guard l(mu_);
      if (!confirmed_) start_error_ = error;
      ended_ = true;
      cv_.notify_all();
    }
    if (confirmed_) handler_->OnStop(error ? &*error : nullptr);
    std::lock_guard l(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

  std::shared_ptr<pb::Streams::Stub> stub_;  // shared: the store may be destroyed first
  std::string target_;
  pb::ReadReq req_;
  std::shared_ptr<SubscriptionHandler> handler_;
  std::shared_ptr<SubscriptionSet> set_;
  grpc::ClientContext ctx_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool confirmed_ = false, ended_ = false;  // GUARDED_BY(mu_)
  bool started_ = false;                    // GUARDED_BY(mu_): Start() was called
  bool stopped_ = false;                    // GUARDED_BY(mu_): OnStop has returned
  std::optional<Error> start_error_;        // GUARDED_BY(mu_)
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> closed_by_store_{false};
  std::atomic<uint64_t> delivered_{0}, position_{0};
};

class RemoteStoreImpl : public RemoteStore {
 public:
  RemoteStoreImpl(const RemoteOptions& o, std::vector<std::shared_ptr<grpc::Channel>> channels)
      : target_(o.target), channels_(std::move(channels)) {
    streams_ = std::shared_ptr<pb::Streams::Stub>(pb::Streams::NewStub(channels_[0]));
    admin_ = strata::v1::Admin::NewStub(channels_[0]);
    for (size_t i = 0; i < channels_.size(); ++i) {
      sessions_.push_back(std::make_unique<BatchSession>(channels_[i], target_, i + 1));
    }
  }
  ~RemoteStoreImpl() override { IgnoreError(Close()); }

  void AppendAsync(AppendRequest request, AppendCallback done) override {
    if (closed_) return done(Error(ErrorCode::kStoreClosed, "the remote store is closed"));
    // A stream's appends always use the same connection, so they stay in order.
    size_t i = std::hash<std::string>{}(request.stream) % sessions_.size();
    sessions_[i]->Append(std::move(request), std::move(done));
  }

  Result<DeleteResult> Delete(DeleteRequest request) override {
    if (request.tombstone) {
      return DeleteCall<pb::TombstoneReq, pb::TombstoneResp>(request,
                                                             &pb::Streams::Stub::Tombstone);
    }
    return DeleteCall<pb::DeleteReq, pb::DeleteResp>(request, &pb::Streams::Stub::Delete);
  }

  Result<ReadStreamResult> ReadStream(const ReadStreamRequest& request) override {
    pb::ReadReq req;
    auto* o = req.mutable_options();
    auto* so = o->mutable_stream();
    so->mutable_stream_identifier()->set_stream_name(request.stream);
    if (request.from) {
      so->set_revision(request.from->value());
    } else if (request.direction == Direction::kForwards) {
      so->mutable_start();
    } else {
      so->mutable_end();
    }
    o->set_read_direction(request.direction == Direction::kForwards ? Options::Forwards
                                                                    : Options::Backwards);
    const uint64_t count = std::max<uint64_t>(request.max_count, 1);
    o->set_count(count);
    o->mutable_no_filter();
    o->mutable_uuid_option()->mutable_string();
    o->set_resolve_links(true);  // index streams: the original events, with their link
    o->mutable_control_option()->set_compatibility(1);  // for last_stream_position
    grpc::ClientContext ctx;
    auto reader = streams_->Read(&ctx, req);
    ReadStreamResult out;
    pb::ReadResp r;
    bool not_found = false, have_last = false;
    while (reader->Read(&r)) {
      if (r.has_event()) {
        auto e = wire::FromWire(r.event());
        if (!e) return e.error();
        out.events.push_back(std::move(*e));
      } else if (r.has_stream_not_found()) {
        not_found = true;
      } else if (r.content_case() == pb::ReadResp::kLastStreamPosition) {
        out.last_revision = Revision(r.last_stream_position());
        have_last = true;
      }
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    if (not_found) {
      return Error(ErrorCode::kStreamNotFound, "stream '" + request.stream + "' does not exist");
    }
    if (!have_last && !out.events.empty()) {
      out.last_revision = out.events.back().revision;  // a server without compatibility 1
    }
    const bool forwards = request.direction == Direction::kForwards;
    if (out.events.size() < count || out.events.empty()) {
      out.end_of_stream = true;
    } else {
      const uint64_t r_last = out.events.back().revision.value();
      out.end_of_stream = forwards ? r_last >= out.last_revision.value() : r_last == 0;
      if (!out.end_of_stream) out.next = Revision(forwards ? r_last + 1 : r_last - 1);
    }
    return out;
  }

  Result<ReadAllResult> ReadAll(const ReadAllRequest& request) override {
    pb::ReadReq req;
    auto* o = req.mutable_options();
    auto* ao = o->mutable_all();
    const bool forwards = request.direction == Direction::kForwards;
    if (request.from) {
      // Forwards from p includes p; backwards "from p" in KurrentDB starts before p.
      const uint64_t p = forwards ? request.from->value() : request.from->value() + 1;
      ao->mutable_position()->set_commit_position(p);
      ao->mutable_position()->set_prepare_position(p);
    } else if (forwards) {
      ao->mutable_start();
    } else {
      ao->mutable_end();
    }
    o->set_read_direction(forwards ? Options::Forwards : Options::Backwards);
    const uint64_t count = std::max<uint64_t>(request.max_count, 1);
    o->set_count(count);
    STRATA_TRY(wire::FilterToWire(request.filter, o));
    o->mutable_uuid_option()->mutable_string();
    o->set_resolve_links(true);  // index streams: the original events, with their link
    grpc::ClientContext ctx;
    auto reader = streams_->Read(&ctx, req);
    ReadAllResult out;
    pb::ReadResp r;
    while (reader->Read(&r)) {
      if (!r.has_event()) continue;
      auto e = wire::FromWire(r.event());
      if (!e) return e.error();
      out.events.push_back(std::move(*e));
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    out.end = out.events.size() < count;
    if (!out.events.empty()) {
      const uint64_t last = out.events.back().position.value();
      out.next = Position(forwards ? last + 1 : (last > 0 ? last - 1 : 0));
      if (!forwards && last <= 1) out.end = true;
    }
    return out;
  }

  Result<std::unique_ptr<Subscription>> Subscribe(
      SubscribeRequest request, std::shared_ptr<SubscriptionHandler> handler) override {
    pb::ReadReq req;
    auto* o = req.mutable_options();
    o->mutable_subscription();
    o->mutable_uuid_option()->mutable_string();
    o->set_resolve_links(true);  // index streams: the original events, with their link
    if (request.all) {
      auto* ao = o->mutable_all();
      if (request.from_end) {
        ao->mutable_end();
      } else if (request.after_position) {
        ao->mutable_position()->set_commit_position(request.after_position->value());
        ao->mutable_position()->set_prepare_position(request.after_position->value());
      } else {
        ao->mutable_start();
      }
      STRATA_TRY(wire::FilterToWire(request.filter, o));
      if (o->has_filter()) {
        o->mutable_filter()->set_max(std::max<uint32_t>(1, request.checkpoint_interval));
      }
    } else {
      auto* so = o->mutable_stream();
      so->mutable_stream_identifier()->set_stream_name(request.stream);
      if (request.from_end) {
        so->mutable_end();
      } else if (request.after_revision) {
        so->set_revision(request.after_revision->value());
      } else {
        so->mutable_start();
      }
      o->mutable_no_filter();
    }
    auto sub = std::make_unique<RemoteSubscription>(streams_, target_, std::move(req),
                                                    std::move(handler), subscriptions_);
    STRATA_TRY(sub->Start());
    return std::unique_ptr<Subscription>(std::move(sub));
  }

  Position Watermark() const override {
    auto s = GetStats();
    return s ? Position(s->watermark()) : Position(0);
  }

  StoreStats Stats() override {
    auto s = GetStats();
    if (!s) {
      spdlog::warn("stats from {}: {}", target_, s.error().ToString());
      return StoreStats();
    }
    return wire::FromProto(*s);
  }

  Result<ArchiveStatus> Archive() override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    strata::v1::Archive a;
    auto st = admin_->GetArchive(&ctx, strata::v1::GetArchiveRequest(), &a);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return wire::FromProto(a);
  }

  Result<std::vector<SegmentInfo>> ListSegments() override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    strata::v1::Segments segs;
    auto st = admin_->ListSegments(&ctx, strata::v1::ListSegmentsRequest(), &segs);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return wire::FromProto(segs);
  }

  Status ArchiveAll(Deadline deadline) override {
    grpc::ClientContext ctx;
    const auto left = deadline - std::chrono::steady_clock::now();
    ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::min<std::chrono::steady_clock::duration>(left, std::chrono::hours(1))));
    strata::v1::ArchiveAllResponse resp;
    auto st = admin_->ArchiveAll(&ctx, strata::v1::ArchiveAllRequest(), &resp);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return OkStatus();
  }

  Result<SnapshotInfo> Snapshot(const std::function<void(const SnapshotProgress&)>&) override {
    grpc::ClientContext ctx;  // no deadline: a snapshot takes as long as its bytes need
    strata::v1::SnapshotResult r;
    auto st = admin_->Snapshot(&ctx, strata::v1::SnapshotRequest(), &r);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return wire::FromProto(r);
  }

  Result<CheckReport> Check(const CheckOptions& options) override {
    grpc::ClientContext ctx;  // no deadline: a check reads the whole store
    strata::v1::CheckRequest req;
    req.set_cold(options.cold);
    strata::v1::CheckResponse r;
    auto st = admin_->Check(&ctx, req, &r);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return wire::FromProto(r);
  }

  // Ends the subscriptions (each handler gets OnStop before this returns) and the append
  // sessions. Idempotent.
  Status Close() override {
    if (closed_.exchange(true)) return OkStatus();
    {
      std::lock_guard l(subscriptions_->mu);
      subscriptions_->closed = true;
      // Under the set's lock: a subscription being destroyed waits here before it unregisters.
      for (RemoteSubscription* s : subscriptions_->live) s->CancelAndWait();
    }
    for (auto& s : sessions_) s->Close();
    return OkStatus();
  }

 private:
  // Delete and Tombstone: same request and response shapes, different messages.
  template <class Req, class Resp, class Method>
  Result<DeleteResult> DeleteCall(const DeleteRequest& request, Method method) {
    Req req;
    req.mutable_options()->mutable_stream_identifier()->set_stream_name(request.stream);
    wire::ExpectedToWire(request.expected, req.mutable_options());
    Resp resp;
    grpc::ClientContext ctx;
    grpc::Status st = (streams_.get()->*method)(&ctx, req, &resp);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return DeleteResult{Position(resp.has_position() ? resp.position().commit_position() : 0)};
  }

  Result<strata::v1::Stats> GetStats() const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    strata::v1::Stats s;
    auto st = admin_->GetStats(&ctx, strata::v1::GetStatsRequest(), &s);
    if (!st.ok()) return ErrorFromStatus(st, ctx, target_);
    return s;
  }

  std::string target_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::shared_ptr<pb::Streams::Stub> streams_;
  std::shared_ptr<SubscriptionSet> subscriptions_ = std::make_shared<SubscriptionSet>();
  std::unique_ptr<strata::v1::Admin::Stub> admin_;
  std::vector<std::unique_ptr<BatchSession>> sessions_;
  std::atomic<bool> closed_{false};
};
}  // namespace

Result<std::unique_ptr<RemoteStore>> ConnectStore(const RemoteOptions& options) {
  if (options.target.empty() || options.target.find(':') == std::string::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "--server wants HOST:PORT, such as 127.0.0.1:2113; got '" + options.target + "'");
  }
  if (options.connections == 0 || options.connections > 256) {
    return Error(ErrorCode::kInvalidArgument, "--connections must be between 1 and 256");
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  const auto deadline = std::chrono::system_clock::now() + options.connect_timeout;
  for (uint32_t i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one TCP connection per channel
    args.SetInt("strata.connection", static_cast<int>(i));
    if (!options.forwarded_by.empty()) {
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, options.forwarded_by);
      args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, options.forwarded_by);
    }
    auto ch = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!ch->WaitForConnected(deadline)) {
      return Error(ErrorCode::kUnavailable,
                   "cannot connect to strata serve at " + options.target +
                       "; is it running? start it with 'strata serve' (or check --server)");
    }
    channels.push_back(std::move(ch));
  }
  return std::unique_ptr<RemoteStore>(new RemoteStoreImpl(options, std::move(channels)));
}

Result<std::string> CallProjection(const RemoteOptions& options, const std::string& action,
                                   const std::string& name, const std::string& args_json,
                                   std::chrono::milliseconds timeout) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto ch = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  if (!ch->WaitForConnected(std::chrono::system_clock::now() + options.connect_timeout)) {
    return Error(ErrorCode::kUnavailable,
                 "cannot connect to strata serve at " + options.target +
                     "; is it running? start it with 'strata serve' (or check --server)");
  }
  auto admin = strata::v1::Admin::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  strata::v1::ProjectionRequest req;
  req.set_action(action);
  req.set_name(name);
  req.set_args_json(args_json);
  strata::v1::ProjectionResponse resp;
  auto st = admin->Projection(&ctx, req, &resp);
  if (!st.ok()) return ErrorFromStatus(st, ctx, options.target);
  return resp.json();
}

}  // namespace strata::client
