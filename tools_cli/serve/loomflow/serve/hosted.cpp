#include "loomflow/serve/hosted.hpp"

#include <algorithm>
#include <filesystem>

namespace loomflow::serve {

const HostedTarget* Hosted::find(const std::string& name) const {
  auto it = targets.find(name);
  return it == targets.end() ? nullptr : &it->second;
}

namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

Expected<void> add(Hosted& hosted, HostedTarget target) {
  auto name = target.name;
  auto [it, inserted] = hosted.targets.try_emplace(name, target);
  if (!inserted)
    return Error{ErrorCode::invalid_spec, "two specs host '" + name + "': " + it->second.spec_path + " and " +
                                              target.spec_path};
  return {};
}

}  // namespace

Expected<Hosted> load_hosted(const std::string& path, const SpecEnvironment& env) {
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(path, ec))
      if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) return Error{ErrorCode::invalid_argument, path + ": no *.json spec in this directory"};
  } else if (std::filesystem::exists(path, ec)) {
    files.push_back(path);
  } else {
    return Error{ErrorCode::invalid_argument, path + ": no such file or directory"};
  }
  Hosted hosted;
  std::string policy_file;
  for (const auto& file : files) {
    auto spec = load_spec_file(file, env);
    if (!spec) return spec.error();
    if (spec->tool_policy) {
      if (hosted.tool_policy)
        return Error{ErrorCode::invalid_spec, "only one served spec may have a \"tool_policy\": " + policy_file +
                                                  " and " + file + " both do"};
      hosted.tool_policy = spec->tool_policy;
      policy_file = file;
    }
    HostedTarget wf;
    wf.name = spec->name;
    wf.kind = HostedTarget::Kind::workflow;
    wf.description = spec->description;
    wf.workflow = spec->workflow;
    wf.spec_path = file;
    if (auto ok = add(hosted, std::move(wf)); !ok) return ok.error();
    for (const auto& [name, agent] : spec->agents) {
      HostedTarget target;
      target.name = spec->name + "/" + name;
      target.kind = HostedTarget::Kind::agent;
      target.description = first_line(agent.options().instructions);
      target.agent = agent;
      target.spec_path = file;
      target.agent_key = name;
      if (auto ok = add(hosted, std::move(target)); !ok) return ok.error();
    }
    hosted.specs.push_back(std::move(*spec));
  }
  return hosted;
}

}  // namespace loomflow::serve
