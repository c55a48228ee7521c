#include "server/grpc/grpc_server.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <mutex>

#include "gossip.grpc.pb.h"
#include "server/grpc/admin_service.h"
#include "server/grpc/streams_service.h"
#include "server/grpc/wire.h"
#include "serverfeatures.grpc.pb.h"

namespace strata::server {
namespace {

// What Strata implements, lower-cased as the real server lists them. Clients use this to pick
// calls: BatchAppend is not listed until it is implemented (clients then use Append).
class ServerFeaturesService final
    : public event_store::client::server_features::ServerFeatures::Service {
  grpc::Status GetSupportedMethods(
      grpc::ServerContext*, const event_store::client::Empty*,
      event_store::client::server_features::SupportedMethods* out) override {
    auto add = [&](const char* service, const char* method) {
      auto* m = out->add_methods();
      m->set_service_name(service);
      m->set_method_name(method);
    };
    for (const char* m : {"read", "append", "batchappend", "delete", "tombstone"}) {
      add("event_store.client.streams.streams", m);
    }
    add("event_store.client.server_features.serverfeatures", "getsupportedmethods");
    add("event_store.client.gossip.gossip", "read");
    out->set_event_store_server_version("24.10.0");
    return grpc::Status::OK;
  }
};

// The members, so `+discover` connection strings work: a single node, always the leader, or
// every live member of the cluster, this one as the leader (any member answers every request,
// so a client may stay with the one it asked) and the others as followers.
class GossipService final : public event_store::client::gossip::Gossip::Service {
 public:
  GossipService(std::string host, int* port, router::Ownership* ownership)
      : host_(std::move(host)), port_(port), ownership_(ownership) {}
  grpc::Status Read(grpc::ServerContext*, const event_store::client::Empty*,
                    event_store::client::gossip::ClusterInfo* out) override {
    using event_store::client::gossip::MemberInfo;
    const int64_t now_ticks = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() *
                              10;
    auto add = [&](const std::string& host, uint32_t port, bool self) {
      auto* m = out->add_members();
      ToWire(self ? instance_ : Uuid::Random(), false, m->mutable_instance_id());
      m->set_time_stamp(now_ticks);
      m->set_state(self ? MemberInfo::Leader : MemberInfo::Follower);
      m->set_is_alive(true);
      m->mutable_http_end_point()->set_address(host);
      m->mutable_http_end_point()->set_port(port);
    };
    bool listed_self = false;
    if (ownership_) {
      for (const auto& member : ownership_->Members()) {
        const size_t colon = member.advertise.rfind(':');
        uint32_t port = 0;
        if (colon == std::string::npos) continue;
        const char* first = member.advertise.data() + colon + 1;
        const char* last = member.advertise.data() + member.advertise.size();
        if (std::from_chars(first, last, port).ptr != last || port == 0) continue;
        add(member.advertise.substr(0, colon), port, member.self);
        listed_self |= member.self;
      }
    }
    if (!listed_self) add(host_, static_cast<uint32_t>(*port_), true);
    return grpc::Status::OK;
  }

 private:
  const Uuid instance_ = Uuid::Random();
  std::string host_;
  int* port_;
  router::Ownership* ownership_;
};
}  // namespace

struct GrpcServer::Rep {
  std::unique_ptr<StreamsService> streams;
  std::unique_ptr<ServerFeaturesService> features;
  std::unique_ptr<GossipService> gossip;
  std::unique_ptr<AdminService> admin;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

GrpcServer::GrpcServer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
GrpcServer::~GrpcServer() { Shutdown(0); }

namespace {
// Protobuf logs one ERROR line per message with invalid UTF-8 in a string field: a client could
// flood the log. Such messages are refused anyway; keep protobuf's lines at debug level.
void RouteProtobufLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          spdlog::critical("protobuf {}:{}: {}", file, line, message);
        } else {
          spdlog::debug("protobuf {}:{}: {}", file, line, message);
        }
      });
}
}  // namespace

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(Store* store, StoreOperations* operations,
                                                      const GrpcOptions& o) {
  static std::once_flag routed;
  std::call_once(routed, RouteProtobufLogs);
  auto rep = std::make_unique<Rep>();
  rep->streams = std::make_unique<StreamsService>(store, o.forwarded);
  rep->features = std::make_unique<ServerFeaturesService>();
  rep->gossip = std::make_unique<GossipService>(o.host, &rep->port, o.ownership);
  rep->admin = std::make_unique<AdminService>(operations, o.data_dir, o.projections);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.host + ":" + std::to_string(o.port), grpc::InsecureServerCredentials(),
                           &rep->port);
  // gRPC sets SO_REUSEPORT by default: a second server on the same port would then share its
  // connections with this one, silently. Refused instead ("is the port in use?").
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(o.max_message_bytes));
  // The official clients ping every 10 s; accept pings that often, even without calls.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(rep->streams.get());
  builder.RegisterService(rep->features.get());
  builder.RegisterService(rep->gossip.get());
  builder.RegisterService(rep->admin.get());
  rep->server = builder.BuildAndStart();
  if (!rep->server || rep->port == 0) {
    return Error(ErrorCode::kIoError, "cannot listen on " + o.host + ":" + std::to_string(o.port) +
                                          " for gRPC; is the port in use? pick another with "
                                          "--grpc-port");
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(rep)));
}

int GrpcServer::port() const { return rep_->port; }

void GrpcServer::Shutdown(int deadline_ms) {
  if (!rep_->server) return;
  rep_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  rep_->server->Wait();
  rep_->server.reset();
}

void GrpcServer::Wait() {
  if (rep_->server) rep_->server->Wait();
}

}  // namespace strata::server
