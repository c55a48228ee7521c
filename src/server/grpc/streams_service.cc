#include "server/grpc/streams_service.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "server/grpc/wire.h"

namespace strata::server {
namespace pb = event_store::client::streams;
using Options = pb::ReadReq::Options;

using wire::FilterFrom;

namespace {
bool StructuredIds(const Options& o) {
  return o.uuid_option().content_case() == Options::UUIDOption::kStructured;
}
}  // namespace

Store* StreamsService::StoreFor(const grpc::ServerContextBase* ctx) const {
  if (forwarded_ == store_) return store_;
  // A forwarding member's channel names kForwardedAuthority as its :authority: a channel-wide
  // marker, so every call on it carries it (gRPC 1.51 does not show a server the user agent).
  const grpc::string_ref authority = ctx->ExperimentalGetAuthority();
  const std::string_view a(authority.data(), authority.size());
  return a.substr(0, sizeof(kForwardedAuthority) - 1) == kForwardedAuthority ? forwarded_ : store_;
}

grpc::Status StreamsService::Append(grpc::ServerContext* ctx,
                                    grpc::ServerReader<pb::AppendReq>* reader,
                                    pb::AppendResp* resp) {
  spdlog::debug("Append call from {}", ctx->peer());
  pb::AppendReq msg;
  if (!reader->Read(&msg) || !msg.has_options()) {
    return BadRequest("the first AppendReq must carry options (stream and expected revision)");
  }
  AppendRequest req;
  req.stream = msg.options().stream_identifier().stream_name();
  req.expected = ExpectedFrom(msg.options());
  while (reader->Read(&msg)) {
    if (!msg.has_proposed_message()) {
      return BadRequest("after the options, every AppendReq must carry one proposed_message");
    }
    auto e = wire::EventFromProposed(msg.proposed_message());
    if (!e) return ToStatus(e.error(), ctx, req.stream);
    req.events.push_back(std::move(*e));
  }
  // Read() ends the same way for a half-close and for a client that went away: only the former
  // is a complete request. A cancelled one writes nothing.
  if (ctx->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the append");
  }
  const std::string stream = req.stream;
  const ExpectedRevision expected = req.expected;
  auto r = StoreFor(ctx)->Append(std::move(req));
  if (!r) {
    if (r.error().code() != ErrorCode::kWrongExpectedRevision) {
      return ToStatus(r.error(), ctx, stream);
    }
    // Not an RPC error: the wrong_expected_version arm, old and new fields both filled.
    auto* w = resp->mutable_wrong_expected_version();
    if (r.error().actual_revision) {
      w->set_current_revision_20_6_0(*r.error().actual_revision);
      w->set_current_revision(*r.error().actual_revision);
    } else {
      w->mutable_no_stream_20_6_0();
      w->mutable_current_no_stream();
    }
    switch (expected.kind()) {
      case ExpectedRevision::Kind::kExact:
        w->set_expected_revision_20_6_0(expected.revision().value());
        w->set_expected_revision(expected.revision().value());
        break;
      case ExpectedRevision::Kind::kAny:
        w->mutable_any_20_6_0();
        w->mutable_expected_any();
        break;
      case ExpectedRevision::Kind::kStreamExists:
        w->mutable_stream_exists_20_6_0();
        w->mutable_expected_stream_exists();
        break;
      case ExpectedRevision::Kind::kNoStream:
        w->mutable_expected_no_stream();
        break;
    }
    return grpc::Status::OK;
  }
  FillSuccess(*r, resp->mutable_success());
  return grpc::Status::OK;
}

grpc::Status StreamsService::Read(grpc::ServerContext* ctx, const pb::ReadReq* req,
                                  grpc::ServerWriter<pb::ReadResp>* writer) {
  const Options& o = req->options();
  if (o.count_option_case() == Options::kSubscription) return Subscribe(ctx, o, writer);
  if (o.stream_option_case() == Options::kStream) return ReadStreamCount(ctx, o, writer);
  if (o.stream_option_case() == Options::kAll) return ReadAllCount(ctx, o, writer);
  return BadRequest("ReadReq.options needs a stream or $all");
}

grpc::Status StreamsService::ReadStreamCount(grpc::ServerContext* ctx, const Options& o,
                                             grpc::ServerWriter<pb::ReadResp>* w) {
  const auto& so = o.stream();
  const std::string stream = so.stream_identifier().stream_name();
  const bool backwards = o.read_direction() == Options::Backwards;
  ReadStreamRequest rr;
  rr.stream = stream;
  rr.direction = backwards ? Direction::kBackwards : Direction::kForwards;
  if (so.revision_option_case() == Options::StreamOptions::kRevision) {
    rr.from = Revision(so.revision());
  } else if (so.revision_option_case() == Options::StreamOptions::kEnd && !backwards) {
    return grpc::Status::OK;  // forwards from the end: nothing
  } else if (so.revision_option_case() == Options::StreamOptions::kStart && backwards) {
    rr.from = Revision(0);
  }
  uint64_t remaining = o.count();
  const bool structured = StructuredIds(o);
  const bool resolve = o.resolve_links();
  // Compatibility level 1 (as KurrentDB): a forwards read whose first page is empty says where
  // the stream's events really start; every successful read ends with the last revision.
  const bool positions = o.control_option().compatibility() >= 1;
  const uint64_t start = rr.from ? rr.from->value() : 0;
  bool first_page = true;
  std::optional<uint64_t> last_revision;
  while (remaining > 0 && !ctx->IsCancelled()) {
    rr.max_count = std::min<uint64_t>(remaining, 512);
    auto page = StoreFor(ctx)->ReadStream(rr);
    if (!page) {
      if (page.error().code() == ErrorCode::kStreamNotFound) {
        pb::ReadResp resp;
        resp.mutable_stream_not_found()->mutable_stream_identifier()->set_stream_name(stream);
        w->Write(resp);
        return grpc::Status::OK;
      }
      return ToStatus(page.error(), ctx, stream);
    }
    if (positions && first_page && !backwards && page->events.empty()) {
      const uint64_t first = page->next ? page->next->value() : page->last_revision.value() + 1;
      if (first != start) {
        pb::ReadResp resp;
        resp.set_first_stream_position(first);
        if (!w->Write(resp)) return grpc::Status::OK;
      }
    }
    first_page = false;
    last_revision = page->last_revision.value();
    for (const auto& e : page->events) {
      pb::ReadResp resp;
      ToWire(e, structured, &resp, resolve);
      if (!w->Write(resp)) return grpc::Status::OK;  // the client went away
      --remaining;
    }
    if (page->end_of_stream || !page->next) break;
    rr.from = page->next;
  }
  if (positions && last_revision && !ctx->IsCancelled()) {
    pb::ReadResp resp;
    resp.set_last_stream_position(*last_revision);
    w->Write(resp);
  }
  return grpc::Status::OK;
}

grpc::Status StreamsService::ReadAllCount(grpc::ServerContext* ctx, const Options& o,
                                          grpc::ServerWriter<pb::ReadResp>* w) {
  const auto& ao = o.all();
  const bool backwards = o.read_direction() == Options::Backwards;
  ReadAllRequest rr;
  rr.direction = backwards ? Direction::kBackwards : Direction::kForwards;
  uint32_t checkpoint_every;
  rr.filter = FilterFrom(o, &checkpoint_every);
  if (ao.all_option_case() == Options::AllOptions::kPosition) {
    uint64_t p = ao.position().commit_position();
    // Forwards from p includes p; backwards from p starts before it (as KurrentDB).
    if (backwards) {
      if (p <= 1) return grpc::Status::OK;
      rr.from = Position(p - 1);
    } else {
      rr.from = Position(p);
    }
  } else if (ao.all_option_case() == Options::AllOptions::kEnd && !backwards) {
    return grpc::Status::OK;
  }
  uint64_t remaining = o.count();
  const bool structured = StructuredIds(o);
  while (remaining > 0 && !ctx->IsCancelled()) {
    rr.max_count = std::min<uint64_t>(remaining, 512);
    auto page = StoreFor(ctx)->ReadAll(rr);
    if (!page) return ToStatus(page.error(), ctx);
    for (const auto& e : page->events) {
      pb::ReadResp resp;
      ToWire(e, structured, &resp);
      if (!w->Write(resp)) return grpc::Status::OK;
      --remaining;
    }
    if (page->end) break;
    rr.from = page->next;
  }
  return grpc::Status::OK;
}

namespace {
// Hands a subscription's messages from its store thread to the RPC thread, with a bound: a
// client that does not read makes the store thread wait (it then reads from the warm tier when
// it resumes), so memory stays bounded.
class Relay : public SubscriptionHandler {
 public:
  Relay(bool structured, bool resolve_links)
      : structured_(structured), resolve_links_(resolve_links) {}
  bool OnEvent(const RecordedEvent& e) override {
    pb::ReadResp r;
    ToWire(e, structured_, &r, resolve_links_);
    return Push(std::move(r));
  }
  void OnCaughtUp() override {
    pb::ReadResp r;
    r.mutable_caught_up();
    Push(std::move(r));
  }
  void OnCheckpoint(Position p) override {
    pb::ReadResp r;
    r.mutable_checkpoint()->set_commit_position(p.value());
    r.mutable_checkpoint()->set_prepare_position(p.value());
    Push(std::move(r));
  }
  void OnStop(const Error* e) override {
    std::lock_guard l(mu_);
    stopped_ = true;
    if (e) error_ = *e;
    cv_.notify_all();
  }
  // RPC thread: waits up to `timeout` for a message.
  std::optional<pb::ReadResp> Pop(std::chrono::milliseconds timeout, bool* stopped) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, timeout, [&] { return !q_.empty() || stopped_; });
    *stopped = stopped_ && q_.empty();
    if (q_.empty()) return std::nullopt;
    auto r = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return r;
  }
  void Close() {
    std::lock_guard l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  std::optional<Error> error() {
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  bool Push(pb::ReadResp r) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return q_.size() < 1024 || closed_; });
    if (closed_) return false;
    q_.push_back(std::move(r));
    cv_.notify_all();
    return true;
  }
  const bool structured_, resolve_links_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::ReadResp> q_;
  bool stopped_ = false, closed_ = false;
  std::optional<Error> error_;
};
}  // namespace

grpc::Status StreamsService::Subscribe(grpc::ServerContext* ctx, const Options& o,
                                       grpc::ServerWriter<pb::ReadResp>* w) {
  SubscribeRequest sr;
  std::string stream;
  if (o.stream_option_case() == Options::kStream) {
    const auto& so = o.stream();
    stream = so.stream_identifier().stream_name();
    sr.stream = stream;
    if (so.revision_option_case() == Options::StreamOptions::kRevision) {
      sr.after_revision = Revision(so.revision());
    } else if (so.revision_option_case() == Options::StreamOptions::kEnd) {
      sr.from_end = true;
    }
  } else if (o.stream_option_case() == Options::kAll) {
    sr.all = true;
    const auto& ao = o.all();
    if (ao.all_option_case() == Options::AllOptions::kPosition) {
      sr.after_position = Position(ao.position().commit_position());
    } else if (ao.all_option_case() == Options::AllOptions::kEnd) {
      sr.from_end = true;
    }
    sr.filter = FilterFrom(o, &sr.checkpoint_interval);
  } else {
    return BadRequest("a subscription needs a stream or $all");
  }
  auto relay = std::make_shared<Relay>(StructuredIds(o), o.resolve_links());
  auto sub = StoreFor(ctx)->Subscribe(sr, relay);
  if (!sub) return ToStatus(sub.error(), ctx, stream);
  pb::ReadResp confirmation;
  confirmation.mutable_confirmation()->set_subscription_id(Uuid::Random().ToString());
  bool ok = w->Write(confirmation);
  while (ok && !ctx->IsCancelled()) {
    bool stopped = false;
    auto msg = relay->Pop(std::chrono::milliseconds(100), &stopped);
    if (msg) ok = w->Write(*msg);
    if (stopped) break;
  }
  relay->Close();
  (*sub)->Cancel();
  sub->reset();
  if (auto e = relay->error(); e && !ctx->IsCancelled()) return ToStatus(*e, ctx, stream);
  return grpc::Status::OK;
}

namespace {
// KurrentDB's numeric form of an expected version in trailers: -1 no stream, -2 any,
// -4 stream exists.
std::string ExpectedVersionTrailer(const ExpectedRevision& e) {
  switch (e.kind()) {
    case ExpectedRevision::Kind::kExact:
      return std::to_string(e.revision().value());
    case ExpectedRevision::Kind::kNoStream:
      return "-1";
    case ExpectedRevision::Kind::kAny:
      return "-2";
    case ExpectedRevision::Kind::kStreamExists:
      return "-4";
  }
  return "-2";
}

template <class Req>
grpc::Status DeleteError(const Error& e, grpc::ServerContext* ctx, const Req& req,
                         const std::string& stream) {
  if (e.code() == ErrorCode::kWrongExpectedRevision) {
    ctx->AddTrailingMetadata("expected-version",
                             ExpectedVersionTrailer(ExpectedFrom(req.options())));
  }
  return ToStatus(e, ctx, stream);
}
}  // namespace

// Delete and Tombstone differ only in the kind of deletion.
template <class Req, class Resp>
grpc::Status StreamsService::DeleteStream(grpc::ServerContext* ctx, const Req& req, Resp* resp,
                                          bool tombstone) {
  const auto& o = req.options();
  const std::string stream = o.stream_identifier().stream_name();
  auto r = StoreFor(ctx)->Delete({stream, ExpectedFrom(o), tombstone});
  if (!r) return DeleteError(r.error(), ctx, req, stream);
  resp->mutable_position()->set_commit_position(r->position.value());
  resp->mutable_position()->set_prepare_position(r->position.value());
  return grpc::Status::OK;
}

grpc::Status StreamsService::Delete(grpc::ServerContext* ctx, const pb::DeleteReq* req,
                                    pb::DeleteResp* resp) {
  return DeleteStream(ctx, *req, resp, /*tombstone=*/false);
}

grpc::Status StreamsService::Tombstone(grpc::ServerContext* ctx, const pb::TombstoneReq* req,
                                       pb::TombstoneResp* resp) {
  return DeleteStream(ctx, *req, resp, /*tombstone=*/true);
}

}  // namespace strata::server
