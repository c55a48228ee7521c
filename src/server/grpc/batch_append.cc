// Streams/BatchAppend: see streams_service.h.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "server/grpc/streams_service.h"
#include "server/grpc/wire.h"
#include "status.pb.h"

namespace strata::server {
namespace pb = event_store::client::streams;

namespace {
using Options = pb::BatchAppendReq::Options;

Deadline DeadlineOf(const Options& o) {
  using namespace std::chrono;
  if (o.has_deadline()) {
    return steady_clock::now() + seconds(o.deadline().seconds()) +
           nanoseconds(o.deadline().nanos());
  }
  if (o.has_deadline_21_10_0()) {
    auto abs = system_clock::time_point(seconds(o.deadline_21_10_0().seconds()) +
                                        nanoseconds(o.deadline_21_10_0().nanos()));
    return steady_clock::now() + duration_cast<steady_clock::duration>(abs - system_clock::now());
  }
  return NoDeadline();
}

// The response skeleton: correlation id, stream and expected position echoed, as clients expect.
pb::BatchAppendResp Skeleton(const event_store::client::UUID& correlation, const Options& o) {
  pb::BatchAppendResp r;
  *r.mutable_correlation_id() = correlation;
  *r.mutable_stream_identifier() = o.stream_identifier();
  switch (o.expected_stream_position_case()) {
    case Options::kStreamPosition:
      r.set_stream_position(o.stream_position());
      break;
    case Options::kNoStream:
      r.mutable_no_stream();
      break;
    case Options::kStreamExists:
      r.mutable_stream_exists();
      break;
    default:
      r.mutable_any();
      break;
  }
  return r;
}

// A failure as google.rpc.Status with exactly one detail, as the clients decode it.
void SetError(const Error& e, const Options& o, pb::BatchAppendResp* r) {
  auto* st = r->mutable_error();
  st->set_message(e.message());
  switch (e.code()) {
    case ErrorCode::kWrongExpectedRevision: {
      st->set_code(google::rpc::ALREADY_EXISTS);
      event_store::client::WrongExpectedVersion w;
      if (e.actual_revision) {
        w.set_current_stream_revision(*e.actual_revision);
      } else {
        w.mutable_current_no_stream();
      }
      switch (o.expected_stream_position_case()) {
        case Options::kStreamPosition:
          w.set_expected_stream_position(o.stream_position());
          break;
        case Options::kNoStream:
          w.mutable_expected_no_stream();
          break;
        case Options::kStreamExists:
          w.mutable_expected_stream_exists();
          break;
        default:
          w.mutable_expected_any();
          break;
      }
      st->mutable_details()->PackFrom(w);
      return;
    }
    case ErrorCode::kStreamDeleted: {
      st->set_code(google::rpc::NOT_FOUND);
      event_store::client::StreamDeleted d;
      *d.mutable_stream_identifier() = o.stream_identifier();
      st->mutable_details()->PackFrom(d);
      return;
    }
    case ErrorCode::kEventTooLarge:
    case ErrorCode::kAppendTooLarge: {
      st->set_code(google::rpc::INVALID_ARGUMENT);
      event_store::client::MaximumAppendSizeExceeded m;
      m.set_maxappendsize(64u << 20);
      st->mutable_details()->PackFrom(m);
      return;
    }
    case ErrorCode::kServerBusy:
    case ErrorCode::kStoreClosed:
    case ErrorCode::kDeadlineExceeded: {
      st->set_code(e.code() == ErrorCode::kDeadlineExceeded ? google::rpc::DEADLINE_EXCEEDED
                                                            : google::rpc::UNAVAILABLE);
      st->mutable_details()->PackFrom(event_store::client::Timeout());
      return;
    }
    default: {
      bool bad_input =
          e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kInvalidStreamName ||
          e.code() == ErrorCode::kInvalidEventId || e.code() == ErrorCode::kIdempotencyConflict ||
          e.code() == ErrorCode::kMissingMetadata;
      st->set_code(bad_input ? google::rpc::INVALID_ARGUMENT : google::rpc::INTERNAL);
      event_store::client::BadRequest b;
      b.set_message(e.ToString());
      st->mutable_details()->PackFrom(b);
      return;
    }
  }
}

struct PendingAppend {
  event_store::client::UUID correlation;
  Options options;
  AppendRequest request;
  std::optional<Error> error;  // a chunk was malformed: answer with it at is_final
  size_t bytes = 0;            // payload buffered so far
};
// More than the store accepts in one append (StoreOptions::max_append_bytes is at most this).
constexpr size_t kMaxPendingBytes = 64u << 20;
// Appends begun (options sent) but not finished (no is_final yet) on one call.
constexpr size_t kMaxUnfinished = 4096;

// One BatchAppend call, driven by gRPC's callback API: no thread of its own. Reads run one at a
// time (OnReadDone starts the next); each finished append goes to the store asynchronously and
// its acknowledgement is queued for writing, so a slow client never blocks a shard writer.
// The call finishes once the client has half-closed (or gone) and every append it started has
// been answered; only then is the reactor deleted, so no store callback outlives it.
class BatchAppendReactor final
    : public grpc::ServerBidiReactor<pb::BatchAppendReq, pb::BatchAppendResp> {
 public:
  BatchAppendReactor(Store* store, grpc::CallbackServerContext* ctx) : store_(store) {
    spdlog::debug("BatchAppend call from {}", ctx->peer());
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard l(mu_);
      reading_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (auto st = Consume(); !st.ok()) {
      std::lock_guard l(mu_);
      reading_done_ = true;
      end_ = st;
      MaybeFinishLocked();
      return;
    }
    StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard l(mu_);
    queue_.pop_front();  // written, or the client is gone: drop it either way
    if (!queue_.empty()) {
      StartNextWriteLocked();
    } else {
      writing_ = false;
      MaybeFinishLocked();
    }
  }

  void OnDone() override { delete this; }

 private:
  // Takes one request message; a non-OK status ends the call.
  grpc::Status Consume() {
    std::string key = req_.correlation_id().SerializeAsString();
    if (pending_.size() >= kMaxUnfinished && !pending_.contains(key)) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "more than " + std::to_string(kMaxUnfinished) +
                              " appends without is_final on one BatchAppend call; finish them");
    }
    auto& p = pending_[key];
    if (req_.has_options()) {
      p.correlation = req_.correlation_id();
      p.options = req_.options();
      p.request.stream = p.options.stream_identifier().stream_name();
      p.request.expected = ExpectedFrom(p.options);
      p.request.deadline = DeadlineOf(p.options);
    }
    for (const auto& pm : req_.proposed_messages()) {
      if (p.error) break;
      auto e = wire::EventFromProposed(pm);
      if (!e) {
        p.error = e.error();
        break;
      }
      p.bytes += e->PayloadBytes();
      if (p.bytes > kMaxPendingBytes) {
        // The store would refuse it anyway; stop buffering so one client cannot exhaust memory.
        p.error = Error(ErrorCode::kAppendTooLarge, "the append is over " +
                                                        std::to_string(kMaxPendingBytes >> 20) +
                                                        " MiB; split it into several appends");
        p.request.events.clear();
        break;
      }
      p.request.events.push_back(std::move(*e));
    }
    if (!req_.is_final()) return grpc::Status::OK;
    PendingAppend done = std::move(p);
    pending_.erase(key);
    {
      std::lock_guard l(mu_);
      ++outstanding_;
    }
    if (done.error) {
      auto r = Skeleton(done.correlation, done.options);
      SetError(*done.error, done.options, &r);
      Answer(std::move(r));
      return grpc::Status::OK;
    }
    auto correlation = std::move(done.correlation);
    auto options = std::move(done.options);
    store_->AppendAsync(std::move(done.request),
                        [this, correlation = std::move(correlation),
                         options = std::move(options)](Result<AppendResult> result) {
                          auto r = Skeleton(correlation, options);
                          if (!result) {
                            SetError(result.error(), options, &r);
                          } else {
                            FillSuccess(*result, r.mutable_success());
                          }
                          Answer(std::move(r));
                        });
    return grpc::Status::OK;
  }

  // Queues one append's response (from a store callback or the reading path).
  void Answer(pb::BatchAppendResp r) {
    std::lock_guard l(mu_);
    --outstanding_;
    queue_.push_back(std::move(r));
    if (!writing_) {
      writing_ = true;
      StartNextWriteLocked();
    }
  }

  void StartNextWriteLocked() {
    grpc::WriteOptions wo;
    if (queue_.size() > 1) wo.set_buffer_hint();  // more follow: coalesce frames
    StartWrite(&queue_.front(), wo);
  }

  void MaybeFinishLocked() {
    if (reading_done_ && outstanding_ == 0 && !writing_ && !finished_) {
      finished_ = true;
      Finish(end_);
    }
  }

  Store* store_;
  pb::BatchAppendReq req_;                                  // the read in progress
  std::unordered_map<std::string, PendingAppend> pending_;  // touched by the reading path only
  std::mutex mu_;
  std::deque<pb::BatchAppendResp> queue_;  // GUARDED_BY(mu_); front() is being written
  size_t outstanding_ = 0;                 // GUARDED_BY(mu_): appends not yet answered
  bool writing_ = false, reading_done_ = false, finished_ = false;  // GUARDED_BY(mu_)
  grpc::Status end_ = grpc::Status::OK;                             // GUARDED_BY(mu_)
};
}  // namespace

grpc::ServerBidiReactor<pb::BatchAppendReq, pb::BatchAppendResp>* StreamsService::BatchAppend(
    grpc::CallbackServerContext* ctx) {
  return new BatchAppendReactor(StoreFor(ctx), ctx);
}

}  // namespace strata::server
