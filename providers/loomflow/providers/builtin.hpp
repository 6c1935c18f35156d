// loomflow/providers/builtin.hpp — the two built-in providers every test relies on.
//
// - echo: answers with the last user message, verbatim. Deterministic; never calls tools.
// - scripted: a queue of canned replies (text and/or tool calls), consumed one per model call in
//   order (or, with `step`, the call at that step name — so a resumed run, whose journaled calls
//   never reach the model, still gets the right replies). It fails loudly: a call when the queue is empty is a `script_exhausted` error, a call whose
//   last message does not contain a reply's `expect` text is a `script_mismatch` error, and
//   `verify_consumed()` reports replies that were never used.
// Token usage is approximated as ceil(bytes / 4) per message, so results stay deterministic.
// Thread-safety: both providers may be called from many actors at once (scripted uses a mutex).
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "loomflow/provider.hpp"

namespace loomflow::providers {

std::uint64_t approximate_tokens(std::string_view text) noexcept;

class EchoProvider final : public Provider {
 public:
  std::string_view name() const noexcept override { return "echo"; }
  Expected<ModelResponse> complete(const ModelRequest& request) override;
};

struct ScriptedReply {
  std::string text;                  // assistant text (may be empty when there are tool calls)
  std::vector<ToolCall> tool_calls;  // ids default to "call_<n>" when empty
  std::string expect;                // when set, the call's last message must contain it
  std::string step;                  // when set, answers the call at this step name, in any order
};

class ScriptedProvider final : public Provider {
 public:
  // `shared` (default): one queue consumed by every call, as above. `per_run`: every run replays the
  // script from its start — the call at turn N of an agent gets reply N (its `expect` checked; `step`
  // is not used), nothing is consumed — so a server can answer any number of concurrent runs
  // (`loomflow serve` demos and benches).
  enum class Mode { shared, per_run };
  explicit ScriptedProvider(std::vector<ScriptedReply> script, Mode mode = Mode::shared);
  std::string_view name() const noexcept override { return "scripted"; }
  Expected<ModelResponse> complete(const ModelRequest& request) override;

  std::size_t remaining() const;
  std::size_t calls() const;
  // An error listing the unconsumed replies, or success when every reply was used.
  Expected<void> verify_consumed() const;

 private:
  mutable std::mutex mutex_;
  Expected<ModelResponse> reply_for_turn(const ModelRequest& request);
  std::deque<ScriptedReply> script_;
  const std::vector<ScriptedReply> replies_;  // per_run: the whole script
  const Mode mode_;
  std::size_t total_ = 0;
  std::size_t calls_ = 0;
};

Model echo(std::string model_name = "echo");
Model scripted(std::vector<ScriptedReply> script, std::string model_name = "scripted");
Model scripted_per_run(std::vector<ScriptedReply> script, std::string model_name = "scripted");

// Parses a spec's script: [{"text": "...", "tool_calls": [{"id"?, "name", "arguments": {...}}], "expect"?}].
// Errors name `json_path` and the element that is wrong.
Expected<std::vector<ScriptedReply>> script_from_json(const nlohmann::json& script, const std::string& json_path);

// Resolves a model name from a spec: "echo", or "scripted" with the agent's "script" array (and
// optionally "script_mode": "shared" (default) or "per_run").
// `agent` is the agent's JSON object, `json_path` its path (for errors). Later issues add real providers.
Expected<Model> builtin_model(std::string_view model_name, const nlohmann::json& agent, const std::string& json_path);

// When `model` is a scripted provider, its verify_consumed(); otherwise success.
Expected<void> verify_consumed(const Model& model);

}  // namespace loomflow::providers
