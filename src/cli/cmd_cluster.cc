// strata cluster status | drain: a cluster's state as etcd holds it (docs/cluster.md), read and
// changed directly in etcd, so it works while any member is down.
#include <fmt/format.h>

#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/common.h"
#include "router/cluster_view.h"
#include "router/etcd/etcd_client.h"

namespace strata::cli {
namespace {

struct ClusterFlags {
  std::string etcd;
  std::string name = "strata";
  std::string node;  // drain
  bool undo = false;
};

Result<std::unique_ptr<router::etcd::EtcdClient>> Connect(const ClusterFlags& f) {
  if (f.etcd.empty()) {
    return Error(ErrorCode::kInvalidConfig,
                 "pass --cluster etcd://HOST:PORT (the etcd the members were started with)");
  }
  auto endpoints = router::etcd::ParseEtcdUrl(f.etcd);
  if (!endpoints) return endpoints.error();
  return router::etcd::EtcdClient::Create({*endpoints, std::chrono::milliseconds(3000)});
}

void PrintStatus(const router::ClusterView& v) {
  std::map<std::string, std::vector<uint32_t>> owned;
  uint32_t unowned = 0, pinned = 0;
  for (uint32_t p = 0; p < v.owners.size(); ++p) {
    if (v.owners[p]) {
      owned[v.owners[p]->node].push_back(p);
    } else {
      ++unowned;
    }
    if (!v.written[p].empty()) ++pinned;
  }
  std::cout << fmt::format("members: {} (balancer: {})\n", v.members.size(),
                           v.balancer.empty() ? "none" : v.balancer);
  for (const auto& [id, m] : v.members) {
    std::cout << fmt::format("  {:<16} {:<7} {:<22} partitions {:>2}{}\n", id, m.role, m.advertise,
                             owned[id].size(), v.draining.count(id) ? "  (draining)" : "");
  }
  for (const auto& d : v.draining) {
    if (!v.members.count(d)) std::cout << fmt::format("  {:<16} (draining, not live)\n", d);
  }
  std::cout << fmt::format("partitions: {} owned, {} without an owner, {} holding data\n",
                           v.owners.size() - unowned, unowned, pinned);
  std::cout << "  partition  owner             token      desired           data on\n";
  for (uint32_t p = 0; p < v.owners.size(); ++p) {
    const auto& o = v.owners[p];
    std::cout << fmt::format("  {:>9}  {:<16}  {:>9}  {:<16}  {}\n", p, o ? o->node : "-",
                             o ? std::to_string(o->token) : "-",
                             v.desired[p].empty() ? "-" : v.desired[p],
                             v.written[p].empty() ? "-" : v.written[p]);
  }
}

int Status(const ClusterFlags& f) {
  auto etcd = Connect(f);
  if (!etcd) return ReportError(etcd.error());
  auto view = router::ReadClusterView(**etcd, router::ClusterKeys(f.name), 64);
  if (!view) return ReportError(view.error());
  if (view->members.empty() && view->balancer.empty()) {
    std::cout << "cluster '" << f.name << "' has no live member in " << f.etcd << "\n";
  }
  PrintStatus(*view);
  return 0;
}

int Drain(const ClusterFlags& f) {
  auto etcd = Connect(f);
  if (!etcd) return ReportError(etcd.error());
  router::ClusterKeys keys(f.name);
  if (f.undo) {
    if (auto r = (*etcd)->Delete(keys.drain(f.node)); !r) return ReportError(r.error());
  } else {
    if (auto r = (*etcd)->Put(keys.drain(f.node), "1"); !r) return ReportError(r.error());
  }
  std::cout << (f.undo ? fmt::format("'{}' takes partitions again\n", f.node)
                       : fmt::format("draining '{}': its partitions move to the others, a few per "
                                     "balancer round; partitions holding data stay until data can "
                                     "follow them (docs/cluster.md). Watch with 'strata cluster "
                                     "status'; undo with --undo\n",
                                     f.node));
  return 0;
}

void AddCommon(CLI::App* cmd, ClusterFlags& f) {
  cmd->add_option("--cluster", f.etcd, "The cluster's etcd: etcd://HOST:PORT[,HOST:PORT...]")
      ->required();
  cmd->add_option("--cluster-name", f.name, "The cluster's name")->capture_default_str();
}
}  // namespace

void RegisterCluster(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<ClusterFlags>();
  auto* cmd = app.add_subcommand("cluster", "A cluster's members and partition owners (etcd)");
  cmd->require_subcommand(1);
  auto* status = cmd->add_subcommand(
      "status", "Members, the balancer, and every partition's owner, fencing token and data");
  AddCommon(status, *f);
  status->callback([f, &exit_code] { exit_code = Status(*f); });
  auto* drain = cmd->add_subcommand(
      "drain", "Move a member's partitions to the others (a few per round), e.g. before a restart");
  AddCommon(drain, *f);
  drain->add_option("node", f->node, "The member to drain")->required();
  drain->add_flag("--undo", f->undo, "Let the member take partitions again");
  drain->callback([f, &exit_code] { exit_code = Drain(*f); });
}

}  // namespace strata::cli
