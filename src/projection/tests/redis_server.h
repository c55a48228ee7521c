// A real redis-server for tests: started on a free port of 127.0.0.1 in a fresh directory, with
// AOF on (appendfsync always, so a SIGKILL loses nothing acknowledged), stopped and removed at
// the end. Stop() and Start() again restart it on the same port and data, for crash tests;
// Stop(), Wipe(), Start() is a Redis that lost its disk and comes back empty. Extra arguments
// (set_extra_args) apply from the next Start().
#pragma once

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace strata::testing {

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {})
      : extra_args_(std::move(extra_args)) {
    static int n = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-redis-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
    Start();
  }
  ~RedisServer() {
    Stop(SIGTERM);
    std::filesystem::remove_all(dir_);
  }

  // Starts redis-server and waits until it answers PING (after loading its data).
  void Start() {
    std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--dir",
                                     dir_.string()};
    for (const char* a : {"--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                          "--appendfsync", "always", "--daemonize", "no"}) {
      args.push_back(a);
    }
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      freopen("/dev/null", "w", stdout);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    // Loading a large AOF can take seconds: PING answers LOADING until it is done.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Ping()) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "redis-server exited at start (is it installed? scripts/setup.sh installs it)";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL() << "redis-server did not answer on 127.0.0.1:" << port_;
  }
  // Deletes its data files (while stopped): the next Start() comes back with nothing at all.
  void Wipe() {
    ASSERT_LE(pid_, 0) << "Wipe() a running redis-server";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  // SIGKILL (a crash) or SIGTERM; waits for the process.
  void Stop(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  // Runs one command (argv) and returns the reply; the caller frees it.
  redisReply* Command(const std::vector<std::string>& args) {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (!c || c->err) {
      if (c) redisFree(c);
      return nullptr;
    }
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    redisFree(c);
    return r;
  }
  // A command whose reply is ignored.
  void Do(const std::vector<std::string>& args) {
    if (auto* r = Command(args)) freeReplyObject(r);
  }
  std::string GetString(const std::vector<std::string>& args) {
    std::string out;
    if (auto* r = Command(args)) {
      if (r->type == REDIS_REPLY_STRING) out.assign(r->str, r->len);
      freeReplyObject(r);
    }
    return out;
  }
  long long GetInteger(const std::vector<std::string>& args) {
    long long v = -1;
    if (auto* r = Command(args)) {
      if (r->type == REDIS_REPLY_INTEGER) v = r->integer;
      freeReplyObject(r);
    }
    return v;
  }

 private:
  bool Ping() {
    auto* r = Command({"PING"});
    const bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    return ok;
  }

 public:
  // A port of 127.0.0.1 that was free a moment ago.
  static int FreePort() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
  }

 private:
  std::vector<std::string> extra_args_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace strata::testing
