// strata serve: the KurrentDB-compatible gRPC server over a local store. SIGTERM/SIGINT stop it
// gracefully: stop accepting calls, let in-flight ones finish, close the store.
#include <fmt/format.h>
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"

namespace strata::cli {
namespace {
std::atomic<bool> g_stop{false};

struct ServeFlags {
  StoreFlags store;
  std::string host = "127.0.0.1";
  int grpc_port = 2113;
  int http_port = 2114;
};

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

int Run(ServeFlags& f) {
  RouteProtobufLogs();
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  auto store = OpenOrReport(*options);
  if (!store) return 1;
  server::GrpcOptions go;
  go.host = f.host;
  go.port = f.grpc_port;
  go.data_dir = options->data_dir;
  auto srv = server::GrpcServer::Start(store.get(), go);
  if (!srv) return ReportError(srv.error());
  auto http = server::HttpServer::Start(store.get(), f.host, f.http_port);
  if (!http) return ReportError(http.error());
  (*http)->SetReady(true);
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::cout << fmt::format(
                   "strata serving {} on {}:{} (gRPC, KurrentDB client protocol, plaintext)\n"
                   "  connect with: kurrentdb://{}:{}?tls=false\n"
                   "  health: http://{}:{}/health   metrics: http://{}:{}/metrics\n",
                   options->data_dir, f.host, (*srv)->port(), f.host, (*srv)->port(), f.host,
                   (*http)->port(), f.host, (*http)->port())
            << std::flush;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "strata: shutting down (finishing in-flight calls)\n" << std::flush;
  (*http)->SetReady(false);
  (*srv)->Shutdown(5000);
  (*http)->Stop();
  auto st = store->Close();
  if (!st) return ReportError(st.error());
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
      "SIGTERM or Ctrl-C stops it: new calls are refused, in-flight ones finish, the store "
      "closes.");
  f->store.Register(cmd);
  cmd->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--grpc-port", f->grpc_port, "gRPC port (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--http-port", f->http_port, "HTTP port for /health and /metrics (0: any free)")
      ->capture_default_str();
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
