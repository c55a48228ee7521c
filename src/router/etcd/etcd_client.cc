#include "router/etcd/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>

#include "etcd/etcd.grpc.pb.h"

namespace strata::router::etcd {

namespace pb = etcdserverpb;

Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url) {
  constexpr std::string_view kScheme = "etcd://";
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidConfig,
                 "cluster address '" + std::string(url) + "' " + why +
                     "; write it as etcd://HOST:PORT[,HOST:PORT...], e.g. etcd://127.0.0.1:2379");
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad("does not start with etcd://");
  std::vector<std::string> out;
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view ep = rest.substr(0, comma);
    size_t colon = ep.rfind(':');
    if (ep.empty() || colon == std::string_view::npos || colon == 0 || colon + 1 == ep.size()) {
      return bad("has an endpoint without HOST:PORT ('" + std::string(ep) + "')");
    }
    for (char c : ep.substr(colon + 1)) {
      if (c < '0' || c > '9')
        return bad("has a port that is not a number ('" + std::string(ep) + "')");
    }
    out.emplace_back(ep);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (out.empty()) return bad("names no endpoint");
  return out;
}

struct EtcdClient::Impl {
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
    std::unique_ptr<pb::Maintenance::Stub> maintenance;
  };
  EtcdOptions options;
  std::vector<Endpoint> endpoints;
  std::atomic<size_t> current{0};  // the endpoint that answered last

  // Runs `call(endpoint, context)` on the current endpoint, moving on to the next one while an
  // endpoint cannot be reached, until each was tried once.
  template <typename F>
  Status Call(std::string_view what, F&& call) {
    const size_t n = endpoints.size();
    const size_t start = current.load(std::memory_order_relaxed);
    std::string last;
    for (size_t i = 0; i < n; ++i) {
      Endpoint& ep = endpoints[(start + i) % n];
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
      grpc::Status st = call(ep, ctx);
      if (st.ok()) {
        current.store((start + i) % n, std::memory_order_relaxed);
        return OkStatus();
      }
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE &&
          st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return Error(ErrorCode::kInternal, "etcd at " + ep.address + " refused " +
                                               std::string(what) + ": " + st.error_message());
      }
      last = ep.address + ": " + st.error_message();
    }
    std::string all;
    for (const auto& ep : endpoints) all += (all.empty() ? "" : ",") + ep.address;
    return Error(ErrorCode::kUnavailable, "etcd cannot be reached for " + std::string(what) +
                                              " (tried " + all + "; last: " + last +
                                              "); check that the etcd members are running");
  }
};

namespace {
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

KeyValue FromPb(const pb::KeyValue& kv) {
  return {kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

void ToPb(const Compare& c, pb::Compare* out) {
  out->set_key(c.key);
  switch (c.result) {
    case Compare::Result::kEqual:
      out->set_result(pb::Compare::EQUAL);
      break;
    case Compare::Result::kNotEqual:
      out->set_result(pb::Compare::NOT_EQUAL);
      break;
    case Compare::Result::kLess:
      out->set_result(pb::Compare::LESS);
      break;
    case Compare::Result::kGreater:
      out->set_result(pb::Compare::GREATER);
      break;
  }
  switch (c.target) {
    case Compare::Target::kCreateRevision:
      out->set_target(pb::Compare::CREATE);
      out->set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out->set_target(pb::Compare::MOD);
      out->set_mod_revision(c.number);
      break;
    case Compare::Target::kVersion:
      out->set_target(pb::Compare::VERSION);
      out->set_version(c.number);
      break;
    case Compare::Target::kValue:
      out->set_target(pb::Compare::VALUE);
      out->set_value(c.value);
      break;
  }
}

void ToPb(const Op& op, pb::RequestOp* out) {
  switch (op.kind) {
    case Op::Kind::kPut: {
      auto* put = out->mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case Op::Kind::kDelete: {
      auto* del = out->mutable_request_delete_range();
      del->set_key(op.key);
      if (op.prefix) del->set_range_end(PrefixEnd(op.key));
      break;
    }
    case Op::Kind::kGet: {
      auto* get = out->mutable_request_range();
      get->set_key(op.key);
      if (op.prefix) get->set_range_end(PrefixEnd(op.key));
      break;
    }
  }
}
}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdOptions& options) {
  if (options.endpoints.empty()) {
    return Error(ErrorCode::kInvalidConfig,
                 "no etcd endpoint given; pass --cluster etcd://HOST:PORT");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (const auto& address : options.endpoints) {
    grpc::ChannelArguments args;
    // A dead member is retried soon, not after gRPC's default backoff of up to two minutes.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    Impl::Endpoint ep;
    ep.address = address;
    ep.channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    ep.kv = pb::KV::NewStub(ep.channel);
    ep.lease = pb::Lease::NewStub(ep.channel);
    ep.maintenance = pb::Maintenance::NewStub(ep.channel);
    impl->endpoints.push_back(std::move(ep));
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(impl)));
}

EtcdClient::EtcdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdClient::~EtcdClient() = default;

const std::vector<std::string>& EtcdClient::endpoints() const { return impl_->options.endpoints; }

Result<std::vector<KeyValue>> EtcdClient::GetPrefix(std::string_view prefix, int64_t* revision) {
  pb::RangeRequest req;
  req.set_key(std::string(prefix));
  req.set_range_end(PrefixEnd(prefix));
  pb::RangeResponse resp;
  STRATA_TRY(impl_->Call("a range read", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.kv->Range(&ctx, req, &resp);
  }));
  std::vector<KeyValue> out;
  out.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) out.push_back(FromPb(kv));
  if (revision) *revision = resp.header().revision();
  return out;
}

Result<std::optional<KeyValue>> EtcdClient::Get(std::string_view key) {
  pb::RangeRequest req;
  req.set_key(std::string(key));
  pb::RangeResponse resp;
  STRATA_TRY(impl_->Call("a read", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.kv->Range(&ctx, req, &resp);
  }));
  if (resp.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(FromPb(resp.kvs(0)));
}

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  pb::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  req.set_lease(lease);
  pb::PutResponse resp;
  STRATA_TRY(impl_->Call("a put", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.kv->Put(&ctx, req, &resp);
  }));
  return resp.header().revision();
}

Result<int64_t> EtcdClient::Delete(std::string_view key, bool prefix) {
  pb::DeleteRangeRequest req;
  req.set_key(std::string(key));
  if (prefix) req.set_range_end(PrefixEnd(key));
  pb::DeleteRangeResponse resp;
  STRATA_TRY(impl_->Call("a delete", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.kv->DeleteRange(&ctx, req, &resp);
  }));
  return resp.deleted();
}

Result<TxnResult> EtcdClient::Txn(const std::vector<Compare>& compares,
                                  const std::vector<Op>& success, const std::vector<Op>& failure) {
  pb::TxnRequest req;
  for (const auto& c : compares) ToPb(c, req.add_compare());
  for (const auto& op : success) ToPb(op, req.add_success());
  for (const auto& op : failure) ToPb(op, req.add_failure());
  pb::TxnResponse resp;
  STRATA_TRY(impl_->Call("a transaction", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.kv->Txn(&ctx, req, &resp);
  }));
  TxnResult out;
  out.succeeded = resp.succeeded();
  out.revision = resp.header().revision();
  for (const auto& r : resp.responses()) {
    if (!r.has_response_range()) continue;
    auto& kvs = out.gets.emplace_back();
    for (const auto& kv : r.response_range().kvs()) kvs.push_back(FromPb(kv));
  }
  return out;
}

Result<LeaseGrant> EtcdClient::GrantLease(int64_t ttl_seconds) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse resp;
  STRATA_TRY(impl_->Call("a lease grant", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.lease->LeaseGrant(&ctx, req, &resp);
  }));
  if (!resp.error().empty()) {
    return Error(ErrorCode::kInternal, "etcd refused a lease: " + resp.error());
  }
  return LeaseGrant{resp.id(), resp.ttl()};
}

Result<int64_t> EtcdClient::KeepAlive(int64_t lease) {
  pb::LeaseKeepAliveResponse resp;
  // One short stream per renewal: a stream's deadline covers the whole stream, so a long-lived
  // one could not time out a single renewal that gets no answer.
  STRATA_TRY(impl_->Call("a lease renewal", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    auto stream = ep.lease->LeaseKeepAlive(&ctx);
    pb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    if (!stream->Write(req) || !stream->Read(&resp)) return stream->Finish();
    stream->WritesDone();
    ctx.TryCancel();  // the answer is in; do not wait for the server to close the stream
    (void)stream->Finish();
    return grpc::Status::OK;
  }));
  return std::max<int64_t>(resp.ttl(), 0);
}

Status EtcdClient::RevokeLease(int64_t lease) {
  pb::LeaseRevokeRequest req;
  req.set_id(lease);
  pb::LeaseRevokeResponse resp;
  return impl_->Call("a lease revoke", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.lease->LeaseRevoke(&ctx, req, &resp);
  });
}

Result<std::string> EtcdClient::Version() {
  pb::StatusRequest req;
  pb::StatusResponse resp;
  STRATA_TRY(impl_->Call("a status probe", [&](Impl::Endpoint& ep, grpc::ClientContext& ctx) {
    return ep.maintenance->Status(&ctx, req, &resp);
  }));
  return resp.version();
}

}  // namespace strata::router::etcd
