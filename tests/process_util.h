// Helpers for process-level tests that drive the `strata` binary: spawn a child, run a command to
// completion and capture what it printed.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace strata::testing {

// Starts `args` (args[0] is the path) with stdout, and stderr too if `quiet`, sent to /dev/null.
inline pid_t Spawn(const std::vector<std::string>& args, bool quiet = false) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    if (quiet) dup2(devnull, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Runs a shell command to completion; returns its exit code and appends its output to *out.
inline int RunCommand(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (fgets(buf.data(), buf.size(), p)) *out += buf.data();
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace strata::testing
