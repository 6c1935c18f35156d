// loomflow/spec.hpp — loads a declarative JSON spec (agents plus workflows) into built, validated
// `Agent`s and `Workflow`s, so a workflow can be written, checked and run without any C++.
//
// Contract: loading is a pure function of the text and the `SpecEnvironment` (no globals, no I/O
// besides reading the file in `load_spec_file`). It never throws (nlohmann exceptions are caught
// at this edge) and reports the FIRST problem only, as an `ErrorCode::invalid_spec` error whose
// message names the source, a JSON path rooted at `$` and the problem:
//   support.json:3:11: malformed JSON: syntax error while parsing value - unexpected '}'; ...
//   support.json: $.agents.billing.max_turns: expected integer >= 1, got string "3"
//   support.json: $.workflow.edges[1].to: edge target 'nowhere' is not a node of workflow 'support'
// Problems are looked for in a fixed order: top-level fields, agents (in the order listed),
// sub-workflows (in order, then reference cycles between them), the main workflow. Unknown fields
// are errors everywhere (typo protection). Errors of `make_model` keep their text, prefixed with the
// origin and, unless they already start with a JSON path, with "$.agents.<name>.model". A document
// nested deeper than 256 levels is refused up front (nlohmann recurses over values).
// `LoadedSpec` is a value: cheap to copy, and safe to share between threads once loaded. Loading is
// thread-safe when the environment's callbacks are (the built-ins are).
// `spec.schema.json` (next to this header) describes the same format as a JSON Schema.
//
// Format, version 1:
// {
//   "loomflow": 1,                     required; the format version (the integer 1)
//   "name": "support",                 required; [A-Za-z0-9_-]{1,64}; the main workflow's name
//   "description": "...",              optional string
//   "agents": { "<name>": {            optional; names are [A-Za-z0-9_-]{1,64}
//       "instructions": "...",         optional string (the system message)
//       "model": "echo",               required string, resolved by SpecEnvironment::make_model
//       "model_settings": { ... },     optional object, read by make_model (for HTTP models: base_url,
//                                      api_key_env, headers, temperature, max_tokens, tool_choice,
//                                      stream, timeout_ms, connect_timeout_ms, idle_timeout_ms,
//                                      max_attempts)
//       "script": [ ... ],             optional array, read by make_model ("scripted" models)
//       "tools": ["word_count", "workflow:<name>"],   optional, unique; a SpecEnvironment::tools
//                                      name, or "workflow:<sub-workflow>" = that workflow as a tool
//                                      named <sub-workflow>, described by its "description"
//       "max_turns": 10,               optional integer >= 1 (default 10)
//       "output_schema": { ... }       optional JSON Schema object for the final answer
//   } },
//   "workflows": { "<name>": <workflow> },   optional sub-workflows, usable as nodes and as tools;
//                                      they may use each other, but not in a cycle (also not
//                                      through an agent's "workflow:<name>" tool)
//   "workflow": <workflow>             required; the main workflow
// }
// <workflow> = {
//   "description": "...",              optional string (the tool description of workflow:<name>)
//   "entry": "<node>",                 optional; default: the first node listed
//   "max_visits_per_node": 25,         optional integer >= 1 (default Workflow::kDefaultMaxVisitsPerNode)
//   "nodes": { "<name>": <node> },     required, at least one; names [A-Za-z0-9_-]{1,64}
//   "edges": [ {"from": "a", "to": "b"} ],                 optional; "to" may be "__end__"
//   "routers": [ {"from": "a", "routes": {"<label>": "<node>|__end__"}} ],   optional; the label
//                                      is the output of "from" (trimmed, case-insensitive)
//   "parallel": [ {"from": "a", "branches": ["b", "c"], "join": "d"} ]      optional; "from" may
//                                      be "__start__" (then without "entry"); the join's input is
//                                      merge_as_json_object of the branch outputs
// }
// A node has at most one successor: one edge, one router or one parallel group. Every node must
// be reachable from the entry.
// <node> = {"type": "agent", "agent": "<agent name>"}
//        | {"type": "workflow", "workflow": "<sub-workflow name>"}
//        | {"type": "function", "function": "<SpecEnvironment::functions name>"}
//        | {"type": "keyword_classifier", "labels": {"<label>": ["keyword", ...]}, "default": "<label>"}
//              see keyword_classifier() below
//        | {"type": "template", "template": "Dear customer: {input}"}   see text_template() below
//        | {"type": "remote", "target": "<hosted agent or workflow>", "member": "<name>"}   runs on a
//              cluster member (Node::remote); "member" is optional (default: any member hosting it)
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loomflow/agent.hpp"
#include "loomflow/error.hpp"
#include "loomflow/provider.hpp"
#include "loomflow/tool.hpp"
#include "loomflow/tool_policy.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow {

// What a spec may refer to by name, injected by the host (the CLI, a server, a test).
struct SpecEnvironment {
  // Resolves an agent's "model" string to a Model. `agent` is the agent's JSON object (so a
  // resolver can read fields such as "script"), `json_path` its path (e.g. "$.agents.billing"),
  // for the resolver's own errors. Required as soon as the spec has an agent.
  std::function<Expected<Model>(std::string_view model, const nlohmann::json& agent, const std::string& json_path)>
      make_model;
  std::map<std::string, NodeFn> functions;  // for nodes {"type":"function","function":"<name>"}; default: none
  std::map<std::string, Tool> tools;        // for agents' "tools": ["<name>"]; default: none
  // Connects one entry of an agent's "mcp_servers" (its JSON object, and its JSON path for errors)
  // and returns the server's tools. Default: none — a spec with MCP servers is then an error.
  std::function<Expected<std::vector<Tool>>(const nlohmann::json& server, const std::string& json_path)> mcp_tools;
};

struct LoadedSpec {
  std::string name;                                   // the spec's "name"
  std::string description;                            // the spec's "description" (may be empty)
  Workflow workflow;                                  // the main workflow, named `name`
  std::map<std::string, Agent> agents;                // by spec name, every agent (used or not)
  std::map<std::string, Workflow> workflows;          // sub-workflows by spec name
  std::vector<std::pair<std::string, Model>> models;  // agent name -> its model, in listed order
                                                      // (the CLI checks scripted models were consumed)
  std::string journal;                                // the spec's "journal" URI (may be empty)
  std::shared_ptr<const ToolPolicy> tool_policy;      // the spec's "tool_policy" (null when absent)
};

// Loads a spec from text. `origin` names the source in every error (a file path, or "<inline>").
[[nodiscard]] Expected<LoadedSpec> load_spec_text(std::string_view text, const std::string& origin,
                                                  const SpecEnvironment& env);

// Reads and loads a file; the path is the origin. An unreadable file is an error naming the path
// and the system's reason.
[[nodiscard]] Expected<LoadedSpec> load_spec_file(const std::string& path, const SpecEnvironment& env);

// ---- The node kinds the format adds; usable from C++ too ------------------------------------------

// One label of a keyword classifier and the keywords that select it.
struct KeywordLabel {
  std::string label;
  std::vector<std::string> keywords;
};

// A node function whose output is the first label (in the order given) one of whose keywords occurs
// in the input as a whole word, compared case-insensitively (ASCII); otherwise `default_label`.
// "Whole word": not preceded or followed by a letter, digit, '_' or non-ASCII byte, so "charged"
// does not match the keyword "charge". A keyword may span words ("credit card").
NodeFn keyword_classifier(std::vector<KeywordLabel> labels, std::string default_label);

// A node function whose output is `text` with every "{input}" replaced by the node's input (the
// input is inserted verbatim, never expanded again).
NodeFn text_template(std::string text);

}  // namespace loomflow
