// The spec loader: reads the JSON in three passes — check everything in document order (so the
// first problem reported is the first one a reader meets), reject reference cycles, then build the
// agents and workflows in dependency order. Top level, agents and building live here; workflows in
// spec_workflow.cpp, JSON helpers in spec_reader.cpp. See spec.hpp for the format.
#include "loomflow/spec.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <system_error>

#include "loomflow/detail/spec_reader.hpp"
#include "loomflow/detail/utf8.hpp"
#include "loomflow/json_schema.hpp"

namespace loomflow {

namespace {

using namespace detail::spec;

constexpr std::string_view kWorkflowToolPrefix = "workflow:";

// ---- The loader ----------------------------------------------------------------------------------------

class Loader {
 public:
  Loader(const ojson& root, const SpecEnvironment& env) : root_(root), env_(env) {}

  Expected<LoadedSpec> load();

 private:
  Expected<void> read_agent(const std::string& name, const ojson& json, const std::string& path);
  Expected<void> read_tools(AgentSpec& agent, const ojson& tools, const std::string& path);
  Expected<std::vector<std::size_t>> dependency_order() const;
  Expected<Agent> build_agent(std::size_t index) const;
  Expected<Workflow> build_workflow(const WorkflowSpec& spec) const;

  const ojson& root_;
  const SpecEnvironment& env_;
  std::vector<std::string> agent_names_, workflow_names_;  // in document order
  std::vector<AgentSpec> agents_;                          // parallel to agent_names_
  std::vector<WorkflowSpec> workflows_;                    // parallel to workflow_names_
  std::vector<std::pair<std::string, Model>> models_;
  std::vector<std::optional<Agent>> built_agents_;
  std::vector<std::optional<Workflow>> built_workflows_;
  SpecScope scope_{agent_names_, workflow_names_, env_};  // declared after what it refers to
};

Expected<LoadedSpec> Loader::load() {
  if (auto ok = expect_type(root_, "$", "object"); !ok) return ok.error();
  // The version comes first: another version's fields would otherwise look like typos.
  auto version = required_field(root_, "$", "loomflow");
  if (!version) return version.error();
  if (!is_integral(**version))
    return fail("$.loomflow", "expected integer 1 (the format version), got " + describe(**version));
  if (**version != 1)
    return fail("$.loomflow", "unsupported format version " + dump(**version) + " (this loader reads version 1)");
  if (auto ok = check_fields(root_, "$", {"loomflow", "name", "description", "journal", "tool_policy", "agents", "workflows", "workflow"});
      !ok)
    return ok.error();
  auto name_field = required_field(root_, "$", "name");
  if (!name_field) return name_field.error();
  auto name = read_string(**name_field, "$.name");
  if (!name) return name.error();
  if (auto ok = check_name(*name, "$.name", "workflow"); !ok) return ok.error();
  std::string description;
  if (const ojson* d = optional_field(root_, "description")) {
    auto text = read_string(*d, "$.description");
    if (!text) return text.error();
    description = std::move(*text);
  }
  std::string journal;
  if (const ojson* j = optional_field(root_, "journal")) {
    auto uri = read_string(*j, "$.journal");
    if (!uri) return uri.error();
    const bool known = uri->rfind("rocksdb:", 0) == 0 || uri->rfind("sqlite:", 0) == 0 ||
                       uri->rfind("postgres://", 0) == 0 || uri->rfind("postgresql://", 0) == 0 || *uri == "memory:";
    if (!known || uri->size() <= std::string_view("sqlite:").size())
      return fail("$.journal", "expected a journal URI: rocksdb:PATH, sqlite:PATH, postgres://... or memory:");
    journal = std::move(*uri);
  }
  std::shared_ptr<const ToolPolicy> tool_policy;
  if (const ojson* p = optional_field(root_, "tool_policy")) {
    auto policy = ToolPolicy::from_json(nlohmann::json(*p), "$.tool_policy");
    if (!policy) return policy.error();
    tool_policy = std::make_shared<const ToolPolicy>(std::move(*policy));
  }
  const ojson empty = ojson::object();
  const ojson* agents = optional_field(root_, "agents");
  const ojson* workflows = optional_field(root_, "workflows");
  if (agents) {
    if (auto ok = expect_type(*agents, "$.agents", "object"); !ok) return ok.error();
  }
  if (workflows) {
    if (auto ok = expect_type(*workflows, "$.workflows", "object"); !ok) return ok.error();
  }
  auto main = required_field(root_, "$", "workflow");
  if (!main) return main.error();
  if (auto ok = expect_type(**main, "$.workflow", "object"); !ok) return ok.error();
  if (!agents) agents = &empty;
  if (!workflows) workflows = &empty;

  // Names first, so that references can be checked wherever they appear.
  for (const auto& [key, value] : agents->items()) agent_names_.push_back(key);
  for (const auto& [key, value] : workflows->items()) workflow_names_.push_back(key);
  for (const auto& [key, value] : agents->items())
    if (auto ok = read_agent(key, value, key_path("$.agents", key)); !ok) return ok.error();
  for (const auto& [key, value] : workflows->items()) {
    const std::string path = key_path("$.workflows", key);
    if (auto ok = check_name(key, path, "workflow"); !ok) return ok.error();
    auto wf = read_workflow(key, value, path, scope_);
    if (!wf) return wf.error();
    workflows_.push_back(std::move(*wf));
  }
  auto order = dependency_order();
  if (!order) return order.error();
  auto main_spec = read_workflow(*name, **main, "$.workflow", scope_);
  if (!main_spec) return main_spec.error();

  built_agents_.resize(agents_.size());
  built_workflows_.resize(workflows_.size());
  for (std::size_t vertex : *order) {
    if (vertex < workflows_.size()) {
      auto wf = build_workflow(workflows_[vertex]);
      if (!wf) return wf.error();
      built_workflows_[vertex] = std::move(*wf);
    } else {
      auto agent = build_agent(vertex - workflows_.size());
      if (!agent) return agent.error();
      built_agents_[vertex - workflows_.size()] = std::move(*agent);
    }
  }
  auto main_workflow = build_workflow(*main_spec);
  if (!main_workflow) return main_workflow.error();

  LoadedSpec spec{std::move(*name), std::move(description), std::move(*main_workflow), {}, {}, std::move(models_),
                  std::move(journal), std::move(tool_policy)};
  for (std::size_t i = 0; i < agents_.size(); ++i) spec.agents.emplace(agent_names_[i], *built_agents_[i]);
  for (std::size_t i = 0; i < workflows_.size(); ++i) spec.workflows.emplace(workflow_names_[i], *built_workflows_[i]);
  return spec;
}

// ---- Agents --------------------------------------------------------------------------------------------

Expected<void> Loader::read_agent(const std::string& name, const ojson& json, const std::string& path) {
  if (auto ok = check_name(name, path, "agent"); !ok) return ok;
  if (auto ok = expect_type(json, path, "object"); !ok) return ok;
  if (auto ok = check_fields(json, path,
                             {"instructions", "model", "model_settings", "script", "script_mode", "tools", "mcp_servers", "max_turns",
                              "output_schema"});
      !ok)
    return ok;
  AgentSpec agent;
  agent.path = path;
  agent.options.name = name;
  if (const ojson* v = optional_field(json, "instructions")) {
    auto text = read_string(*v, path + ".instructions");
    if (!text) return text.error();
    agent.options.instructions = std::move(*text);
  }
  auto model_field = required_field(json, path, "model");
  if (!model_field) return model_field.error();
  auto model_name = read_string(**model_field, path + ".model");
  if (!model_name) return model_name.error();
  if (const ojson* v = optional_field(json, "script"))
    if (auto ok = expect_type(*v, path + ".script", "array"); !ok) return ok;
  // Read by the model resolver, which knows the fields its providers take.
  if (const ojson* v = optional_field(json, "model_settings"))
    if (auto ok = expect_type(*v, path + ".model_settings", "object"); !ok) return ok;
  if (const ojson* v = optional_field(json, "tools"))
    if (auto ok = read_tools(agent, *v, path + ".tools"); !ok) return ok;
  if (const ojson* v = optional_field(json, "mcp_servers")) {
    if (auto ok = expect_type(*v, path + ".mcp_servers", "array"); !ok) return ok;
    if (!env_.mcp_tools)
      return fail(path + ".mcp_servers", "this host cannot connect MCP servers (SpecEnvironment::mcp_tools is not set)");
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string server_path = index_path(path + ".mcp_servers", i);
      if (auto ok = expect_type((*v)[i], server_path, "object"); !ok) return ok;
      auto tools = env_.mcp_tools(nlohmann::json((*v)[i]), server_path);
      if (!tools) return tools.error();
      for (auto& tool : *tools) agent.options.tools.push_back(std::move(tool));
    }
  }
  if (const ojson* v = optional_field(json, "max_turns")) {
    auto turns = read_positive_int(*v, path + ".max_turns");
    if (!turns) return turns.error();
    agent.options.max_turns = *turns;
  }
  if (const ojson* v = optional_field(json, "output_schema")) {
    if (auto ok = expect_type(*v, path + ".output_schema", "object"); !ok) return ok;
    if (auto violation = check_schema(nlohmann::json(*v)))  // its path is rooted at the schema's "$"
      return fail(path + ".output_schema" + violation->path.substr(1), "invalid JSON Schema: " + violation->message);
    agent.options.output_schema = dump(*v);
  }
  // The model last: a resolver may read the other fields (e.g. "script"), now known to be well-typed.
  if (!env_.make_model)
    return fail(path + ".model", "this host cannot resolve models (SpecEnvironment::make_model is not set)");
  auto model = env_.make_model(*model_name, nlohmann::json(json), path);
  if (!model) return at_path(model.error(), path + ".model");
  if (!model->provider)
    return fail(path + ".model", "the model resolver returned no provider for " + dump(ojson(*model_name)));
  agent.options.model = *model;
  models_.emplace_back(name, std::move(*model));
  agents_.push_back(std::move(agent));
  return {};
}

Expected<void> Loader::read_tools(AgentSpec& agent, const ojson& tools, const std::string& path) {
  if (auto ok = expect_type(tools, path, "array"); !ok) return ok;
  std::set<std::string> names;  // as the model sees them: Agent::create rejects duplicates
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const std::string item_path = index_path(path, i);
    auto text = read_string(tools[i], item_path);
    if (!text) return text.error();
    ToolRef ref{item_path, *text, false};
    std::string tool_name;
    if (text->rfind(kWorkflowToolPrefix, 0) == 0) {
      ref.name = text->substr(kWorkflowToolPrefix.size());
      ref.workflow = true;
      if (!find_name(workflow_names_, ref.name))
        return fail(item_path, "unknown sub-workflow " + in_quotes(ref.name) + " " +
                                   listing(workflow_names_, "no sub-workflows are defined"));
      tool_name = ref.name;
    } else if (auto it = env_.tools.find(*text); it != env_.tools.end()) {
      tool_name = it->second.name();
    } else {
      std::vector<std::string> known;
      for (const auto& [key, tool] : env_.tools) known.push_back(key);
      return fail(item_path, "unknown tool " + in_quotes(*text) + " " + listing(known, "this host offers no tools") +
                                 "; a sub-workflow is \"workflow:<name>\"");
    }
    if (!names.insert(tool_name).second) return fail(item_path, "tool " + in_quotes(tool_name) + " is listed twice");
    agent.tools.push_back(std::move(ref));
  }
  return {};
}

// Workflows use workflows through "workflow" nodes and through agents' "workflow:<name>" tools; a
// cycle would make building (and running) them recurse forever. Returns the sub-workflows and agents
// as vertices (sub-workflow i is i, agent j is W + j), each after everything it uses, or the first
// cycle. Iterative, so that a long chain of sub-workflows cannot overflow the stack.
Expected<std::vector<std::size_t>> Loader::dependency_order() const {
  const std::size_t w = workflows_.size();
  std::vector<std::vector<std::pair<std::size_t, std::string>>> uses(w + agents_.size());  // vertex, ref path
  for (std::size_t i = 0; i < w; ++i)
    for (const auto& node : workflows_[i].nodes) {
      if (node.kind == NodeSpec::Kind::workflow)
        uses[i].emplace_back(*find_name(workflow_names_, node.ref), node.ref_path);
      if (node.kind == NodeSpec::Kind::agent)
        uses[i].emplace_back(w + *find_name(agent_names_, node.ref), node.ref_path);
    }
  for (std::size_t a = 0; a < agents_.size(); ++a)
    for (const auto& ref : agents_[a].tools)
      if (ref.workflow) uses[w + a].emplace_back(*find_name(workflow_names_, ref.name), ref.path);
  auto label = [&](std::size_t v) {
    return v < w ? "workflow " + in_quotes(workflow_names_[v]) : "agent " + in_quotes(agent_names_[v - w]);
  };

  enum class State { unvisited, active, done };
  std::vector<State> state(uses.size(), State::unvisited);
  std::vector<std::size_t> order;
  struct Frame {
    std::size_t vertex;
    std::size_t next_use;
  };
  std::vector<Frame> path;  // the active path of the depth-first search
  for (std::size_t root = 0; root < uses.size(); ++root) {
    if (state[root] != State::unvisited) continue;
    state[root] = State::active;
    path.push_back({root, 0});
    while (!path.empty()) {
      Frame& top = path.back();
      if (top.next_use == uses[top.vertex].size()) {
        state[top.vertex] = State::done;
        order.push_back(top.vertex);
        path.pop_back();
        continue;
      }
      const auto& [next, ref_path] = uses[top.vertex][top.next_use++];
      if (state[next] == State::active) {
        std::string cycle;
        bool on_cycle = false;
        for (const Frame& frame : path) {
          on_cycle = on_cycle || frame.vertex == next;
          if (on_cycle) cycle += label(frame.vertex) + " -> ";
        }
        return fail(ref_path, "sub-workflow cycle: " + cycle + label(next));
      }
      if (state[next] == State::unvisited) {
        state[next] = State::active;
        path.push_back({next, 0});
      }
    }
  }
  return order;
}

// ---- Building ------------------------------------------------------------------------------------------
// In dependency order: whatever an agent or workflow uses is already built.

Expected<Agent> Loader::build_agent(std::size_t index) const {
  const AgentSpec& spec = agents_[index];
  AgentOptions options = spec.options;
  for (const auto& ref : spec.tools) {
    if (!ref.workflow) {
      options.tools.push_back(env_.tools.at(ref.name));
      continue;
    }
    const std::size_t wf = *find_name(workflow_names_, ref.name);
    const std::string& text = workflows_[wf].description;
    options.tools.push_back(built_workflows_[wf]->as_tool(
        ref.name, text.empty() ? "Runs the workflow " + in_quotes(ref.name) + "." : text));
  }
  auto agent = Agent::create(std::move(options));
  if (!agent) return at_path(agent.error(), spec.path);
  return agent;
}

Expected<Workflow> Loader::build_workflow(const WorkflowSpec& spec) const {
  std::vector<Node> nodes;
  for (const auto& node : spec.nodes) {
    switch (node.kind) {
      case NodeSpec::Kind::function:
        nodes.push_back(Node::function(node.name, node.fn));
        break;
      case NodeSpec::Kind::agent:
        nodes.push_back(Node::agent(node.name, *built_agents_[*find_name(agent_names_, node.ref)]));
        break;
      case NodeSpec::Kind::workflow:
        nodes.push_back(Node::workflow(node.name, *built_workflows_[*find_name(workflow_names_, node.ref)]));
        break;
      case NodeSpec::Kind::remote:
        nodes.push_back(Node::remote(node.name, node.target, node.member));
        break;
    }
  }
  // Pass 1 checked this graph already; a problem here would be a loader bug, still reported with a path.
  WorkflowBuilder builder = assemble(spec, nodes);
  if (auto problems = builder.problems(); !problems.empty()) return locate(spec, problems.front());
  auto built = builder.build();
  if (!built) return at_path(built.error(), spec.path);
  return built;
}

// nlohmann's conversions and dumps recurse, so a hostile document nested deep enough would overflow
// the stack; it is refused first. Real specs are a few levels deep.
constexpr std::size_t kMaxNesting = 256;

Expected<void> check_nesting(const ojson& root) {
  struct Frame {
    const ojson* value;
    std::string path;
    std::size_t depth;
  };
  std::vector<Frame> stack{{&root, "$", 1}};
  while (!stack.empty()) {
    Frame frame = std::move(stack.back());
    stack.pop_back();
    if (frame.depth > kMaxNesting)
      return fail(frame.path, "nested deeper than " + std::to_string(kMaxNesting) + " levels");
    if (frame.value->is_object())
      for (auto it = frame.value->begin(); it != frame.value->end(); ++it)
        if (it->is_structured()) stack.push_back({&*it, key_path(frame.path, it.key()), frame.depth + 1});
    if (frame.value->is_array())
      for (std::size_t i = 0; i < frame.value->size(); ++i)
        if ((*frame.value)[i].is_structured())
          stack.push_back({&(*frame.value)[i], index_path(frame.path, i), frame.depth + 1});
  }
  return {};
}

// nlohmann quotes the raw bytes it last read, which may be invalid UTF-8; an error message must stay
// valid text (it may be dumped as JSON later).
using detail::valid_utf8;

// "<origin>:<line>:<column>: malformed JSON: <what>", the position computed from nlohmann's byte count.
Error malformed(std::string_view text, const std::string& origin, const nlohmann::json::parse_error& e) {
  const std::size_t consumed = std::min<std::size_t>(e.byte, text.size());
  const std::string_view before = text.substr(0, consumed);
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  const std::size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  const std::size_t column = std::max<std::size_t>(1, consumed - line_start);
  // nlohmann says "[json.exception.parse_error.101] parse error at line 3, column 11: <what>".
  std::string what = e.what();
  if (auto p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos) what.erase(0, p + 2);
  if (auto p = what.find(": "); what.rfind("parse error", 0) == 0 && p != std::string::npos) what.erase(0, p + 2);
  return Error{ErrorCode::invalid_spec, origin + ":" + std::to_string(line) + ":" + std::to_string(column) +
                                            ": malformed JSON: " + valid_utf8(what)};
}

}  // namespace

Expected<LoadedSpec> load_spec_text(std::string_view text, const std::string& origin, const SpecEnvironment& env) {
  try {
    ojson root;
    try {
      root = ojson::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
      return malformed(text, origin, e);
    }
    if (auto ok = check_nesting(root); !ok) return Error{ErrorCode::invalid_spec, origin + ": " + ok.error().message};
    auto loaded = Loader(root, env).load();
    if (!loaded) return Error{ErrorCode::invalid_spec, origin + ": " + loaded.error().message};
    return loaded;
  } catch (const nlohmann::json::exception& e) {  // a loader bug; still an error value, never a throw
    return Error{ErrorCode::invalid_spec, origin + ": internal error while loading the spec: " + std::string(e.what())};
  }
}

Expected<LoadedSpec> load_spec_file(const std::string& path, const SpecEnvironment& env) {
  auto unreadable = [&](int err) {
    return Error{ErrorCode::invalid_spec,
                 path + ": cannot read the spec file: " + std::generic_category().message(err)};
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return unreadable(errno);
  std::string text;
  char buffer[1 << 14];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const int err = std::ferror(file) ? errno : 0;  // e.g. EISDIR: opening a directory succeeds, reading fails
  std::fclose(file);
  if (err != 0) return unreadable(err);
  return load_spec_text(text, path, env);
}

}  // namespace loomflow