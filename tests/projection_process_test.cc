// Projections in a real `strata serve` with a real redis-server: SIGKILL of the server at random
// moments while appends run and the Redis sink flushes every 50 ms; after each restart the sink
// must equal a recount from the store, key by key (`strata verify` exits 0), and `strata verify`
// must exit 2 once a key is deleted behind its back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "process_util.h"
#include "projection/tests/redis_server.h"

namespace {

using strata::testing::RedisServer;
using strata::testing::RunCommand;
using strata::testing::Spawn;

std::string Strata() { return STRATA_BINARY; }

void Kill(pid_t pid, int sig) {
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
}

// Runs `strata verify` until it exits 0 (the projection has caught up) or `tries` run out.
int VerifyUntilOk(const std::string& args, std::string* out, int tries = 60) {
  int rc = -1;
  for (int i = 0; i < tries; ++i) {
    out->clear();
    rc = RunCommand(Strata() + " verify " + args, out);
    if (rc == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return rc;
}

TEST(ProjectionProcess, RedisSinkEqualsARecountAfterSigkillsOfServeDuringFlushes) {
  RedisServer redis;
  const auto dir =
      std::filesystem::temp_directory_path() / ("strata-proj-crash-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const std::string port = std::to_string(RedisServer::FreePort());
  const std::string server = "127.0.0.1:" + port;
  const std::vector<std::string> serve = {
      Strata(),
      "serve",
      "--data",
      dir.string(),
      "--cold",
      "none",
      "--grpc-port",
      port,
      "--http-port",
      "0",
      "--projection",
      R"({"name":"per_stream","kind":"count","streams":["bench"],"redis":")" + redis.url() +
          R"(","flush_ms":50,"flush_events":300})",
      "--projection",
      R"({"name":"newest","kind":"last","streams":["bench"],"redis":")" + redis.url() +
          R"(","flush_ms":50})"};
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 6; ++round) {
    pid_t srv = Spawn(serve, true);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    pid_t load = Spawn({Strata(), "bench", "ingest", "--server", server, "--duration", "30",
                        "--warmup", "0", "--rate", "20000", "--streams", "50"},
                       true);
    const auto delay = std::chrono::milliseconds(500 + rng() % 1500);
    std::this_thread::sleep_for(delay);
    Kill(srv, SIGKILL);  // mid-flush or mid-fold: commits run every 50 ms
    Kill(load, SIGKILL);
    std::printf("round %d: serve killed after %lld ms\n", round + 1,
                static_cast<long long>(delay.count()));
  }
  pid_t srv = Spawn(serve, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (const char* name : {"per_stream", "newest"}) {
    std::string out;
    const int rc = VerifyUntilOk(std::string(name) + " --server " + server + " --max-lag 0", &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("OK: the sink agrees"), std::string::npos) << out;
    std::printf("%s", out.c_str());
  }
  // The same gate, as a deploy would run it, must fail once the sink is damaged.
  const std::string gen = redis.GetString({"GET", "strata:per_stream:current"});
  const std::string model = "strata:per_stream:g" + gen + ":model";
  auto* first = redis.Command({"ZRANGE", model, "0", "0"});
  ASSERT_TRUE(first && first->type == REDIS_REPLY_ARRAY && first->elements == 1);
  const std::string victim(first->element[0]->str, first->element[0]->len);
  freeReplyObject(first);
  redis.Do({"ZREM", model, victim});
  std::string out;
  EXPECT_EQ(RunCommand(Strata() + " verify per_stream --server " + server + " --json", &out), 2)
      << out;
  EXPECT_NE(out.find("\"ok\":false"), std::string::npos) << out;
  EXPECT_NE(out.find(victim), std::string::npos) << out;
  // And a replay repairs it without readers seeing a partial model.
  out.clear();
  EXPECT_EQ(RunCommand(Strata() + " replay per_stream --server " + server, &out), 0) << out;
  out.clear();
  EXPECT_EQ(VerifyUntilOk("per_stream --server " + server, &out), 0) << out;
  Kill(srv, SIGTERM);
  std::filesystem::remove_all(dir);
}

}  // namespace
