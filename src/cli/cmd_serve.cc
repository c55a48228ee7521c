// strata serve: parses the flags and runs app::Server (the composition root) until SIGTERM or
// SIGINT, which stop it gracefully: stop accepting calls, let in-flight ones finish, close.
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "app/server.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace strata::cli {
namespace {
std::atomic<bool> g_stop{false};

struct ServeFlags {
  StoreFlags store;
  app::ServerConfig server;              // all but the store and the projections
  std::vector<std::string> projections;  // --projection JSON, or [[projection]] in the config
};

void RegisterClusterFlags(CLI::App* cmd, app::ClusterConfig& c) {
  const char* group = "Cluster (docs/cluster.md)";
  cmd->add_option("--cluster", c.etcd,
                  "Join the cluster whose state is in this etcd: etcd://HOST:PORT[,HOST:PORT...]")
      ->group(group);
  cmd->add_option("--node-id", c.node_id, "This member's id, unique in the cluster")->group(group);
  cmd->add_option("--advertise", c.advertise,
                  "HOST:PORT the other members and clients reach this node's gRPC at "
                  "(default: --host:--grpc-port)")
      ->group(group);
  cmd->add_option("--role", c.role, "data (owns partitions) or router (only forwards)")
      ->group(group)
      ->capture_default_str();
  cmd->add_option("--cluster-name", c.name, "The cluster's name (its etcd keys: /strata/NAME/)")
      ->group(group)
      ->capture_default_str();
  cmd->add_option("--lease-seconds", c.lease_seconds,
                  "etcd lease TTL: a dead member's partitions move after about this long")
      ->group(group)
      ->capture_default_str();
}

int Run(ServeFlags& f) {
  if (!f.server.cluster.etcd.empty() && f.server.cluster.node_id.empty()) {
    return ReportError(Error(ErrorCode::kInvalidConfig,
                             "--cluster needs --node-id NAME, unique among the cluster's members"));
  }
  app::ServerConfig c = f.server;
  c.store = f.store;
  auto specs = ParseProjectionFlags(f.projections);
  if (!specs) return ReportError(specs.error());
  c.projections = std::move(*specs);
  auto server = app::Server::Start(std::move(c), [](const std::string& line) {
    std::cout << line << "\n" << std::flush;
  });
  if (!server) return ReportError(server.error());
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::cout << (*server)->Banner() << std::flush;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "strata: shutting down (finishing in-flight calls)\n" << std::flush;
  if (auto st = (*server)->Stop(); !st) return ReportError(st.error());
  std::cout << "strata: stopped cleanly\n";
  return 0;
}
}  // namespace

void RegisterServe(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the store over the KurrentDB (EventStoreDB) gRPC client protocol");
  cmd->footer(
      "Official clients connect with kurrentdb://127.0.0.1:2113?tls=false\n"
      "Example config (strata.toml):\n  data = \"/var/lib/strata\"\n  grpc-port = 2113\n"
      "  http-port = 2114\n  durability = \"sync\"\n"
      "  [[projection]]\n  name = \"points\"\n  kind = \"leaderboard\"\n"
      "  key = \"user-{id}\"\n  field = \"points\"\n  redis = \"redis://127.0.0.1:6379\"\n"
      "SIGTERM or Ctrl-C stops it: new calls are refused, in-flight ones finish, the store "
      "closes.");
  f->store.Register(cmd);
  cmd->add_option("--host", f->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--grpc-port", f->server.grpc_port, "gRPC port (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--http-port", f->server.http_port,
                  "HTTP port for /health and /metrics (0: any free)")
      ->capture_default_str();
  const char* cold_group = "Cold tier";
  cmd->add_option("--snapshot-interval-minutes", f->server.snapshot_interval_minutes,
                  "Take a snapshot to the cold tier this often (0: never)")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--snapshot-keep", f->server.snapshot_keep, "Keep this many newest snapshots")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--projection", f->projections,
                  "A projection to run, as JSON (repeatable; or [[projection]] tables in "
                  "--config); see docs/projections.md")
      ->group("Projections");
  cmd->add_option("--restore-if-empty", f->server.restore_if_empty,
                  "With no store in --data, rebuild it from the cold tier first (true/false)")
      ->group(cold_group)
      ->capture_default_str();
  RegisterClusterFlags(cmd, f->server.cluster);
  cmd->callback([f, cmd, &exit_code] {
    // In a cluster, acknowledged means it survives the loss of the node and its disk (a router
    // member stores nothing).
    if (!f->server.cluster.etcd.empty() && f->server.cluster.role != "router" &&
        cmd->count("--durability") == 0) {
      f->store.durability = "object-store";
    }
    // One $all across the members needs positions that are unique and comparable among them.
    if (!f->server.cluster.etcd.empty() && cmd->count("--positions") == 0) {
      f->store.positions = "clock";
    }
    exit_code = Run(*f);
  });
}

}  // namespace strata::cli
