#include "loomflow/tool_policy.hpp"

#include <nlohmann/json.hpp>

namespace loomflow {
namespace {

bool matches(const std::string& pattern, std::string_view value) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*')
    return value.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(0, pattern.size() - 1);
  return pattern == value;
}

}  // namespace

ToolPolicy& ToolPolicy::allow(std::string user, std::string tool) {
  rules_.push_back(ToolRule{std::move(user), std::move(tool), true});
  return *this;
}

ToolPolicy& ToolPolicy::deny(std::string user, std::string tool) {
  rules_.push_back(ToolRule{std::move(user), std::move(tool), false});
  return *this;
}

ToolPolicy& ToolPolicy::deny_by_default() {
  default_allow_ = false;
  return *this;
}

std::optional<std::string> ToolPolicy::refusal(const UserId& user, std::string_view tool) const {
  for (const auto& rule : rules_) {
    if (!matches(rule.user, user.str()) || !matches(rule.tool, tool)) continue;
    if (rule.allow) return std::nullopt;
    return "tool '" + std::string(tool) + "' is not allowed for user '" + user.str() + "' (tool policy rule: deny user '" +
           rule.user + "' tool '" + rule.tool + "')";
  }
  if (default_allow_) return std::nullopt;
  return "tool '" + std::string(tool) + "' is not allowed for user '" + user.str() +
         "' (tool policy: no rule allows it, and the default is deny)";
}

Expected<ToolPolicy> ToolPolicy::from_json(const nlohmann::json& value, const std::string& path) {
  auto bad = [&](const std::string& where, const std::string& what) {
    return Error{ErrorCode::invalid_spec, where + ": " + what};
  };
  if (!value.is_object()) return bad(path, "expected an object with \"rules\" and optionally \"default\"");
  ToolPolicy policy;
  for (const auto& [key, field] : value.items()) {
    if (key == "default") {
      if (field != "allow" && field != "deny") return bad(path + ".default", "expected \"allow\" or \"deny\"");
      if (field == "deny") policy.deny_by_default();
    } else if (key != "rules") {
      return bad(path + "." + key, "unknown field (expected \"default\" or \"rules\")");
    }
  }
  if (!value.contains("rules")) return policy;
  const auto& rules = value["rules"];
  if (!rules.is_array()) return bad(path + ".rules", "expected an array of rules");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::string at = path + ".rules[" + std::to_string(i) + "]";
    const auto& rule = rules[i];
    if (!rule.is_object()) return bad(at, "expected {\"user\", \"tool\", \"effect\"}");
    for (const auto& [key, field] : rule.items())
      if (key != "user" && key != "tool" && key != "effect")
        return bad(at + "." + key, "unknown field (expected \"user\", \"tool\" or \"effect\")");
    for (const char* key : {"user", "tool", "effect"})
      if (!rule.contains(key) || !rule[key].is_string() || rule[key].get<std::string>().empty())
        return bad(at + "." + key, "expected a non-empty string");
    const std::string effect = rule["effect"];
    if (effect != "allow" && effect != "deny") return bad(at + ".effect", "expected \"allow\" or \"deny\"");
    if (effect == "allow") policy.allow(rule["user"], rule["tool"]);
    else policy.deny(rule["user"], rule["tool"]);
  }
  return policy;
}

}  // namespace loomflow
