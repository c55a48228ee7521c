// The `strata` command as a user meets it: help for every command, clear errors with stable
// codes and exit statuses for bad input, and nothing written by a rejected append.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

struct Output {
  int status;
  std::string text;
};

Output Strata(const std::string& args) {
  std::string cmd = std::string(STRATA_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  std::string text;
  while (fgets(buf.data(), buf.size(), p)) text += buf.data();
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("strata-cli-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::remove_all(dir_.string() + "-cold");  // the default cold tier of --data dir_
  }
  std::string Data() const { return " --data " + dir_.string(); }
  std::filesystem::path dir_;
};

TEST_F(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"append", "read", "tail", "stats", "bench", "bench ingest", "bench read",
                          "bench tail", "stress", "serve", "archive status", "archive flush",
                          "segments list", "snapshot", "restore", "check"}) {
    auto out = Strata(std::string(cmd) + " --help");
    EXPECT_EQ(out.status, 0) << cmd;
    EXPECT_NE(out.text.find("--data"), std::string::npos) << cmd << ":\n" << out.text;
  }
}

TEST_F(Cli, AppendReadRoundTripAndIdempotentRetry) {
  const std::string id = "3f2a9c1e-0b7d-4e8a-9c55-2d1f6a7b8c90";
  auto a =
      Strata("append order-1 --type OrderPlaced --payload '{\"total\":12}' --id " + id + Data());
  ASSERT_EQ(a.status, 0) << a.text;
  EXPECT_NE(a.text.find("appended: order-1 revisions 0..0"), std::string::npos) << a.text;
  auto retry =
      Strata("append order-1 --type OrderPlaced --payload '{\"total\":12}' --id " + id + Data());
  ASSERT_EQ(retry.status, 0) << retry.text;
  EXPECT_NE(retry.text.find("already appended"), std::string::npos) << retry.text;
  auto read = Strata("read order-1 --json" + Data());
  ASSERT_EQ(read.status, 0) << read.text;
  EXPECT_NE(read.text.find("\"total\":12"), std::string::npos) << read.text;
  EXPECT_NE(read.text.find(id), std::string::npos);
}

TEST_F(Cli, BadInputGetsAClearErrorAndAnExitStatus) {
  struct Case {
    std::string args;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"append ''", "invalid-stream-name"},
      {"append s --expected sometimes", "invalid-expected-revision"},
      {"append s --id not-a-uuid", "invalid-event-id"},
      {"append '$all'", "invalid-stream-name"},
      {"append s --type ''", "empty type"},
      {"append '$$s' --type '$metadata' --payload '{\"$maxCount\": -1}'", "$maxCount"},
      {"append s --no-such-flag", "no-such-flag"},
      {"read s --durability maybe", "maybe"},
  };
  for (const auto& c : cases) {
    auto out = Strata(c.args + Data());
    EXPECT_NE(out.status, 0) << c.args;
    EXPECT_NE(out.text.find(c.expect), std::string::npos) << c.args << " said:\n" << out.text;
  }
  // Nothing was written by the rejected appends.
  auto all = Strata("read '$all'" + Data());
  EXPECT_EQ(all.text.find("@"), std::string::npos) << all.text;
}

TEST_F(Cli, ConfigFileKeysAreFlagNamesAndUnknownKeysAreRejected) {
  std::filesystem::create_directories(dir_);
  auto cfg = dir_ / "strata.toml";
  {
    std::ofstream out(cfg);
    out << "durability = \"async\"\nno-such-key = 3\n";
  }
  auto bad = Strata("serve --config " + cfg.string() + Data());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.text.find("unknown key 'no-such-key'"), std::string::npos) << bad.text;
  {
    std::ofstream out(cfg);
    out << "type = \"FromConfig\"\n";
  }
  auto ok = Strata("append cfg --config " + cfg.string() + Data());
  ASSERT_EQ(ok.status, 0) << ok.text;
  auto read = Strata("read cfg --json" + Data());
  EXPECT_NE(read.text.find("FromConfig"), std::string::npos) << read.text;
  {
    std::ofstream out(cfg);
    out << "this is not toml\n";
  }
  auto broken = Strata("append cfg --config " + cfg.string() + Data());
  EXPECT_NE(broken.status, 0);
  EXPECT_NE(broken.text.find("not valid TOML"), std::string::npos) << broken.text;
}

TEST_F(Cli, ReadingAMissingStoreExplainsWhatToDo) {
  auto out = Strata("read s --data " + (dir_ / "nothing-here").string());
  EXPECT_NE(out.status, 0);
  EXPECT_NE(out.text.find("no Strata store"), std::string::npos) << out.text;
}

TEST_F(Cli, WrongExpectedRevisionNamesTheActualRevision) {
  ASSERT_EQ(Strata("append acct --expected no_stream" + Data()).status, 0);
  auto out = Strata("append acct --expected 5" + Data());
  EXPECT_EQ(out.status, 1);
  EXPECT_NE(out.text.find("is at revision 0"), std::string::npos) << out.text;
}

// The recovery path a user follows: work, snapshot, more work archived after it, lose the
// disk, restore onto a new directory, and every acknowledged event is there
// (`strata stress --verify` against the ack log of both runs).
TEST_F(Cli, RestoreOntoAFreshDirectoryPassesStressVerify) {
  std::filesystem::create_directories(dir_);
  const std::string cold = " --cold file://" + (dir_ / "cold").string();
  const std::string data = " --data " + (dir_ / "data").string();
  const std::string log = " --log " + (dir_ / "ack.log").string();
  auto run1 = Strata("stress --duration 2 --seed 1 --segment-seconds 0.2" + data + cold + log);
  ASSERT_EQ(run1.status, 0) << run1.text;
  auto snap = Strata("snapshot" + data);  // the cold URL is remembered from the last open
  ASSERT_EQ(snap.status, 0) << snap.text;
  EXPECT_NE(snap.text.find("snapshot 20"), std::string::npos) << snap.text;
  auto run2 = Strata("stress --duration 2 --seed 2 --segment-seconds 0.2" + data + log);
  ASSERT_EQ(run2.status, 0) << run2.text;
  auto flush = Strata("archive flush" + data);
  ASSERT_EQ(flush.status, 0) << flush.text;
  EXPECT_NE(flush.text.find("every sealed segment is archived"), std::string::npos) << flush.text;
  auto segs = Strata("segments list" + data);
  ASSERT_EQ(segs.status, 0) << segs.text;
  EXPECT_NE(segs.text.find("segments/shard-000/"), std::string::npos) << segs.text;
  auto status = Strata("archive status" + data);
  ASSERT_EQ(status.status, 0) << status.text;
  EXPECT_NE(status.text.find("cold tier: file://"), std::string::npos) << status.text;
  auto list = Strata("snapshot --list" + data);
  ASSERT_EQ(list.status, 0) << list.text;
  EXPECT_NE(list.text.find("1 complete snapshots"), std::string::npos) << list.text;

  const std::string fresh = " --data " + (dir_ / "restored").string();
  auto restore = Strata("restore --from file://" + (dir_ / "cold").string() + fresh);
  ASSERT_EQ(restore.status, 0) << restore.text;
  EXPECT_NE(restore.text.find("restored snapshot"), std::string::npos) << restore.text;
  auto verify = Strata("stress --verify" + fresh + log);
  EXPECT_EQ(verify.status, 0) << verify.text;
  EXPECT_NE(verify.text.find("verify:"), std::string::npos) << verify.text;
  // Restoring over a store is refused with what to do.
  auto again = Strata("restore --from file://" + (dir_ / "cold").string() + fresh);
  EXPECT_EQ(again.status, 2) << again.text;
  EXPECT_NE(again.text.find("restore into an empty directory"), std::string::npos) << again.text;
}

TEST_F(Cli, CheckReportsACleanStoreAndADamagedOneWithExitStatuses) {
  ASSERT_EQ(Strata("append c-1 --type A --payload '{}'" + Data()).status, 0);
  auto clean = Strata("check" + Data());
  EXPECT_EQ(clean.status, 0) << clean.text;
  EXPECT_NE(clean.text.find("check: 0 problems; checked 1 records"), std::string::npos)
      << clean.text;
  auto json = Strata("check --json" + Data());
  EXPECT_EQ(json.status, 0) << json.text;
  EXPECT_NE(json.text.find("\"ok\":true"), std::string::npos) << json.text;
  // STRATA records the cold URL; a cold-url file (where stores made before it kept the URL) is
  // not read then.
  EXPECT_NE(ReadFile(dir_ / "STRATA").find("\"cold\": \"file://"), std::string::npos);
  { std::ofstream(dir_ / "cold-url", std::ios::trunc) << "damaged"; }
  EXPECT_EQ(Strata("read c-1" + Data()).status, 0);
  // Such an older store: STRATA without the URL. A damaged cold-url is reported by check
  // (exit 1), and is a clear error for other commands.
  {
    std::ofstream(dir_ / "STRATA", std::ios::trunc)
        << "{\"format\": 1, \"shards\": 4, \"partitions\": 64}\n";
    std::ofstream(dir_ / "cold-url", std::ios::trunc)
        << "file:///x\n#strata-meta v1 length=9 crc32c=00000000\n";
  }
  auto damaged = Strata("check" + Data());
  EXPECT_EQ(damaged.status, 1) << damaged.text;
  EXPECT_NE(damaged.text.find("PROBLEM metadata in " + (dir_ / "cold-url").string()),
            std::string::npos)
      << damaged.text;
  auto read = Strata("read c-1" + Data());
  EXPECT_NE(read.status, 0) << read.text;
  EXPECT_NE(read.text.find("corruption"), std::string::npos) << read.text;
  EXPECT_NE(read.text.find("--cold"), std::string::npos) << "says how to set it again";
  auto none = Strata("check --data " + dir_.string() + "-missing");
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.text.find("no Strata store"), std::string::npos) << none.text;
}

}  // namespace
