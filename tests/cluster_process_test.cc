// Three `strata serve --cluster` processes on one real etcd: any member answers every request
// (forwarding to the partition's owner), errors come back unchanged through a hop, a stream
// subscription on one member sees appends made through another, and when a member is SIGKILLed
// with its disk the survivors take its partitions over from its object store (its appends were
// acknowledged only once in its object-store WAL) and serve every acknowledged event, while the
// member itself comes back from there too.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "client/remote_store.h"
#include "model/partition.h"
#include "process_util.h"
#include "router/cluster_view.h"
#include "router/etcd/etcd_client.h"
#include "serve_fixture.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

EventData Ev(int i) {
  EventData e;
  e.event_id = Uuid::Random();
  e.type = "Placed";
  e.data = "{\"i\":" + std::to_string(i) + "}";
  return e;
}

struct Node {
  std::string id;
  int port = 0;
  std::string dir;
  std::unique_ptr<testing::Server> server;
  std::unique_ptr<client::RemoteStore> client;
};

class ClusterProcess : public ::testing::Test {
 protected:
  // The etcd the members use: the shared one (STRATA_ETCD); ClusterProcessOwnEtcd starts its own.
  virtual std::string EtcdUrl() {
    const char* url = std::getenv("STRATA_ETCD");
    return url ? url : "";
  }

  void SetUp() override {
    const std::string url = EtcdUrl();
    if (url.empty()) {
      GTEST_SKIP() << "no etcd: STRATA_ETCD is unset (scripts/test.sh starts one with "
                      "scripts/etcd.sh), or STRATA_TEST_ETCD_SCRIPT for one of its own";
    }
    etcd_url_ = url;
    auto eps = router::etcd::ParseEtcdUrl(url);
    ASSERT_TRUE(eps);
    auto etcd = router::etcd::EtcdClient::Create({*eps, 2000ms});
    ASSERT_TRUE(etcd);
    etcd_ = std::move(*etcd);
    name_ = "proc-" + std::to_string(std::random_device{}() % 1000000000u);
    for (const char* id : {"a", "b", "c"}) {
      Node n;
      n.id = id;
      n.port = FreePort();
      n.dir = (std::filesystem::temp_directory_path() / ("strata-cluster-" + name_ + "-" + id))
                  .string();
      nodes_.push_back(std::move(n));
    }
    for (auto& n : nodes_) Start(n, /*fresh=*/true);
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      n.client.reset();
      if (n.server) n.server->Signal(SIGCONT);  // a test that failed while it was stopped
      n.server.reset();
    }
    if (etcd_) IgnoreError(etcd_->Delete("/strata/" + name_ + "/", /*prefix=*/true));
  }

  // Each member's cold tier, where its object-store WAL goes (serve --cluster acknowledges an
  // append once it is there): a prefix in radosgw's bucket, else a directory.
  std::string ColdUrl(const Node& n) {
    const char* bucket = std::getenv("STRATA_TEST_S3_BUCKET");
    if (bucket && std::getenv("AWS_ENDPOINT_URL")) {
      return "s3://" + std::string(bucket) + "/" + name_ + "-" + n.id;
    }
    return "file://" + n.dir + "-cold";
  }

  void Start(Node& n, bool fresh) {
    n.server = std::make_unique<testing::Server>(
        std::vector<std::string>{"--grpc-port", std::to_string(n.port), "--cluster", etcd_url_,
                                 "--cluster-name", name_, "--node-id", n.id, "--lease-seconds", "3",
                                 "--cold", ColdUrl(n)},
        n.dir, fresh);
    ASSERT_EQ(n.server->port(), n.port) << "member " << n.id << " did not start";
    client::RemoteOptions o;
    o.target = n.server->target();
    auto c = client::ConnectStore(o);
    ASSERT_TRUE(c) << c.error().ToString();
    n.client = std::move(*c);
  }

  router::ClusterView View() {
    auto v = router::ReadClusterView(*etcd_, router::ClusterKeys(name_), 64);
    EXPECT_TRUE(v) << v.error().ToString();
    return v ? *v : router::ClusterView{};
  }

  // Waits until every partition has its desired owner and each member owns at least `min`.
  bool WaitBalanced(uint32_t min, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto v = View();
      std::map<std::string, uint32_t> owned;
      uint32_t total = 0;
      for (const auto& o : v.owners) {
        if (o) ++owned[o->node], ++total;
      }
      bool ok = total == 64;
      for (const auto& n : nodes_) ok = ok && owned[n.id] >= min;
      for (uint32_t p = 0; p < 64 && ok; ++p) {  // settled: nothing still moving
        ok = v.desired[p].empty() || v.owners[p]->node == v.desired[p];
      }
      if (ok) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string etcd_url_, name_;
  std::unique_ptr<router::etcd::EtcdClient> etcd_;
  std::vector<Node> nodes_;
};

TEST_F(ClusterProcess, AnyMemberServesEveryStreamAndSurvivorsTakeADeadMembersStreamsOver) {
  ASSERT_TRUE(WaitBalanced(20, 30s)) << "the members did not share the partitions";
  // 120 streams of 3 events, all appended through a; every one readable through b and c.
  std::map<std::string, std::vector<Uuid>> acked;
  for (int s = 0; s < 120; ++s) {
    const std::string stream = "order-" + std::to_string(s);
    std::vector<EventData> events{Ev(0), Ev(1), Ev(2)};
    auto r = nodes_[0].client->Append(
        {.stream = stream, .expected = ExpectedRevision::NoStream(), .events = events});
    ASSERT_TRUE(r) << stream << ": " << r.error().ToString();
    EXPECT_EQ(r->last_revision.value(), 2u);
    for (const auto& e : events) acked[stream].push_back(e.event_id);
  }
  for (auto* reader : {nodes_[1].client.get(), nodes_[2].client.get()}) {
    for (const auto& [stream, ids] : acked) {
      auto r = reader->ReadStream({.stream = stream});
      ASSERT_TRUE(r) << stream << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), 3u) << stream;
      for (size_t i = 0; i < 3; ++i) EXPECT_EQ(r->events[i].event_id, ids[i]) << stream;
    }
  }
  // The engine's errors come back through the hop unchanged.
  auto wrong = nodes_[1].client->Append(
      {.stream = "order-7", .expected = ExpectedRevision::NoStream(), .events = {Ev(9)}});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kWrongExpectedRevision);
  EXPECT_EQ(wrong.error().actual_revision, std::optional<uint64_t>(2));
  // a's /metrics count what it forwarded and what it served itself, and show its partitions.
  std::string metrics;
  ASSERT_EQ(testing::RunCommand("curl -s http://127.0.0.1:" +
                                    std::to_string(nodes_[0].server->http_port()) + "/metrics",
                                &metrics),
            0);
  auto sample = [&](const std::string& name) -> double {
    auto at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
  };
  EXPECT_GE(sample("strata_cluster_partitions_owned"), 20);
  EXPECT_EQ(sample("strata_cluster_lease_valid"), 1);
  EXPECT_EQ(sample("strata_cluster_members"), 3);
  EXPECT_GT(sample("strata_cluster_forwarded_total{op=\"append\"}"), 40);  // about 2/3 of 120
  EXPECT_GT(sample("strata_cluster_appends_served_total"), 20);            // about 1/3
  EXPECT_EQ(sample("strata_cluster_forwarded_total{op=\"append\"}") +
                sample("strata_cluster_appends_served_total"),
            120);
  EXPECT_NE(metrics.find("strata_cluster_partition_owned_seconds{partition="), std::string::npos);
  // An append forwarded to a reaches the router that does not forward (not a's client-facing one,
  // whose counts stay as they were): a stale view there could otherwise send it back.
  std::string on_a;
  const auto owners = View().owners;
  ASSERT_EQ(owners.size(), 64u);
  for (int i = 0; on_a.empty() && i < 10000; ++i) {
    const std::string s = "fwd-" + std::to_string(i);
    const auto& o = owners[PartitionOf(s, 64)];
    if (o && o->node == "a") on_a = s;
  }
  ASSERT_FALSE(on_a.empty()) << "a owns no partition";
  const double served_before = sample("strata_cluster_appends_served_total");
  ASSERT_TRUE(nodes_[1].client->Append(
      {.stream = on_a, .expected = ExpectedRevision::NoStream(), .events = {Ev(0)}}));
  metrics.clear();
  ASSERT_EQ(testing::RunCommand("curl -s http://127.0.0.1:" +
                                    std::to_string(nodes_[0].server->http_port()) + "/metrics",
                                &metrics),
            0);
  EXPECT_EQ(sample("strata_cluster_appends_served_total"), served_before);
  // Every partition that got data is pinned to the member that wrote it.
  auto v = View();
  for (const auto& [stream, ids] : acked) {
    const uint32_t p = PartitionOf(stream, 64);
    ASSERT_TRUE(v.owners[p]);
    EXPECT_EQ(v.written[p], v.owners[p]->node) << stream;
  }

  // c dies without leaving, and its disk with it. Once its lease has expired, a and b take
  // its partitions over from its object store (docs/cluster.md, "Failover") and serve every
  // event c acknowledged; meanwhile the other partitions go on.
  nodes_[2].client.reset();
  nodes_[2].server->KeepData();  // the fixture would remove a file:// cold tier with it
  const auto killed = std::chrono::steady_clock::now();
  nodes_[2].server->Stop(SIGKILL);
  std::filesystem::remove_all(nodes_[2].dir);
  std::string on_c, elsewhere;
  for (const auto& [stream, ids] : acked) {
    const uint32_t p = PartitionOf(stream, 64);
    if (v.written[p] == "c" && on_c.empty()) on_c = stream;
    if (v.written[p] != "c" && elsewhere.empty()) elsewhere = stream;
  }
  ASSERT_FALSE(on_c.empty());
  const EventData fourth = Ev(3);
  auto goes_on = nodes_[1].client->Append(
      {.stream = elsewhere, .expected = ExpectedRevision::Exact(Revision(2)), .events = {fourth}});
  ASSERT_TRUE(goes_on) << goes_on.error().ToString();
  EXPECT_EQ(goes_on->first_revision.value(), 3u);
  acked[elsewhere].push_back(fourth.event_id);
  std::optional<Error> last_refusal;
  bool served = false;
  while (!served && std::chrono::steady_clock::now() < killed + 30s) {
    auto r = nodes_[0].client->ReadStream({.stream = on_c});
    served = r.has_value();
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
      last_refusal = r.error();
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(served) << "c's partitions were not taken over: "
                      << (last_refusal ? last_refusal->ToString() : "");
  std::printf("c's streams served again by a survivor %.1f s after the kill (lease 3 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  // Each survivor takes its share over in one batch; wait for the other's too.
  auto all_taken = [&] {
    v = View();
    for (uint32_t p = 0; p < 64; ++p) {
      if (v.written[p] == "c" || !v.owners[p] || v.owners[p]->node == "c") return false;
    }
    return true;
  };
  while (!all_taken() && std::chrono::steady_clock::now() < killed + 30s) {
    std::this_thread::sleep_for(100ms);
  }
  for (uint32_t p = 0; p < 64; ++p) {
    EXPECT_NE(v.written[p], "c") << "partition " << p << " still waits for c";
    EXPECT_TRUE(v.owners[p] && v.owners[p]->node != "c") << "partition " << p << " has no owner";
  }
  std::printf("all of c's partitions served by the survivors %.1f s after the kill\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  for (auto* reader : {nodes_[0].client.get(), nodes_[1].client.get()}) {
    for (const auto& [stream, ids] : acked) {
      auto r = reader->ReadStream({.stream = stream});
      ASSERT_TRUE(r) << stream << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), ids.size()) << stream;
      for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(r->events[i].event_id, ids[i]) << stream;
    }
  }
  // A client that never heard c's answer retries through another member: the original result,
  // nothing written twice.
  std::vector<EventData> again;
  for (int i = 0; i < 3; ++i) {
    EventData e = Ev(i);
    e.event_id = acked[on_c][i];
    again.push_back(e);
  }
  auto retry = nodes_[1].client->Append(
      {.stream = on_c, .expected = ExpectedRevision::NoStream(), .events = again});
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_EQ(retry->last_revision.value(), 2u);
  const EventData after = Ev(4);
  auto next = nodes_[0].client->Append(
      {.stream = on_c, .expected = ExpectedRevision::Exact(Revision(2)), .events = {after}});
  ASSERT_TRUE(next) << next.error().ToString();
  acked[on_c].push_back(after.event_id);

  // c comes back on an empty disk: it restores itself from its cold tier (segments and the
  // object-store WAL) but its old partitions stay with the members that took them over; every
  // acknowledged event is served through every member.
  Start(nodes_[2], /*fresh=*/true);
  std::smatch restored;
  ASSERT_TRUE(std::regex_search(nodes_[2].server->banner(), restored,
                                std::regex("and (\\d+) records of the object-store WAL")))
      << nodes_[2].server->banner();
  EXPECT_GT(std::stoi(restored[1]), 0) << "nothing came from the WAL";
  ASSERT_TRUE(WaitBalanced(1, 30s)) << "c got no partition back";
  v = View();
  EXPECT_NE(v.written[PartitionOf(on_c, 64)], "c");
  for (auto& n : nodes_) {
    for (const auto& [stream, ids] : acked) {
      auto r = n.client->ReadStream({.stream = stream});
      ASSERT_TRUE(r) << n.id << " " << stream << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), ids.size()) << n.id << " " << stream;
      for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(r->events[i].event_id, ids[i]) << stream;
    }
  }
}

// A subscription to a stream, opened on a member that does not own it, sees appends made
// through a third member.
TEST_F(ClusterProcess, AStreamSubscriptionOnAnyMemberSeesAppendsThroughAnother) {
  ASSERT_TRUE(WaitBalanced(20, 30s));
  auto v = View();
  std::string stream;
  for (int i = 0; stream.empty(); ++i) {
    std::string s = "cart-" + std::to_string(i);
    const auto& o = v.owners[PartitionOf(s, 64)];
    if (o && o->node == "c") stream = s;
  }
  struct Collect : SubscriptionHandler {
    std::mutex mu;
    std::vector<Uuid> ids;
    bool OnEvent(const RecordedEvent& e) override {
      std::lock_guard lock(mu);
      ids.push_back(e.event_id);
      return true;
    }
  };
  auto collect = std::make_shared<Collect>();
  SubscribeRequest sr;
  sr.stream = stream;
  auto sub = nodes_[0].client->Subscribe(sr, collect);
  ASSERT_TRUE(sub) << sub.error().ToString();
  std::vector<Uuid> sent;
  for (int i = 0; i < 5; ++i) {
    EventData e = Ev(i);
    sent.push_back(e.event_id);
    auto r = nodes_[1].client->Append(
        {.stream = stream, .expected = ExpectedRevision::Any(), .events = {e}});
    ASSERT_TRUE(r) << r.error().ToString();
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard lock(collect->mu);
      if (collect->ids.size() >= sent.size()) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  std::lock_guard lock(collect->mu);
  EXPECT_EQ(collect->ids, sent);
}

// The official Node client with a `kurrentdb+discover://` string of the three members.
TEST_F(ClusterProcess, TheOfficialClientDiscoversTheMembersAndReachesEveryStream) {
  ASSERT_TRUE(WaitBalanced(20, 30s));
  if (std::string(STRATA_NODE).empty()) GTEST_SKIP() << "node is not installed (scripts/setup.sh)";
  std::string seeds;
  for (const auto& n : nodes_) seeds += (seeds.empty() ? "" : ",") + n.server->target();
  std::string out;
  const int rc = testing::RunCommand(std::string(STRATA_NODE) + " " + STRATA_COMPAT_DIR +
                                         "/cluster-discover.mjs 'kurrentdb+discover://" + seeds +
                                         "?tls=false' 40",
                                     &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ok 40/40"), std::string::npos) << out;
}

// The official client on the members as gossip seeds (`kurrentdb://a,b,c`; with
// `kurrentdb+discover://` the client asks only the first host, a DNS name in production, so it
// could not get past the death of that member), appending and retrying with the same event ids
// while a, the first seed, is SIGKILLed and restarted after its partitions were taken over, then
// b is SIGKILLed and restarted at once: the client rediscovers the cluster and carries on, and
// every event it was told was appended is in its stream exactly once, at the revision it was
// told, read through every member.
TEST_F(ClusterProcess, TheOfficialClientCarriesOnWhileMembersAreKilled) {
  ASSERT_TRUE(WaitBalanced(20, 30s));
  if (std::string(STRATA_NODE).empty()) GTEST_SKIP() << "node is not installed (scripts/setup.sh)";
  std::string seeds;
  for (const auto& n : nodes_) seeds += (seeds.empty() ? "" : ",") + n.server->target();
  std::string out;
  int rc = -1;
  std::thread client([&] {
    rc = testing::RunCommand(std::string(STRATA_NODE) + " " + STRATA_COMPAT_DIR +
                                 "/cluster-under-kills.mjs 'kurrentdb://" + seeds +
                                 "?tls=false' 30 2>&1",
                             &out);
  });
  auto kill = [&](Node& n) {
    n.client.reset();
    n.server->KeepData();
    n.server->Stop(SIGKILL);
  };
  std::this_thread::sleep_for(5s);
  kill(nodes_[0]);
  std::this_thread::sleep_for(8s);  // past the lease: b and c take a's partitions over
  Start(nodes_[0], /*fresh=*/false);
  std::this_thread::sleep_for(4s);
  kill(nodes_[1]);
  Start(nodes_[1], /*fresh=*/false);
  client.join();
  ASSERT_EQ(rc, 0) << out;
  std::map<std::string, std::map<uint64_t, std::string>> acked;  // stream -> revision -> id
  uint64_t acks = 0, retries = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string what, stream, id;
    uint64_t revision = 0;
    words >> what;
    if (what == "ack" && (words >> stream >> revision >> id)) {
      EXPECT_TRUE(acked[stream].emplace(revision, id).second)
          << stream << "@" << revision << " acknowledged twice";
    } else if (what == "done") {
      words >> acks >> retries;
    } else if (what == "gave") {
      ADD_FAILURE() << line;
    } else if (what == "retry") {
      std::printf("  %s\n", line.c_str());
    }
  }
  std::printf("the official client: %llu appends acknowledged, %llu retries across the kills\n",
              static_cast<unsigned long long>(acks), static_cast<unsigned long long>(retries));
  ASSERT_GT(acks, 50u) << out.substr(0, 2000);
  EXPECT_GT(retries, 0u) << "no append met a killed member";
  for (auto& n : nodes_) {
    for (const auto& [stream, want] : acked) {
      auto r = n.client->ReadStream({.stream = stream});
      ASSERT_TRUE(r) << n.id << " " << stream << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), want.size()) << n.id << " " << stream;
      for (const auto& e : r->events) {
        auto it = want.find(e.revision.value());
        ASSERT_NE(it, want.end()) << n.id << " " << stream << "@" << e.revision.value();
        EXPECT_EQ(it->second, e.event_id.ToString()) << n.id << " " << stream;
      }
    }
  }
}

// Under load through member a (four writers, each retrying an append with the same event ids
// until it is acknowledged), c and b are SIGKILLed in turn at five random moments. A killed
// member comes back at once in some rounds (on its disk, or on an empty one restored from its
// object-store WAL) and stays down for a while in the others, so that the survivors take its
// partitions over from its object store, including partitions it had itself taken over from the
// other. Afterwards every stream read from every member holds exactly the acknowledged events,
// each once, at its acknowledged revision: nothing acknowledged is lost, and no retry across a
// kill or a takeover wrote twice.
TEST_F(ClusterProcess, KillingAMemberUnderLoadLosesAndDuplicatesNothing) {
  ASSERT_TRUE(WaitBalanced(20, 30s)) << "the members did not share the partitions";
  struct Acked {
    uint64_t revision;
    std::vector<Uuid> ids;
  };
  std::mutex mu;
  std::map<std::string, std::vector<Acked>> acked;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appends{0}, retries{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int i = 0; !stop; ++i) {
        const std::string stream = "load-" + std::to_string(w) + "-" + std::to_string(i % 15);
        AppendRequest req{.stream = stream, .events = {Ev(i)}};
        if (rng() % 2) req.events.push_back(Ev(i));
        const auto give_up = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < give_up) {
          req.deadline = DeadlineIn(5s);
          auto r = nodes_[0].client->Append(req);
          if (r) {
            std::vector<Uuid> ids;
            for (const auto& e : req.events) ids.push_back(e.event_id);
            std::lock_guard lock(mu);
            acked[stream].push_back({r->first_revision.value(), std::move(ids)});
            ++appends;
            break;
          }
          ++retries;  // c is down or its outcome unknown: the same ids again
          std::this_thread::sleep_for(100ms);
        }
      }
    });
  }
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 1500));
    Node& victim = nodes_[round % 2 == 0 ? 2 : 1];
    const bool lose_disk = rng() % 2 == 1;
    const bool stays_down = round == 0 || round == 3 || rng() % 2 == 1;
    victim.client.reset();
    victim.server->KeepData();
    const auto killed = std::chrono::steady_clock::now();
    victim.server->Stop(SIGKILL);
    if (lose_disk) std::filesystem::remove_all(victim.dir);
    if (stays_down) {     // past the lease: the survivors take its partitions over
      std::string probe;  // a stream whose events the victim held
      const auto v = View();
      for (int w = 0; w < 4 && probe.empty(); ++w) {
        for (int k = 0; k < 15 && probe.empty(); ++k) {
          const std::string st = "load-" + std::to_string(w) + "-" + std::to_string(k);
          if (v.written[PartitionOf(st, 64)] == victim.id) probe = st;
        }
      }
      bool served = probe.empty();
      const auto until = std::chrono::steady_clock::now() + 30s;
      while (!served && std::chrono::steady_clock::now() < until) {
        served = nodes_[0].client->ReadStream({.stream = probe}).has_value();
        if (!served) std::this_thread::sleep_for(50ms);
      }
      EXPECT_TRUE(served) << victim.id << "'s streams were not taken over";
      std::printf("round %d: %s down; %s %.1f s after the kill\n", round + 1, victim.id.c_str(),
                  probe.empty() ? "it held no stream of the writers" : "its streams served again",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
    }
    Start(victim, /*fresh=*/lose_disk);
    // The next kill lands under load: the writers make progress again first.
    const uint64_t before = appends.load();
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (appends.load() < before + 40 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(50ms);
    }
    std::printf(
        "round %d: %s killed, restarted %s%s; writers going again %.1f s after the kill; %llu "
        "appends acknowledged, %llu retries\n",
        round + 1, victim.id.c_str(), lose_disk ? "on an empty disk" : "on its disk",
        stays_down ? " after the takeover" : "",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count(),
        static_cast<unsigned long long>(appends.load()),
        static_cast<unsigned long long>(retries.load()));
  }
  std::this_thread::sleep_for(2s);
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GT(appends.load(), 100u);
  EXPECT_GT(retries.load(), 0u) << "no append met a dead member";
  for (auto& n : nodes_) {
    for (const auto& [stream, list] : acked) {
      std::map<uint64_t, Uuid> want;
      for (const Acked& a : list) {
        for (size_t k = 0; k < a.ids.size(); ++k) want[a.revision + k] = a.ids[k];
      }
      auto r = n.client->ReadStream({.stream = stream});
      ASSERT_TRUE(r) << n.id << " " << stream << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), want.size())
          << n.id << " " << stream << ": events missing or written twice";
      for (const auto& e : r->events) {
        auto it = want.find(e.revision.value());
        ASSERT_NE(it, want.end()) << n.id << " " << stream << "@" << e.revision.value();
        EXPECT_EQ(it->second, e.event_id) << n.id << " " << stream << "@" << e.revision.value();
      }
    }
  }
}

// The same cluster on an etcd of its own (one member, scripts/etcd.sh), which a test may pause.
class ClusterProcessOwnEtcd : public ClusterProcess {
 protected:
  std::string EtcdUrl() override {
    const char* script = std::getenv("STRATA_TEST_ETCD_SCRIPT");
    if (!script) return "";
    script_ = script;
    char tmpl[] = "/tmp/strata-etcd-split.XXXXXX";
    if (!mkdtemp(tmpl)) return "";
    dir_ = tmpl;
    if (Etcd("start " + dir_ + " 1") != 0) return "";
    std::ifstream env(dir_ + "/env");
    std::string line;
    std::getline(env, line);  // export STRATA_ETCD=etcd://...
    return line.substr(line.find('=') + 1);
  }
  void TearDown() override {
    if (!dir_.empty()) Etcd("resume " + dir_);
    ClusterProcess::TearDown();
    if (dir_.empty()) return;
    Etcd("stop " + dir_);
    std::filesystem::remove_all(dir_);
  }
  int Etcd(const std::string& args) {
    return std::system(("bash " + script_ + " " + args + " > /dev/null").c_str());
  }
  std::string script_, dir_;
};

// Split brain: member a is SIGSTOPped past its lease while appends to partitions it owned (and
// had not written yet) wait in its socket, and b takes those partitions and acknowledges appends
// to the same streams; then etcd is paused and a continued: it handles the waiting appends with
// its stale view, and no etcd to ask. Jepsen-style, every
// acknowledgement from every member is recorded: no stream may have two different events
// acknowledged at one revision, and every acknowledged event is readable at its revision from
// every member.
TEST_F(ClusterProcessOwnEtcd, ASigstoppedMemberAcknowledgesNothingForPartitionsItLost) {
  ASSERT_TRUE(WaitBalanced(20, 30s)) << "the members did not share the partitions";
  auto v = View();
  std::vector<std::string> streams;  // on partitions a owns and nobody has written
  for (int i = 0; streams.size() < 12 && i < 100000; ++i) {
    const std::string s = "split-" + std::to_string(i);
    const uint32_t p = PartitionOf(s, 64);
    if (v.owners[p] && v.owners[p]->node == "a" && v.written[p].empty()) streams.push_back(s);
  }
  ASSERT_EQ(streams.size(), 12u);
  struct Ack {
    std::string member;
    uint64_t revision;
    Uuid id;
  };
  std::mutex mu;
  std::map<std::string, std::vector<Ack>> acks;
  auto record = [&](const std::string& member, const std::string& stream, const EventData& e,
                    const Result<AppendResult>& r) {
    if (!r) return;
    std::lock_guard lock(mu);
    acks[stream].push_back({member, r->first_revision.value(), e.event_id});
  };

  std::map<std::string, int> held_errors;  // how a answered the appends it held
  nodes_[0].server->Signal(SIGSTOP);
  // Appends sent to the stopped a: they wait in its socket until it runs again.
  std::atomic<int> pending{0};
  for (const auto& s : streams) {
    for (int k = 0; k < 3; ++k) {
      EventData e = Ev(k);
      ++pending;
      nodes_[0].client->AppendAsync({.stream = s, .events = {e}, .deadline = DeadlineIn(60s)},
                                    [&, s, e](Result<AppendResult> r) {
                                      record("a", s, e, r);
                                      if (!r) {
                                        std::lock_guard lock(mu);
                                        ++held_errors[r.error().ToString().substr(0, 120)];
                                      }
                                      --pending;
                                    });
    }
  }
  // Past a's lease (3 s), its unwritten partitions move; b appends to the same streams.
  const auto stopped_until = std::chrono::steady_clock::now() + 8s;
  int b_acks = 0;
  while (std::chrono::steady_clock::now() < stopped_until) {
    for (const auto& s : streams) {
      EventData e = Ev(100);
      auto r = nodes_[1].client->Append({.stream = s, .events = {e}, .deadline = DeadlineIn(2s)});
      record("b", s, e, r);
      b_acks += r.has_value();
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_GT(b_acks, 12) << "b never took a's partitions over";
  // etcd goes away before a runs again, so a handles the appends it held with the view it had
  // when it stopped (it still lists itself as their owner): only its own lease expiry, judged
  // on its clock, stands between them and a second history of those streams.
  ASSERT_EQ(Etcd("pause " + dir_), 0);
  nodes_[0].server->Signal(SIGCONT);
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (pending > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(pending.load(), 0) << "a never answered the appends it held";
  ASSERT_EQ(Etcd("resume " + dir_), 0);
  ASSERT_TRUE(WaitBalanced(1, 60s)) << "the cluster did not settle after etcd came back";
  // One more round through a, now that it has rejoined: it must route to the new owners.
  for (const auto& s : streams) {
    EventData e = Ev(200);
    record("a", s, e, nodes_[0].client->Append({.stream = s, .events = {e}}));
  }

  size_t acknowledged = 0, by_a_while_stopped = 0;
  for (const auto& s : streams) {
    std::map<uint64_t, Uuid> at;
    for (const Ack& a : acks[s]) {
      auto [it, fresh] = at.emplace(a.revision, a.id);
      EXPECT_TRUE(fresh || it->second == a.id)
          << s << "@" << a.revision << ": two different events acknowledged (split brain)";
      ++acknowledged;
    }
    for (auto& n : nodes_) {
      auto r = n.client->ReadStream({.stream = s});
      ASSERT_TRUE(r) << n.id << " " << s << ": " << r.error().ToString();
      ASSERT_EQ(r->events.size(), at.size()) << n.id << " " << s << ": acknowledged events differ";
      for (const auto& e : r->events) {
        auto it = at.find(e.revision.value());
        ASSERT_NE(it, at.end()) << n.id << " " << s << "@" << e.revision.value();
        EXPECT_EQ(it->second, e.event_id) << n.id << " " << s << "@" << e.revision.value();
      }
    }
  }
  for (const auto& [s, list] : acks) {
    for (const Ack& a : list) by_a_while_stopped += a.member == "a";
  }
  std::printf(
      "%zu acknowledgements checked over %zu streams (%zu through a, with its first 36 "
      "sent while it was stopped); every revision has one event\n",
      acknowledged, streams.size(), by_a_while_stopped);
  for (const auto& [e, n] : held_errors)
    std::printf("  %d held appends failed: %s\n", n, e.c_str());
}

}  // namespace
}  // namespace strata
