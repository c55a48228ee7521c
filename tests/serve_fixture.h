// A real `strata serve` in a child process on free ports, for process-level tests. The data
// directory is fresh (or the one given) and removed afterwards; SIGTERM stops the server at the
// end of the test.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace strata::testing {

class Server {
 public:
  Server() : Server(std::vector<std::string>{}) {}
  // `extra`: more `strata serve` flags. `data_dir`: where the store lives (default: a fresh
  // temporary directory); it is removed at the end either way.
  // `fresh`: remove what `data_dir` holds first (false: restart a server on its old data).
  // `extra` may set --grpc-port (default: any free port).
  explicit Server(const std::vector<std::string>& extra, std::string data_dir = "",
                  bool fresh = true) {
    static int n = 0;
    dir_ = data_dir.empty()
               ? std::filesystem::temp_directory_path() /
                     ("strata-serve-" + std::to_string(getpid()) + "-" + std::to_string(n++))
               : std::filesystem::path(data_dir);
    if (fresh) std::filesystem::remove_all(dir_);
    std::vector<std::string> args = {STRATA_BINARY, "serve",       "--data",
                                     dir_.string(), "--http-port", "0"};
    if (std::find(extra.begin(), extra.end(), "--grpc-port") == extra.end()) {
      args.insert(args.end(), {"--grpc-port", "0"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(STRATA_BINARY, argv.data());
      _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    std::smatch grpc, http;
    while (!std::regex_search(out, http, std::regex("health: http://127\\.0\\.0\\.1:(\\d+)"))) {
      ssize_t got = read(fds[0], buf, sizeof(buf));
      if (got <= 0) break;
      out.append(buf, got);
    }
    close(fds[0]);
    banner_ = out;
    if (std::regex_search(out, grpc, std::regex("on 127\\.0\\.0\\.1:(\\d+)"))) {
      port_ = std::stoi(grpc[1]);
    }
    if (http.size() > 1) http_port_ = std::stoi(http[1]);
  }
  ~Server() {
    Stop();
    if (!keep_) {
      std::filesystem::remove_all(dir_);
      std::filesystem::remove_all(dir_.string() + "-cold");  // serve's default cold tier
    }
  }
  // Leave the data directory for a server started on it later.
  void KeepData() { keep_ = true; }
  // What the server printed up to its banner (restore messages, the banner itself).
  const std::string& banner() const { return banner_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  int http_port() const { return http_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  // The server process has not exited.
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  // Stops it with `sig` and returns its wait status (that of an earlier exit, if it died).
  // Sends `sig` without waiting (SIGSTOP / SIGCONT).
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  int Stop(int sig = SIGTERM) {
    if (pid_ > 0) {
      kill(pid_, sig);
      waitpid(pid_, &exit_status_, 0);
      pid_ = -1;
    }
    return exit_status_;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
  int exit_status_ = 0;
  bool keep_ = false;
  std::string banner_;
};

}  // namespace strata::testing
