// loomflow/tool_policy.hpp — which tools each user may call: `ToolPolicy`, given to a Runtime
// (RuntimeConfig::tool_policy) or declared in a spec ("tool_policy").
//
//   ToolPolicy policy;
//   policy.allow("alice", "bash").deny("*", "bash").deny("guest", "fs_*");
//
// Rules are checked in the order they were added; the first whose user and tool both match
// decides. A user pattern is a UserId or "*" (everyone); a tool pattern is a tool name, a prefix
// ending in '*' ("fs_*"), or "*". Without a matching rule the default decides (allow, unless
// `deny_by_default()`). A denied call is not dispatched: the model gets a refusal naming the tool
// and the user as the call's (error) result, it counts as a tool error, and the trace records the
// step with `denied = true`.
// Thread-safety: build it on one thread; a built policy is immutable and safe to share.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"

namespace loomflow {

struct ToolRule {
  std::string user;  // a UserId, or "*"
  std::string tool;  // a tool name, "prefix*", or "*"
  bool allow = true;
};

class ToolPolicy {
 public:
  ToolPolicy& allow(std::string user, std::string tool);
  ToolPolicy& deny(std::string user, std::string tool);
  ToolPolicy& deny_by_default();  // no matching rule: deny (default: allow)

  // nullopt when `user` may call `tool`; otherwise the refusal the model reads.
  std::optional<std::string> refusal(const UserId& user, std::string_view tool) const;

  const std::vector<ToolRule>& rules() const noexcept { return rules_; }
  bool allows_by_default() const noexcept { return default_allow_; }

  // {"default": "allow"|"deny", "rules": [{"user": "alice", "tool": "bash", "effect": "allow"|"deny"}]}.
  // Errors name `json_path` and the offending field.
  static Expected<ToolPolicy> from_json(const nlohmann::json& value, const std::string& json_path);

 private:
  std::vector<ToolRule> rules_;
  bool default_allow_ = true;
};

}  // namespace loomflow
