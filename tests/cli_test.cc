// The `strata` command as a user meets it: help for every command, clear errors with stable
// codes and exit statuses for bad input, and nothing written by a rejected append.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("strata-cli-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Data() const { return " --data " + dir_.string(); }
  std::filesystem::path dir_;
};

TEST_F(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"append", "read", "tail", "stats", "bench", "bench ingest", "bench read",
                          "bench tail", "stress", "serve"}) {
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

}  // namespace
