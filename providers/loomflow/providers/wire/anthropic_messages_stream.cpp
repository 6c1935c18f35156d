// Anthropic Messages codec: the accumulator of streamed (SSE) responses. It collects the blocks and
// usage of the stream, then hands the equivalent non-streaming body to parse_messages_response, so
// both paths share one mapping.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "loomflow/providers/wire/anthropic_messages.hpp"

#include "loomflow/detail/json_depth.hpp"

namespace loomflow::providers::wire::anthropic {

namespace {

using nlohmann::json;

constexpr auto kReplace = json::error_handler_t::replace;

std::string str(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The value of a count field, when present as a non-negative integer.
std::optional<std::uint64_t> count(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
  return std::nullopt;
}

std::optional<long long> index_of(const json& payload) {
  auto it = payload.find("index");
  if (it == payload.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<long long>();
}

bool blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

}  // namespace

MessagesStreamAccumulator::MessagesStreamAccumulator(std::string provider_label, bool structured_output)
    : label_(std::move(provider_label)), structured_(structured_output) {}

Expected<void> MessagesStreamAccumulator::fail(Error error) {
  error_ = error;
  return error;
}

Expected<void> MessagesStreamAccumulator::on_event(const SseEvent& event) {
  if (error_) return *error_;
  if (done_ || event.event.empty() || event.event == "ping") return {};
  try {
    return handle(event.event, event.data);
  } catch (const std::exception& e) {
    return fail(Error{ErrorCode::model_error, label_ + ": unreadable '" + event.event + "' event: " + e.what()});
  }
}

Expected<void> MessagesStreamAccumulator::handle(const std::string& type, std::string_view data) {
  static constexpr std::string_view kKnown[] = {"message_start", "content_block_start", "content_block_delta",
                                                "content_block_stop", "message_delta", "message_stop", "error"};
  if (std::find(std::begin(kKnown), std::end(kKnown), type) == std::end(kKnown)) return {};  // forward compatible

  if (detail::json_text_too_deep(data))
    return fail(Error{ErrorCode::model_error, label_ + ": the data of a '" + type + "' event nests JSON deeper than " +
                                                  std::to_string(detail::kMaxJsonDepth) + " levels"});
  const json payload = json::parse(data, nullptr, false);
  if (payload.is_discarded() || !payload.is_object())
    return fail(Error{ErrorCode::model_error, label_ + ": the data of a '" + type +
                                                  "' event is not a JSON object: " + std::string(data.substr(0, 200))});

  if (type == "error") {
    auto parsed = parse_messages_response(data, label_, structured_);  // maps the error object
    if (parsed) return fail(Error{ErrorCode::model_error, label_ + ": an error event without an error object"});
    return fail(std::move(parsed).error());
  }
  if (type == "message_stop") {
    done_ = true;
    return {};
  }
  if (type == "message_start" || type == "message_delta") {
    const json& usage_holder = type == "message_start" ? (payload.contains("message") ? payload["message"] : payload)
                                                      : payload;
    if (usage_holder.is_object() && usage_holder.contains("usage")) {
      const json& usage = usage_holder["usage"];
      if (auto n = count(usage, "input_tokens")) input_tokens_ = *n;
      if (auto n = count(usage, "cache_creation_input_tokens")) cache_creation_tokens_ = *n;
      if (auto n = count(usage, "cache_read_input_tokens")) cache_read_tokens_ = *n;
      if (auto n = count(usage, "output_tokens")) output_tokens_ = *n;
    }
    if (type == "message_delta" && payload.contains("delta")) {
      const std::string reason = str(payload["delta"], "stop_reason");
      if (!reason.empty()) stop_reason_ = reason;
    }
    return {};
  }

  // content_block_start / _delta / _stop
  const auto index = index_of(payload);
  if (!index) return fail(Error{ErrorCode::model_error, label_ + ": a '" + type + "' event without an index"});
  const std::string where = " (content block " + std::to_string(*index) + ")";
  if (type == "content_block_start") {
    const json block = payload.contains("content_block") ? payload["content_block"] : json::object();
    Block& b = blocks_[*index];
    b = Block{};
    b.type = str(block, "type");
    if (b.type == "text") {
      b.text = str(block, "text");
      if (!b.text.empty() && on_text) on_text(b.text);
    } else if (b.type == "tool_use") {
      b.id = str(block, "id");
      b.name = str(block, "name");
      const json input = block.contains("input") ? block["input"] : json::object();
      b.arguments = input.is_object() ? input.dump(-1, ' ', false, kReplace) : "{}";
    }
    return {};
  }
  auto it = blocks_.find(*index);
  if (it == blocks_.end())
    return fail(Error{ErrorCode::model_error, label_ + ": a '" + type + "' event for a block never started" + where});
  Block& b = it->second;
  if (type == "content_block_delta") {
    const json delta = payload.contains("delta") ? payload["delta"] : json::object();
    const std::string kind = str(delta, "type");
    if (kind == "text_delta" && b.type == "text") {
      const std::string text = str(delta, "text");
      b.text += text;
      if (!text.empty() && on_text) on_text(text);
    } else if (kind == "input_json_delta" && b.type == "tool_use") {
      b.json += str(delta, "partial_json");
    }  // thinking, signature and citation deltas are not part of the answer
    return {};
  }
  // content_block_stop
  b.stopped = true;
  if (b.type == "tool_use" && !blank(b.json)) {
    const json input = detail::json_text_too_deep(b.json) ? json(json::value_t::discarded) : json::parse(b.json, nullptr, false);
    if (input.is_discarded() || !input.is_object())
      return fail(Error{ErrorCode::model_error, label_ + ": the input of tool call '" + b.name + "'" + where +
                                                    " is not a JSON object: " + b.json.substr(0, 200)});
    b.arguments = input.dump(-1, ' ', false, kReplace);
  }
  return {};
}

Expected<ModelResponse> MessagesStreamAccumulator::finish() {
  if (error_) return *error_;
  if (!done_)
    return Error{ErrorCode::unavailable, label_ + ": truncated stream: the response ended before message_stop"};
  try {
    json content = json::array();
    for (auto& [index, b] : blocks_) {
      if (b.type == "text") {
        content.push_back(json{{"type", "text"}, {"text", b.text}});
      } else if (b.type == "tool_use") {
        const std::string& text = b.stopped || blank(b.json) ? b.arguments : b.json;
        json input = detail::json_text_too_deep(text) ? json(json::value_t::discarded) : json::parse(text, nullptr, false);
        if (input.is_discarded() || !input.is_object()) {
          const bool cut = stop_reason_ == "max_tokens";
          return Error{ErrorCode::model_error,
                       label_ + ": the input of tool call '" + b.name + "' (content block " + std::to_string(index) +
                           ") is incomplete JSON: " +
                           (cut ? "the output hit max_tokens (" + std::to_string(output_tokens_) +
                                      " output tokens) before the tool call was complete"
                                : std::string("the block was never closed"))};
        }
        content.push_back(json{{"type", "tool_use"}, {"id", b.id}, {"name", b.name}, {"input", std::move(input)}});
      }
    }
    json body{{"type", "message"},
              {"role", "assistant"},
              {"content", std::move(content)},
              {"stop_reason", stop_reason_.empty() ? json() : json(stop_reason_)},
              {"usage",
               {{"input_tokens", input_tokens_},
                {"cache_creation_input_tokens", cache_creation_tokens_},
                {"cache_read_input_tokens", cache_read_tokens_},
                {"output_tokens", output_tokens_}}}};
    return parse_messages_response(body.dump(-1, ' ', false, kReplace), label_, structured_);
  } catch (const std::exception& e) {
    return Error{ErrorCode::model_error, label_ + ": could not assemble the streamed response: " + e.what()};
  }
}

}  // namespace loomflow::providers::wire::anthropic
