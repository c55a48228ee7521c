// strata serve: the KurrentDB-compatible gRPC server over a local store. SIGTERM/SIGINT stop it
// gracefully: stop accepting calls, let in-flight ones finish, close the store.
#include <fmt/format.h>
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "projection/runtime.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"
#include "storage/snapshot.h"

namespace strata::cli {
namespace {
std::atomic<bool> g_stop{false};

struct ServeFlags {
  StoreFlags store;
  std::string host = "127.0.0.1";
  int grpc_port = 2113;
  int http_port = 2114;
  double snapshot_interval_minutes = 360;
  uint32_t snapshot_keep = 3;
  bool restore_if_empty = true;
  std::vector<std::string> projections;  // --projection JSON, or [[projection]] in the config
};

// Takes a snapshot every `interval` (and keeps the newest `keep`) until destroyed.
class SnapshotScheduler {
 public:
  SnapshotScheduler(Store* store, const StoreOptions& options, std::chrono::milliseconds interval,
                    uint32_t keep)
      : store_(store), options_(options), interval_(interval), keep_(keep) {
    if (interval_.count() > 0 && !options_.cold.url.empty()) {
      thread_ = std::thread([this] { Loop(); });
    }
  }
  ~SnapshotScheduler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    while (true) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, interval_, [&] { return stop_; })) return;
      }
      auto info = store_->Snapshot(nullptr);
      if (!info) {
        spdlog::warn("scheduled snapshot failed (the next one resumes it): {}",
                     info.error().ToString());
        continue;
      }
      auto os = objstore::Open(options_.cold.url, options_.cold.s3);
      if (os) {
        auto pruned = PruneSnapshots(**os, keep_);
        if (!pruned) spdlog::warn("pruning old snapshots failed: {}", pruned.error().ToString());
      }
    }
  }
  Store* store_;
  StoreOptions options_;
  std::chrono::milliseconds interval_;
  uint32_t keep_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
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
  f.store.archive = true;
  auto options = f.store.ToOptions();
  if (!options) return ReportError(options.error());
  auto specs = ParseProjectionFlags(f.projections);
  if (!specs) return ReportError(specs.error());
  // An empty disk with a cold tier that holds a store: rebuild from it first.
  if (f.restore_if_empty && !options->cold.url.empty() &&
      !std::filesystem::exists(std::filesystem::path(options->data_dir) / "STRATA")) {
    auto restorable = HasRestorableStore(options->cold.url, options->cold.s3);
    if (!restorable) return ReportError(restorable.error());
    if (*restorable) {
      std::cout << "strata: " << options->data_dir << " holds no store; restoring it from "
                << options->cold.url << "\n"
                << std::flush;
      RestoreOptions ro;
      ro.from = options->cold.url;
      ro.s3 = options->cold.s3;
      ro.data_dir = options->data_dir;
      auto r = RestoreStore(ro);
      if (!r) return ReportError(r.error());
      std::cout << fmt::format(
                       "strata: restored {} ({} bytes) and {} archived segments ({} events) in "
                       "{:.1f} s\n",
                       r->snapshot.empty() ? std::string("no snapshot") : "snapshot " + r->snapshot,
                       r->bytes, r->segments, r->events, r->seconds)
                << std::flush;
    }
  }
  auto store = OpenOrReport(f.store, *options);
  if (!store) return 1;
  auto snapshots = std::make_unique<SnapshotScheduler>(
      store.get(), *options,
      std::chrono::milliseconds(static_cast<int64_t>(f.snapshot_interval_minutes * 60'000)),
      f.snapshot_keep);
  auto projections = projection::ProjectionRuntime::Start(store.get(), *specs);
  if (!projections) return ReportError(projections.error());
  server::GrpcOptions go;
  go.host = f.host;
  go.port = f.grpc_port;
  go.data_dir = options->data_dir;
  go.projections = projections->get();
  auto srv = server::GrpcServer::Start(store.get(), go);
  if (!srv) return ReportError(srv.error());
  auto http = server::HttpServer::Start(store.get(), f.host, f.http_port, projections->get());
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
            << (options->cold.url.empty()
                    ? std::string("  cold tier: none (--cold none): every event stays local\n")
                    : fmt::format("  cold tier: {} (strata archive status --server {}:{})\n",
                                  options->cold.url, f.host, (*srv)->port()))
            << (specs->empty()
                    ? std::string()
                    : fmt::format("  projections: {} (strata projection list --server "
                                  "{}:{}; http://{}:{}/projections)\n",
                                  specs->size(), f.host, (*srv)->port(), f.host, (*http)->port()))
            << std::flush;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "strata: shutting down (finishing in-flight calls)\n" << std::flush;
  (*http)->SetReady(false);
  (*srv)->Shutdown(5000);
  (*http)->Stop();
  projections->reset();  // stops the followers; uncommitted deltas are refolded at the next start
  snapshots.reset();     // a scheduled snapshot in progress finishes first
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
      "  [[projection]]\n  name = \"points\"\n  kind = \"leaderboard\"\n"
      "  key = \"user-{id}\"\n  field = \"points\"\n  redis = \"redis://127.0.0.1:6379\"\n"
      "SIGTERM or Ctrl-C stops it: new calls are refused, in-flight ones finish, the store "
      "closes.");
  f->store.Register(cmd);
  cmd->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--grpc-port", f->grpc_port, "gRPC port (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--http-port", f->http_port, "HTTP port for /health and /metrics (0: any free)")
      ->capture_default_str();
  const char* cold_group = "Cold tier";
  cmd->add_option("--snapshot-interval-minutes", f->snapshot_interval_minutes,
                  "Take a snapshot to the cold tier this often (0: never)")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--snapshot-keep", f->snapshot_keep, "Keep this many newest snapshots")
      ->group(cold_group)
      ->capture_default_str();
  cmd->add_option("--projection", f->projections,
                  "A projection to run, as JSON (repeatable; or [[projection]] tables in "
                  "--config); see docs/projections.md")
      ->group("Projections");
  cmd->add_option("--restore-if-empty", f->restore_if_empty,
                  "With no store in --data, rebuild it from the cold tier first (true/false)")
      ->group(cold_group)
      ->capture_default_str();
  cmd->callback([f, &exit_code] { exit_code = Run(*f); });
}

}  // namespace strata::cli
