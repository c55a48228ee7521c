// Streams/BatchAppend: see streams_service.h.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "server/grpc/streams_service.h"
#include "server/grpc/wire.h"
#include "status.pb.h"

namespace strata::server {
namespace pb = event_store::client::streams;

namespace {
using Options = pb::BatchAppendReq::Options;

// Responses waiting for the call's writer thread.
struct Outbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<pb::BatchAppendResp> queue;  // GUARDED_BY(mu)
  size_t outstanding = 0;                 // appends not yet answered, GUARDED_BY(mu)
  bool reading_done = false;              // GUARDED_BY(mu)

  void Push(pb::BatchAppendResp r, bool completes_append) {
    std::lock_guard l(mu);
    queue.push_back(std::move(r));
    if (completes_append) --outstanding;
    cv.notify_all();
  }
};

ExpectedRevision ExpectedOf(const Options& o) {
  switch (o.expected_stream_position_case()) {
    case Options::kStreamPosition:
      return ExpectedRevision::Exact(Revision(o.stream_position()));
    case Options::kNoStream:
      return ExpectedRevision::NoStream();
    case Options::kStreamExists:
      return ExpectedRevision::StreamExists();
    default:
      return ExpectedRevision::Any();
  }
}

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
          e.code() == ErrorCode::kInvalidEventId || e.code() == ErrorCode::kIdempotencyConflict;
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
};
}  // namespace

grpc::Status StreamsService::BatchAppend(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<pb::BatchAppendResp, pb::BatchAppendReq>* stream) {
  spdlog::debug("BatchAppend call from {}", ctx->peer());
  auto outbox = std::make_shared<Outbox>();
  std::thread writer([&, outbox] {
    std::unique_lock l(outbox->mu);
    while (true) {
      outbox->cv.wait_for(l, std::chrono::milliseconds(100), [&] {
        return !outbox->queue.empty() || (outbox->reading_done && outbox->outstanding == 0);
      });
      while (!outbox->queue.empty()) {
        auto r = std::move(outbox->queue.front());
        outbox->queue.pop_front();
        l.unlock();
        stream->Write(r);  // false: the client is gone; keep draining so appends complete
        l.lock();
      }
      if (outbox->reading_done && outbox->outstanding == 0) return;
    }
  });

  std::unordered_map<std::string, PendingAppend> pending;
  pb::BatchAppendReq req;
  while (stream->Read(&req)) {
    std::string key = req.correlation_id().SerializeAsString();
    auto& p = pending[key];
    if (req.has_options()) {
      p.correlation = req.correlation_id();
      p.options = req.options();
      p.request.stream = p.options.stream_identifier().stream_name();
      p.request.expected = ExpectedOf(p.options);
      p.request.deadline = DeadlineOf(p.options);
    }
    for (const auto& pm : req.proposed_messages()) {
      if (p.error) break;
      auto type = pm.metadata().find("type");
      auto content_type = pm.metadata().find("content-type");
      if (type == pm.metadata().end() || content_type == pm.metadata().end()) {
        p.error = Error(ErrorCode::kInvalidArgument,
                        "every event needs the metadata keys 'type' and 'content-type'");
        break;
      }
      auto id = FromWire(pm.id());
      if (!id) {
        p.error = id.error();
        break;
      }
      EventData e;
      e.event_id = *id;
      e.type = type->second;
      e.content_type = content_type->second;
      e.metadata = pm.custom_metadata();
      e.data = pm.data();
      p.request.events.push_back(std::move(e));
    }
    if (!req.is_final()) continue;
    PendingAppend done = std::move(p);
    pending.erase(key);
    {
      std::lock_guard l(outbox->mu);
      ++outbox->outstanding;
    }
    if (done.error) {
      auto r = Skeleton(done.correlation, done.options);
      SetError(*done.error, done.options, &r);
      outbox->Push(std::move(r), true);
      continue;
    }
    auto correlation = done.correlation;
    auto options = done.options;
    store_->AppendAsync(std::move(done.request),
                        [outbox, correlation, options](Result<AppendResult> result) {
                          auto r = Skeleton(correlation, options);
                          if (!result) {
                            SetError(result.error(), options, &r);
                          } else {
                            FillSuccess(*result, r.mutable_success());
                          }
                          outbox->Push(std::move(r), true);
                        });
  }
  {
    std::lock_guard l(outbox->mu);
    outbox->reading_done = true;
    outbox->cv.notify_all();
  }
  writer.join();
  return grpc::Status::OK;
}

}  // namespace strata::server
