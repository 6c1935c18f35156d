#include "loomflow/providers/builtin.hpp"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace loomflow::providers {

std::uint64_t approximate_tokens(std::string_view text) noexcept { return (text.size() + 3) / 4; }

namespace {

Usage approximate_usage(const ModelRequest& request, const Message& reply) {
  Usage usage;
  for (const auto& m : request.messages) usage.input_tokens += approximate_tokens(m.content) + 1;
  usage.output_tokens = approximate_tokens(reply.content);
  for (const auto& call : reply.tool_calls) usage.output_tokens += approximate_tokens(call.arguments) + 1;
  return usage;
}

}  // namespace

Expected<ModelResponse> EchoProvider::complete(const ModelRequest& request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role == Role::user) {
      ModelResponse response{Message::assistant(it->content), {}};
      response.usage = approximate_usage(request, response.message);
      return response;
    }
  }
  return Error{ErrorCode::model_error, "echo model (step '" + request.step_name + "'): the request has no user message"};
}

namespace {

// A reply's `expect`: the call's last message must contain it.
Expected<void> check_expect(const ScriptedReply& reply, std::size_t call_number, const ModelRequest& request) {
  if (reply.expect.empty()) return {};
  const std::string last = request.messages.empty() ? std::string() : request.messages.back().content;
  if (last.find(reply.expect) != std::string::npos) return {};
  return Error{ErrorCode::script_mismatch,
               "scripted model: call #" + std::to_string(call_number) + " from agent '" + request.agent +
                   "' at step '" + request.step_name + "' expected the last message to contain \"" + reply.expect +
                   "\" but it was \"" + last + "\""};
}

// The response a reply becomes; tool calls without an id get "call_<call>_<index>".
ModelResponse scripted_response(ScriptedReply reply, std::size_t call_number, const ModelRequest& request) {
  for (std::size_t i = 0; i < reply.tool_calls.size(); ++i)
    if (reply.tool_calls[i].id.empty())
      reply.tool_calls[i].id = "call_" + std::to_string(call_number) + "_" + std::to_string(i);
  ModelResponse response{Message::assistant(std::move(reply.text), std::move(reply.tool_calls)), {}};
  response.usage = approximate_usage(request, response.message);
  return response;
}

}  // namespace

ScriptedProvider::ScriptedProvider(std::vector<ScriptedReply> script, Mode mode)
    : script_(mode == Mode::shared ? std::deque<ScriptedReply>(script.begin(), script.end()) : std::deque<ScriptedReply>{}),
      replies_(mode == Mode::per_run ? std::move(script) : std::vector<ScriptedReply>{}),
      mode_(mode),
      total_(mode == Mode::shared ? script_.size() : replies_.size()) {}

Expected<ModelResponse> ScriptedProvider::reply_for_turn(const ModelRequest& request) {
  std::size_t call_number = 0;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    call_number = ++calls_;
  }
  // Step names end in "/turn-<N>/model" (see trace.hpp).
  const std::string& step = request.step_name;
  const auto at = step.rfind("/turn-");
  const std::size_t turn = at == std::string::npos ? 0 : std::strtoul(step.c_str() + at + 6, nullptr, 10);
  if (turn == 0 || turn > replies_.size())
    return Error{ErrorCode::script_exhausted, "scripted model: agent '" + request.agent + "' at step '" + step +
                                                  "' asked for reply " + std::to_string(turn) + " of a " +
                                                  std::to_string(replies_.size()) + "-reply script (per_run)"};
  ScriptedReply reply = replies_[turn - 1];
  if (auto ok = check_expect(reply, call_number, request); !ok) return ok.error();
  return scripted_response(std::move(reply), call_number, request);
}

Expected<ModelResponse> ScriptedProvider::complete(const ModelRequest& request) {
  if (mode_ == Mode::per_run) return reply_for_turn(request);
  ScriptedReply reply;
  std::size_t call_number = 0;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    call_number = ++calls_;
    if (script_.empty())
      return Error{ErrorCode::script_exhausted,
                   "scripted model: unexpected call #" + std::to_string(call_number) + " from agent '" + request.agent +
                       "' at step '" + request.step_name + "': all " + std::to_string(total_) +
                       " scripted replies were already consumed"};
    // A reply keyed by step answers that step wherever it is in the queue (a resumed run skips the
    // replies of journaled steps); unkeyed replies answer in order.
    auto chosen = std::find_if(script_.begin(), script_.end(),
                               [&](const ScriptedReply& r) { return !r.step.empty() && r.step == request.step_name; });
    if (chosen == script_.end()) {
      chosen = script_.begin();
      if (!chosen->step.empty())
        return Error{ErrorCode::script_mismatch,
                     "scripted model: call #" + std::to_string(call_number) + " from agent '" + request.agent +
                         "' at step '" + request.step_name + "' has no scripted reply (the next one is for step '" +
                         chosen->step + "')"};
    }
    const ScriptedReply& next = *chosen;
    if (auto ok = check_expect(next, call_number, request); !ok) return ok.error();
    reply = std::move(*chosen);
    script_.erase(chosen);
  }
  return scripted_response(std::move(reply), call_number, request);
}

std::size_t ScriptedProvider::remaining() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return script_.size();
}

std::size_t ScriptedProvider::calls() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return calls_;
}

Expected<void> ScriptedProvider::verify_consumed() const {
  std::lock_guard<std::mutex> guard(mutex_);
  if (script_.empty()) return {};
  std::string message = "scripted model: " + std::to_string(script_.size()) + " of " + std::to_string(total_) +
                        " scripted replies were never consumed; the next one is ";
  const auto& next = script_.front();
  if (!next.tool_calls.empty())
    message += "a call of tool '" + next.tool_calls.front().name + "'";
  else
    message += "\"" + next.text + "\"";
  return Error{ErrorCode::script_exhausted, std::move(message)};
}

Model echo(std::string model_name) { return Model{std::make_shared<EchoProvider>(), std::move(model_name)}; }

Model scripted_per_run(std::vector<ScriptedReply> script, std::string model_name) {
  return Model{std::make_shared<ScriptedProvider>(std::move(script), ScriptedProvider::Mode::per_run),
               std::move(model_name)};
}

Model scripted(std::vector<ScriptedReply> script, std::string model_name) {
  return Model{std::make_shared<ScriptedProvider>(std::move(script)), std::move(model_name)};
}

Expected<std::vector<ScriptedReply>> script_from_json(const nlohmann::json& script, const std::string& json_path) {
  auto fail = [](const std::string& path, const std::string& what) -> Error {
    return Error{ErrorCode::invalid_spec, path + ": " + what};
  };
  if (!script.is_array()) return fail(json_path, "expected an array of scripted replies");
  std::vector<ScriptedReply> out;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const auto& item = script[i];
    const std::string path = json_path + "[" + std::to_string(i) + "]";
    if (!item.is_object()) return fail(path, "expected an object with \"text\" and/or \"tool_calls\"");
    ScriptedReply reply;
    for (const auto& [key, value] : item.items()) {
      if (key == "text") {
        if (!value.is_string()) return fail(path + ".text", "expected a string");
        reply.text = value.get<std::string>();
      } else if (key == "step") {
        if (!value.is_string()) return fail(path + ".step", "expected a string");
        reply.step = value.get<std::string>();
      } else if (key == "expect") {
        if (!value.is_string()) return fail(path + ".expect", "expected a string");
        reply.expect = value.get<std::string>();
      } else if (key == "tool_calls") {
        if (!value.is_array()) return fail(path + ".tool_calls", "expected an array");
        for (std::size_t k = 0; k < value.size(); ++k) {
          const auto& call = value[k];
          const std::string cpath = path + ".tool_calls[" + std::to_string(k) + "]";
          if (!call.is_object()) return fail(cpath, "expected an object with \"name\" and \"arguments\"");
          ToolCall tc;
          for (const auto& [ckey, cvalue] : call.items()) {
            if (ckey == "name" && cvalue.is_string()) tc.name = cvalue.get<std::string>();
            else if (ckey == "id" && cvalue.is_string()) tc.id = cvalue.get<std::string>();
            else if (ckey == "arguments") tc.arguments = cvalue.is_string() ? cvalue.get<std::string>() : cvalue.dump();
            else return fail(cpath + "." + ckey, ckey == "name" || ckey == "id" ? "expected a string" : "unknown field");
          }
          if (tc.name.empty()) return fail(cpath, "missing required field \"name\"");
          if (tc.arguments.empty()) tc.arguments = "{}";
          reply.tool_calls.push_back(std::move(tc));
        }
      } else {
        return fail(path + "." + key, "unknown field (expected text, tool_calls, expect or step)");
      }
    }
    if (reply.text.empty() && reply.tool_calls.empty())
      return fail(path, "a scripted reply needs \"text\" or \"tool_calls\"");
    out.push_back(std::move(reply));
  }
  return out;
}

Expected<Model> builtin_model(std::string_view model_name, const nlohmann::json& agent, const std::string& json_path) {
  if (model_name == "echo") return echo();
  if (model_name == "scripted") {
    auto it = agent.find("script");
    if (it == agent.end())
      return Error{ErrorCode::invalid_spec, json_path + ": model \"scripted\" needs a \"script\" array of replies"};
    auto script = script_from_json(*it, json_path + ".script");
    if (!script) return script.error();
    const std::string mode = agent.value("script_mode", std::string("shared"));
    if (mode == "per_run") return scripted_per_run(std::move(*script));
    if (mode != "shared")
      return Error{ErrorCode::invalid_spec,
                   json_path + ".script_mode: expected \"shared\" or \"per_run\", got \"" + mode + "\""};
    return scripted(std::move(*script));
  }
  return Error{ErrorCode::invalid_spec, json_path + ".model: unknown model \"" + std::string(model_name) +
                                            "\" (built-in models: \"echo\", \"scripted\")"};
}

Expected<void> verify_consumed(const Model& model) {
  if (auto* s = dynamic_cast<const ScriptedProvider*>(model.provider.get())) return s->verify_consumed();
  return {};
}

}  // namespace loomflow::providers
