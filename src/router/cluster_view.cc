#include "router/cluster_view.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace strata::router {

bool ClusterView::IsEligible(const std::string& node) const {
  auto it = members.find(node);
  return it != members.end() && it->second.role == kRoleData && draining.count(node) == 0;
}

bool ClusterView::CanTakeOver(uint32_t partition) const {
  const std::string& w = partition < written.size() ? written[partition] : std::string();
  return !w.empty() && !IsLive(w) && stores.count(w) > 0;
}

std::string ClusterKeys::Number(uint32_t p) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%02u", p);
  return buf;
}

std::string EncodeMember(const MemberInfo& m) {
  return nlohmann::json{{"advertise", m.advertise}, {"role", m.role}, {"started", m.started_us}}
      .dump();
}

std::string EncodeOwner(const PartitionOwner& o) {
  return nlohmann::json{{"node", o.node}, {"since", o.since_us}}.dump();
}

std::string EncodeStore(const std::string& cold_url) {
  return nlohmann::json{{"cold", cold_url}}.dump();
}

namespace {
void ReadStore(const std::string& id, const etcd::KeyValue& kv, ClusterView& view) {
  auto j = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.value("cold", nlohmann::json()).is_string() &&
      !j["cold"].get<std::string>().empty()) {
    view.stores[id] = j["cold"].get<std::string>();
  } else {
    spdlog::warn(
        "cluster: store key {} holds an unreadable value; its partitions cannot be "
        "taken over while it is down",
        kv.key);
  }
}

void ReadMember(const std::string& id, const etcd::KeyValue& kv, ClusterView& view) {
  MemberInfo m;
  m.id = id;
  m.lease = kv.lease;
  auto j = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.value("advertise", nlohmann::json()).is_string() &&
      j.value("role", nlohmann::json()).is_string()) {
    m.advertise = j["advertise"].get<std::string>();
    m.role = j["role"].get<std::string>();
    if (j.value("started", nlohmann::json()).is_number_integer()) {
      m.started_us = j["started"].get<int64_t>();
    }
  } else {
    spdlog::warn("cluster: member key {} holds an unreadable value; treating it as a router",
                 kv.key);
    m.role = std::string(kRoleRouter);
  }
  view.members[id] = std::move(m);
}

void ReadOwner(uint32_t p, const etcd::KeyValue& kv, ClusterView& view) {
  PartitionOwner o;
  o.token = kv.mod_revision;
  o.lease = kv.lease;
  auto j = nlohmann::json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.value("node", nlohmann::json()).is_string()) {
    o.node = j["node"].get<std::string>();
    if (j.value("since", nlohmann::json()).is_number_integer())
      o.since_us = j["since"].get<int64_t>();
  } else {
    spdlog::warn(
        "cluster: owner key {} holds an unreadable value; nobody takes the partition "
        "until that key goes",
        kv.key);
    o.node.assign(1, '?');  // not = "?": GCC 12 warns falsely (-Wrestrict, PR 105329)
  }
  view.owners[p] = std::move(o);
}

// "07" -> 7 when below `partitions`.
std::optional<uint32_t> ParsePartition(std::string_view s, uint32_t partitions) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v >= partitions) return std::nullopt;
  return v;
}
}  // namespace

Result<ClusterView> ReadClusterView(etcd::EtcdClient& etcd, const ClusterKeys& keys,
                                    uint32_t partitions) {
  ClusterView view;
  view.owners.resize(partitions);
  view.desired.resize(partitions);
  view.written.resize(partitions);
  view.written_rev.resize(partitions);
  auto kvs = etcd.GetPrefix(keys.root(), &view.revision);
  if (!kvs) return kvs.error();
  const std::string& root = keys.root();
  for (const auto& kv : *kvs) {
    std::string_view rel = std::string_view(kv.key).substr(root.size());
    auto under = [&](std::string_view dir, std::string_view* rest) {
      if (rel.substr(0, dir.size()) != dir) return false;
      *rest = rel.substr(dir.size());
      return true;
    };
    std::string_view rest;
    if (rel == "balancer") {
      view.balancer = kv.value;
      view.balancer_rev = kv.mod_revision;
    } else if (under("members/", &rest) && !rest.empty()) {
      ReadMember(std::string(rest), kv, view);
    } else if (under("owners/", &rest)) {
      if (auto p = ParsePartition(rest, partitions)) ReadOwner(*p, kv, view);
    } else if (under("desired/", &rest)) {
      if (auto p = ParsePartition(rest, partitions)) view.desired[*p] = kv.value;
    } else if (under("written/", &rest)) {
      if (auto p = ParsePartition(rest, partitions)) {
        view.written[*p] = kv.value;
        view.written_rev[*p] = kv.mod_revision;
      }
    } else if (under("stores/", &rest) && !rest.empty()) {
      ReadStore(std::string(rest), kv, view);
    } else if (under("drain/", &rest) && !rest.empty()) {
      view.draining.insert(std::string(rest));
    }
  }
  return view;
}

}  // namespace strata::router
