#include "loomflow/actors/directory.hpp"

#include <caf/all.hpp>

#include "loomflow/actors/extension.hpp"

namespace loomflow::actors {

std::shared_ptr<const CompiledWorkflow> Directory::workflow(const std::shared_ptr<const detail::WorkflowImpl>& wf) {
  std::lock_guard<std::recursive_mutex> guard(mutex_);
  if (auto it = workflows_.find(wf.get()); it != workflows_.end()) return it->second.second;
  auto compiled = std::make_shared<CompiledWorkflow>();
  const auto count = wf->nodes.size();
  compiled->definitions = wf->nodes;
  compiled->agents.resize(count);
  compiled->workflows.resize(count);
  compiled->remotes.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& node = wf->nodes[i];
    if (node->kind == detail::NodeImpl::Kind::agent) compiled->agents[i] = agent(node->agent);
    if (node->kind == detail::NodeImpl::Kind::workflow) compiled->workflows[i] = workflow(node->workflow);
    if (node->kind == detail::NodeImpl::Kind::remote) compiled->remotes[i] = remote_node(node);
  }
  for (std::size_t i = 0; i < count; ++i) {
    auto handle = spawn_step_node(sys_, wf, compiled, static_cast<std::int32_t>(i));
    spawned_.push_back(caf::actor_cast<caf::strong_actor_ptr>(handle));
    compiled->nodes.push_back(std::move(handle));
  }
  workflows_.emplace(wf.get(), std::make_pair(std::shared_ptr<const void>(wf), compiled));
  return compiled;
}

std::shared_ptr<const CompiledAgent> Directory::agent(const std::shared_ptr<const detail::AgentImpl>& agent_impl) {
  std::lock_guard<std::recursive_mutex> guard(mutex_);
  if (auto it = agents_.find(agent_impl.get()); it != agents_.end()) return it->second.second;
  auto compiled = std::make_shared<CompiledAgent>();
  compiled->model = model(agent_impl->options.model.provider);
  compiled->policy = policy_;
  for (const auto& t : agent_impl->options.tools) {
    // Tool holds its impl by shared_ptr; alias it so the directory keeps it alive.
    compiled->tools.push_back(tool(std::shared_ptr<const detail::ToolImpl>(agent_impl, &t.impl())));
  }
  agents_.emplace(agent_impl.get(), std::make_pair(std::shared_ptr<const void>(agent_impl), compiled));
  return compiled;
}

model_actor Directory::model(const std::shared_ptr<Provider>& provider) {
  if (auto it = models_.find(provider.get()); it != models_.end()) return it->second.second;
  auto handle = spawn_model(sys_, provider);
  spawned_.push_back(caf::actor_cast<caf::strong_actor_ptr>(handle));
  models_.emplace(provider.get(), std::make_pair(std::shared_ptr<const void>(provider), handle));
  return handle;
}

tool_actor Directory::tool(const std::shared_ptr<const detail::ToolImpl>& t) {
  if (auto it = tools_.find(t.get()); it != tools_.end()) return it->second.second;
  tool_actor handle;
  switch (t->kind) {
    case detail::ToolImpl::Kind::function: handle = spawn_function_tool(sys_, t); break;
    case detail::ToolImpl::Kind::workflow: handle = spawn_workflow_tool(sys_, t, workflow(t->workflow)); break;
    case detail::ToolImpl::Kind::remote:
      // The cluster owns its router: not ours to stop.
      if (extension_) {
        handle = extension_->remote_tool(*t);
        tools_.emplace(t.get(), std::make_pair(std::shared_ptr<const void>(t), handle));
        return handle;
      }
      handle = spawn_unserved_tool(sys_, t);
      break;
  }
  spawned_.push_back(caf::actor_cast<caf::strong_actor_ptr>(handle));
  tools_.emplace(t.get(), std::make_pair(std::shared_ptr<const void>(t), handle));
  return handle;
}

std::function<run_actor()> Directory::remote_node(const std::shared_ptr<const detail::NodeImpl>& node) {
  if (extension_) {
    return [extension = extension_, node] { return extension->spawn_remote_node(*node); };
  }
  return [this, node] { return spawn_unplaced_node(sys_, node->name, node->target); };
}

tool_actor Directory::tool_for(const Tool& t) {
  std::lock_guard<std::recursive_mutex> guard(mutex_);
  auto owner = std::make_shared<const Tool>(t);  // keeps the impl alive for the directory
  return tool(std::shared_ptr<const detail::ToolImpl>(owner, &owner->impl()));
}

void Directory::shutdown() {
  std::lock_guard<std::recursive_mutex> guard(mutex_);
  for (auto& ptr : spawned_) caf::anon_send_exit(ptr, caf::exit_reason::user_shutdown);
  spawned_.clear();
  workflows_.clear();
  agents_.clear();
  models_.clear();
  tools_.clear();
}

}  // namespace loomflow::actors
