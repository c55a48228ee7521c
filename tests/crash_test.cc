// Crash test: runs `strata stress` against one data directory, kills it with SIGKILL at random
// moments, and after each kill verifies the store against the ack log — in this process through
// the stress library (src/tools/stress), or with `strata stress --verify`: every acknowledged
// event must be present exactly once at its revision and position, $all ordered, the stream index
// consistent. The store accumulates across rounds, so recovery is exercised on a growing log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include "process_util.h"
#include "tools/stress/stress.h"

namespace {

using strata::testing::RunCommand;
using strata::testing::Spawn;

std::string Strata() { return STRATA_BINARY; }

// What `strata stress --verify` does, in this process: the problems found, or the store's error.
std::vector<std::string> VerifyInProcess(const std::filesystem::path& dir, std::string* summary) {
  const strata::stress::AckLog log = strata::stress::ReadAckLog((dir / "stress-ack.log").string());
  if (strata::stress::NoStoreAndNothingAcknowledged(log, dir.string())) {
    *summary = "no store was created and nothing was acknowledged";
    return {};
  }
  strata::StoreOptions o;
  o.data_dir = dir.string();
  o.shards = 0;  // the store's own
  o.create_if_missing = false;
  o.cold.url = "file://" + dir.string() + "-cold";  // what the CLI's stress used (the default)
  o.cold.archive = false;
  auto store = strata::LocalStore::Open(o);
  if (!store) return {"the store does not open: " + store.error().ToString()};
  const strata::stress::VerifyReport r = strata::stress::VerifyAgainstLog(**store, log);
  *summary = std::to_string(r.acknowledged_events) + " acknowledged events; $all has " +
             std::to_string(r.records) + " records; " + std::to_string(r.unused_positions()) +
             " positions unused by crashes";
  return r.problems;
}

// Runs `args`, SIGKILLs it after `delay` unless it has exited; true if it was killed.
bool RunAndKillAfter(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
  pid_t pid = Spawn(args);
  EXPECT_GT(pid, 0);
  std::this_thread::sleep_for(delay);
  int status = 0;
  const bool running = waitpid(pid, &status, WNOHANG) == 0;
  if (running) kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return running;
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
    auto delay = std::chrono::milliseconds(150 + rng() % 1350);
    killed_while_running +=
        RunAndKillAfter({Strata(), "stress", "--data", dir.string(), "--duration", "20", "--seed",
                         std::to_string(round + 1), "--durability", durability},
                        delay);
    std::string summary;
    const auto problems = VerifyInProcess(dir, &summary);
    std::printf("round %2d (%s, killed after %4lld ms): %s\n", round + 1, durability.c_str(),
                static_cast<long long>(delay.count()), summary.c_str());
    for (const auto& p : problems) ADD_FAILURE() << "round " << round + 1 << ": " << p;
    ASSERT_TRUE(problems.empty());
  }
  EXPECT_GE(killed_while_running, 20);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir.string() + "-cold");  // the default cold tier of --data dir
}

// The same with the cold tier at work: segments seal every 100 ms, the archivers export, upload
// and commit them, and local retention drops them from RocksDB at once, while SIGKILL lands at
// random moments (mid-export, mid-upload, between upload and manifest entry, mid-retention).
// After each kill every acknowledged event must still be readable (most from the cold tier), and
// at the end every sealed segment archives with no manifest entry twice or overlapping.
TEST(Crash, ArchivingAndRetentionSurviveSigkillAtRandomMoments) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("strata-crash-cold-" + std::to_string(getpid()));
  const std::string cold = "file://" + dir.string() + "-cold";
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir.string() + "-cold");
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 12;
  int killed_while_running = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto delay = std::chrono::milliseconds(300 + rng() % 1700);
    killed_while_running +=
        RunAndKillAfter({Strata(), "stress", "--data", dir.string(), "--duration", "20", "--seed",
                         std::to_string(round + 100), "--archive", "--cold", cold,
                         "--segment-seconds", "0.1", "--local-retention-hours", "0"},
                        delay);
    std::string out;
    int rc = RunCommand(Strata() + " stress --verify --data " + dir.string(), &out);
    std::printf("round %2d (killed after %4lld ms): %s", round + 1,
                static_cast<long long>(delay.count()), out.c_str());
    ASSERT_EQ(rc, 0) << out;
  }
  EXPECT_GE(killed_while_running, 10);
  std::string flush;
  ASSERT_EQ(RunCommand(Strata() + " archive flush --data " + dir.string(), &flush), 0) << flush;
  std::string status;
  ASSERT_EQ(RunCommand(Strata() + " archive status --json --data " + dir.string(), &status), 0)
      << status;
  // Cold reads happened: retention moved every shard's warm floor past its first positions.
  EXPECT_EQ(status.find("\"warm_floor\":0"), std::string::npos) << status;
  std::string segs;  // loading the manifests checks that no two entries overlap
  ASSERT_EQ(RunCommand(Strata() + " segments list --data " + dir.string(), &segs), 0) << segs;
  const std::string total = segs.substr(segs.rfind('\n', segs.size() - 2) + 1);
  std::printf("%s", total.c_str());
  // Every record of the log is in exactly one archived segment: the manifests' event count is
  // the number of records $all holds.
  std::string verify;
  ASSERT_EQ(RunCommand(Strata() + " stress --verify --data " + dir.string(), &verify), 0) << verify;
  std::smatch in_all, in_segments;
  ASSERT_TRUE(std::regex_search(verify, in_all, std::regex("\\$all has (\\d+) records"))) << verify;
  ASSERT_TRUE(std::regex_search(total, in_segments, std::regex("segments, (\\d+) events")))
      << total;
  EXPECT_EQ(in_all[1].str(), in_segments[1].str());
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir.string() + "-cold");
}

// The cold tier's URL for a test: a fresh prefix in radosgw's bucket when scripts/test.sh runs
// one, else a local directory (printed, so the log says which ran).
std::string ColdUrlFor(const std::filesystem::path& dir, int generation) {
  const char* bucket = std::getenv("STRATA_TEST_S3_BUCKET");
  if (bucket && std::getenv("AWS_ENDPOINT_URL")) {
    return "s3://" + std::string(bucket) + "/crash-wal-" + std::to_string(getpid()) + "-" +
           std::to_string(generation);
  }
  std::printf("no S3 server (scripts/test.sh starts radosgw): the WAL goes to a directory\n");
  return "file://" + dir.string() + "-cold-" + std::to_string(generation);
}

// --durability object-store: SIGKILL at random moments, and the disk is lost with the process
// (the data directory is removed). The store is restored from the object store alone (archived
// segments and the WAL; segments seal every 300 ms, so both hold part of it) and verified
// against the ack log, kept elsewhere: every acknowledged event at its revision and position,
// $all ordered. The restored store is the next round's, so restores of restores are checked.
TEST(Crash, ObjectStoreDurabilitySurvivesLosingTheDiskAtRandomMoments) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("strata-crash-wal-" + std::to_string(getpid()));
  const std::string log = dir.string() + ".ack.log";
  std::filesystem::remove_all(dir);
  std::filesystem::remove(log);
  std::mt19937 rng(std::random_device{}());
  int generation = 0;
  std::string cold = ColdUrlFor(dir, generation);
  constexpr int kRounds = 8;
  int killed_while_running = 0, restored_from_wal = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto delay = std::chrono::milliseconds(800 + rng() % 2200);
    killed_while_running += RunAndKillAfter(
        {Strata(), "stress", "--data", dir.string(), "--log", log, "--duration", "20", "--seed",
         std::to_string(round + 200), "--durability", "object-store", "--cold", cold, "--archive",
         "--segment-seconds", "0.3", "--threads", "4"},
        delay);
    std::filesystem::remove_all(dir);  // the disk is gone
    std::string out;
    int rc = RunCommand(Strata() + " restore --from " + cold + " --data " + dir.string(), &out);
    if (rc != 0 && out.find("nothing to restore") != std::string::npos) {
      // Killed before the store wrote anything to the object store: nothing was acknowledged.
      EXPECT_TRUE(strata::stress::ReadAckLog(log).events.empty()) << out;
      std::printf("round %d (killed after %lld ms): nothing reached the object store yet\n",
                  round + 1, static_cast<long long>(delay.count()));
      std::filesystem::remove_all(dir);
      cold = ColdUrlFor(dir, ++generation);  // store.json there names a store never created
      continue;
    }
    ASSERT_EQ(rc, 0) << out;
    std::smatch wal;
    if (std::regex_search(out, wal, std::regex("(\\d+) records of the object-store WAL")) &&
        std::stoi(wal[1]) > 0) {
      ++restored_from_wal;
    }
    std::string verify;
    rc = RunCommand(
        Strata() + " stress --verify --data " + dir.string() + " --log " + log + " --cold " + cold,
        &verify);
    std::printf("round %d (killed after %lld ms): %s  %s", round + 1,
                static_cast<long long>(delay.count()), out.substr(0, out.find(';')).c_str(),
                verify.c_str());
    ASSERT_EQ(rc, 0) << verify;
  }
  EXPECT_GE(killed_while_running, kRounds - 1);
  EXPECT_GE(restored_from_wal, kRounds / 2) << "most restores should need the WAL's tail";
  std::filesystem::remove_all(dir);
  std::filesystem::remove(log);
  for (int g = 0; g <= generation; ++g) {
    std::filesystem::remove_all(dir.string() + "-cold-" + std::to_string(g));
  }
}

}  // namespace
