// What the in-process cluster tests share: a member's config, starting it, and waiting until a
// node sees a member in a given state. Members listen on 127.0.0.1 (any free port).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loomflow/cluster/node.hpp"

namespace loomflow::testing {

inline constexpr std::chrono::seconds kClusterWait{20};  // safety limit only
inline const std::string kClusterSecret = "cluster-test-secret-0123456789ab";

// A member named `name` joining through `seeds`, two scheduler threads, the test secret.
inline cluster::NodeConfig member_config(std::string name, std::vector<std::string> seeds = {},
                                         std::string secret = kClusterSecret) {
  cluster::NodeConfig config;
  config.name = std::move(name);
  config.seeds = std::move(seeds);
  config.access.secret = std::move(secret);
  config.runtime.worker_threads = 2;
  config.join_timeout = std::chrono::seconds(5);
  return config;
}

// Starts a member; a failure to start fails the test (and returns null).
inline std::unique_ptr<cluster::Node> start_member(cluster::NodeConfig config) {
  auto node = cluster::Node::start(std::move(config));
  EXPECT_TRUE(node) << node.error().message;
  return node ? std::move(*node) : nullptr;
}

// Waits until `node` sees member `name` in `state`.
inline bool sees(const cluster::Node& node, const std::string& name, cluster::MemberState state) {
  return node.wait_until(
      [&](const std::vector<cluster::MemberStatus>& members) {
        for (const auto& m : members)
          if (m.info.name == name && m.state == state) return true;
        return false;
      },
      kClusterWait);
}

}  // namespace loomflow::testing
