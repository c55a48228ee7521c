// The KurrentDB v1 Streams service over a Store (synchronous gRPC API: each call runs on a gRPC
// thread; a subscription holds its thread until the client cancels). Thread-safety: the
// service is shared by all calls; the Store does the synchronisation.
#pragma once

#include "storage/store.h"
#include "streams.grpc.pb.h"

namespace strata::server {

// The :authority of the channels a cluster member forwards requests over.
inline constexpr char kForwardedAuthority[] = "strata-forward";

class StreamsService final
    : public event_store::client::streams::Streams::WithCallbackMethod_BatchAppend<
          event_store::client::streams::Streams::Service> {
 public:
  // `forwarded` (may be null: `store`) serves the calls another cluster member forwarded here
  // (their channel's :authority starts with kForwardedAuthority): it must not forward again.
  explicit StreamsService(Store* store, Store* forwarded = nullptr)
      : store_(store), forwarded_(forwarded ? forwarded : store) {}

  grpc::Status Append(grpc::ServerContext* ctx,
                      grpc::ServerReader<event_store::client::streams::AppendReq>* reader,
                      event_store::client::streams::AppendResp* resp) override;
  grpc::Status Read(grpc::ServerContext* ctx, const event_store::client::streams::ReadReq* req,
                    grpc::ServerWriter<event_store::client::streams::ReadResp>* writer) override;
  grpc::Status Delete(grpc::ServerContext* ctx, const event_store::client::streams::DeleteReq* req,
                      event_store::client::streams::DeleteResp* resp) override;
  grpc::Status Tombstone(grpc::ServerContext* ctx,
                         const event_store::client::streams::TombstoneReq* req,
                         event_store::client::streams::TombstoneResp* resp) override;
  // The long-lived call the official clients multiplex all appends over (by correlation id,
  // in chunks ending with is_final). Served with gRPC's callback API (batch_append.cc): no
  // thread per call or per message; acknowledgements are queued, so a slow client never blocks
  // a shard writer.
  grpc::ServerBidiReactor<event_store::client::streams::BatchAppendReq,
                          event_store::client::streams::BatchAppendResp>*
  BatchAppend(grpc::CallbackServerContext* ctx) override;

 private:
  grpc::Status ReadStreamCount(grpc::ServerContext* ctx,
                               const event_store::client::streams::ReadReq::Options& o,
                               grpc::ServerWriter<event_store::client::streams::ReadResp>* w);
  grpc::Status ReadAllCount(grpc::ServerContext* ctx,
                            const event_store::client::streams::ReadReq::Options& o,
                            grpc::ServerWriter<event_store::client::streams::ReadResp>* w);
  grpc::Status Subscribe(grpc::ServerContext* ctx,
                         const event_store::client::streams::ReadReq::Options& o,
                         grpc::ServerWriter<event_store::client::streams::ReadResp>* w);

  template <class Req, class Resp>
  grpc::Status DeleteStream(grpc::ServerContext* ctx, const Req& req, Resp* resp, bool tombstone);

  Store* StoreFor(const grpc::ServerContextBase* ctx) const;

  Store* store_;
  Store* forwarded_;
};

}  // namespace strata::server
