// A real `strata serve` in a child process on a free port, for process-level tests. The data
// directory is fresh and removed afterwards; SIGTERM stops the server at the end of the test.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

namespace strata::testing {

class Server {
 public:
  Server() {
    static int n = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-serve-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir_);
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      execl(STRATA_BINARY, STRATA_BINARY, "serve", "--data", dir_.c_str(), "--grpc-port", "0",
            "--http-port", "0", nullptr);
      _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    std::smatch m;
    while (!std::regex_search(out, m, std::regex("on 127\\.0\\.0\\.1:(\\d+)"))) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, n);
    }
    close(fds[0]);
    port_ = m.size() > 1 ? std::stoi(m[1]) : 0;
  }
  ~Server() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    std::filesystem::remove_all(dir_);
    std::filesystem::remove_all(dir_.string() + "-cold");  // serve's default cold tier
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace strata::testing
