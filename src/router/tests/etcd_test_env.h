// The etcd the cluster tests talk to: scripts/test.sh starts one (scripts/etcd.sh) and exports
// STRATA_ETCD; tests that kill or stop etcd start their own through STRATA_TEST_ETCD_SCRIPT.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "router/etcd/etcd_client.h"

namespace strata::router::testing {

// The endpoints of STRATA_ETCD, or empty (the caller skips, saying why).
inline std::vector<std::string> SharedEtcd() {
  const char* url = std::getenv("STRATA_ETCD");
  if (!url || !*url) return {};
  auto eps = etcd::ParseEtcdUrl(url);
  return eps ? *eps : std::vector<std::string>{};
}

#define STRATA_REQUIRE_ETCD(eps)                                                           \
  if ((eps).empty()) {                                                                     \
    GTEST_SKIP() << "no etcd: STRATA_ETCD is unset (scripts/test.sh starts one with "      \
                    "scripts/etcd.sh; or run 'bash scripts/etcd.sh start DIR' and source " \
                    "DIR/env)";                                                            \
  }

// A cluster name no other test uses, so tests can share one etcd.
inline std::string UniqueClusterName(const std::string& test) {
  std::random_device rd;
  return test + "-" + std::to_string(rd() % 1000000000u);
}

inline std::unique_ptr<etcd::EtcdClient> Client(
    const std::vector<std::string>& eps,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  auto c = etcd::EtcdClient::Create(etcd::EtcdOptions{eps, timeout});
  EXPECT_TRUE(c) << c.error().ToString();
  return std::move(*c);
}

}  // namespace strata::router::testing
