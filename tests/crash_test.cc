// Crash test: runs `strata stress` against one data directory, kills it with SIGKILL at random
// moments, and after each kill runs `strata stress --verify`: every acknowledged event must be
// present exactly once at its revision and position, $all ordered, the stream index consistent.
// The store accumulates across rounds, so recovery is exercised on a growing log.
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

namespace {

std::string Strata() { return STRATA_BINARY; }

pid_t Spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Runs a command to completion; returns its exit code and output.
int RunCommand(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (fgets(buf.data(), buf.size(), p)) *out += buf.data();
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Crash, EveryAcknowledgedEventSurvivesSigkillAtRandomMoments) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("strata-crash-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 24;
  int killed_while_running = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Half the rounds use async durability: a process crash must lose nothing there either.
    std::string durability = round % 2 ? "async" : "sync";
    pid_t pid = Spawn({Strata(), "stress", "--data", dir.string(), "--duration", "20", "--seed",
                       std::to_string(round + 1), "--durability", durability});
    ASSERT_GT(pid, 0);
    auto delay = std::chrono::milliseconds(150 + rng() % 1350);
    std::this_thread::sleep_for(delay);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      ++killed_while_running;
    }
    waitpid(pid, &status, 0);
    std::string out;
    int rc = RunCommand(Strata() + " stress --verify --data " + dir.string(), &out);
    std::printf("round %2d (%s, killed after %4lld ms): %s", round + 1, durability.c_str(),
                static_cast<long long>(delay.count()), out.c_str());
    ASSERT_EQ(rc, 0) << out;
  }
  EXPECT_GE(killed_while_running, 20);
  std::filesystem::remove_all(dir);
}

}  // namespace
