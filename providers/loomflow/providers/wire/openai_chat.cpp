// The response side of the OpenAI Chat Completions codec: 200 bodies, streamed chunks, error bodies.
#include "loomflow/providers/wire/openai_chat.hpp"

#include "loomflow/detail/json_depth.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace loomflow::providers::wire::openai {
namespace {

using json = nlohmann::json;

// Invalid UTF-8 in model output must not turn a dump into an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// At most `max` bytes of `text`, cut before a UTF-8 continuation byte.
std::string cut(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return std::string(text.substr(0, n));
}

// Keeps messages readable when the offending payload is large.
std::string brief(std::string_view text) {
  constexpr std::size_t kMax = 200;
  return text.size() <= kMax ? std::string(text) : cut(text, kMax) + "...";
}

// Deeper nesting than any real response: parsing stays flat, but dumping and comparing recurse.
constexpr int kMaxDepth = 256;

// True when `text` nests arrays/objects deeper than kMaxDepth (strings are skipped; the text need
// not be valid JSON).
bool too_deep(std::string_view text) { return detail::json_text_too_deep(text, kMaxDepth); }

Error bad(const std::string& label, std::string what) {
  return make_error(ErrorCode::model_error, label + ": " + std::move(what));
}

// A string field, a number as its text, else "".
std::string text_of(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return dump(*it);
  return {};
}

// A token count; absent, null, negative or non-numeric values count 0.
std::uint64_t count(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return std::max<std::int64_t>(it->get<std::int64_t>(), 0);
  if (it->is_number_float()) {
    const double d = it->get<double>();
    return std::isfinite(d) && d > 0 && d < 1.8e19 ? static_cast<std::uint64_t>(d) : 0;
  }
  return 0;
}

Usage read_usage(const json& usage) {
  Usage out;
  if (!usage.is_object()) return out;
  out.input_tokens = count(usage, "prompt_tokens");
  out.output_tokens = count(usage, "completion_tokens");
  if (auto details = usage.find("prompt_tokens_details"); details != usage.end()) {
    out.cached_input_tokens = count(*details, "cached_tokens");
  }
  return out;
}

std::string normalize_finish(std::string_view raw, bool has_calls, bool refused) {
  if (refused) return "refusal";
  if (raw == "tool_calls" || raw == "function_call") return "tool_calls";
  if (raw == "stop") return has_calls ? "tool_calls" : "stop";  // a forced tool_choice answers "stop"
  if (raw == "length" || raw == "content_filter") return std::string(raw);
  return {};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Overload, rate limits and server errors pass; the request itself was fine.
bool transient(const std::string& type, const std::string& code) {
  for (const std::string& s : {lower(type), lower(code)}) {
    for (const char* word : {"overload", "server_error", "rate_limit", "rate limit", "service_unavailable"}) {
      if (s.find(word) != std::string::npos) return true;
    }
  }
  // Some compatible servers (LiteLLM) put the HTTP status in `code`.
  if (code.size() == 3 && std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isdigit(c); })) {
    const int status = std::stoi(code);
    return status == 429 || status >= 500;
  }
  return false;
}

// The Error for an "error" value found inside a 200 body or a stream chunk.
Error api_error(const std::string& label, const json& error) {
  std::string type, code, message;
  if (error.is_object()) {
    type = text_of(error, "type");
    code = text_of(error, "code");
    message = text_of(error, "message");
  } else if (error.is_string()) {
    message = error.get<std::string>();
  } else {
    message = brief(dump(error));
  }
  std::string text = label + ": the API reported an error";
  if (!type.empty() || !code.empty()) {
    text += " (" + type + (type.empty() || code.empty() ? "" : ", ") + code + ")";
  }
  if (!message.empty()) text += ": " + message;
  return make_error(transient(type, code) ? ErrorCode::unavailable : ErrorCode::model_error, std::move(text));
}

// message.content: a string, null, or (some compatible servers) an array of {"type":"text","text"}.
Expected<std::string> read_content(const json& message, const std::string& label) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    for (const json& part : *it) out += text_of(part, "text");
    return out;
  }
  return bad(label, std::string("choices[0].message.content is a JSON ") + it->type_name());
}

// One element of a non-streamed message.tool_calls.
Expected<ToolCall> read_call(const json& call, std::size_t i, const std::string& label) {
  const std::string where = "tool_calls[" + std::to_string(i) + "]";
  if (!call.is_object()) return bad(label, where + " is not an object");
  if (const std::string type = text_of(call, "type"); !type.empty() && type != "function") {
    return bad(label, where + " has unsupported type '" + type + "'");
  }
  auto function = call.find("function");
  if (function == call.end() || !function->is_object()) return bad(label, where + " has no function object");
  ToolCall out;
  out.name = text_of(*function, "name");
  if (out.name.empty()) return bad(label, where + " has no function name");
  out.id = text_of(call, "id");
  if (out.id.empty()) out.id = "call_" + std::to_string(i);
  if (auto args = function->find("arguments"); args != function->end() && !args->is_null()) {
    out.arguments = args->is_string() ? args->get<std::string>() : dump(*args);
  }
  return out;
}

Expected<ModelResponse> parse_response(std::string_view body, const std::string& label) {
  if (too_deep(body)) return bad(label, "the response nests JSON too deeply: " + brief(body));
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(label, "the response is not valid JSON: " + brief(body));
  if (!j.is_object()) return bad(label, "the response is not a JSON object: " + brief(body));
  if (auto error = j.find("error"); error != j.end() && !error->is_null()) return api_error(label, *error);
  auto choices = j.find("choices");
  const json* message = nullptr;
  if (choices != j.end() && choices->is_array() && !choices->empty() && (*choices)[0].is_object()) {
    auto m = (*choices)[0].find("message");
    if (m != (*choices)[0].end() && m->is_object()) message = &*m;
  }
  if (!message) return bad(label, "the response has no choices[0].message: " + brief(body));

  ModelResponse response;
  response.message.role = Role::assistant;
  auto content = read_content(*message, label);
  if (!content) return content.error();
  response.message.content = std::move(*content);
  response.refusal = text_of(*message, "refusal");
  if (auto calls = message->find("tool_calls"); calls != message->end() && !calls->is_null()) {
    if (!calls->is_array()) return bad(label, "choices[0].message.tool_calls is not an array");
    for (std::size_t i = 0; i < calls->size(); ++i) {
      auto call = read_call((*calls)[i], i, label);
      if (!call) return call.error();
      response.message.tool_calls.push_back(std::move(*call));
    }
  }
  response.finish_reason = normalize_finish(text_of((*choices)[0], "finish_reason"),
                                            !response.message.tool_calls.empty(), !response.refusal.empty());
  if (auto usage = j.find("usage"); usage != j.end()) response.usage = read_usage(*usage);
  return response;
}

// Adds one streamed tool-call fragment to `calls`: keyed by `index`; without one, it continues the
// last call unless it brings a new id. Only the first id and name of a call count; arguments join.
Expected<void> merge_fragment(std::vector<ToolCall>& calls, const json& fragment, const std::string& label) {
  if (!fragment.is_object()) return bad(label, "a tool-call fragment is not an object: " + brief(dump(fragment)));
  std::size_t index = calls.size();
  const std::string id = text_of(fragment, "id");
  auto position = fragment.find("index");
  if (position != fragment.end() && position->is_number_integer()) {
    const auto value = position->get<std::int64_t>();
    if (value < 0 || static_cast<std::uint64_t>(value) > calls.size()) {
      return bad(label, "a tool-call fragment has index " + std::to_string(value) + " but only " +
                            std::to_string(calls.size()) + " calls came before it");
    }
    index = static_cast<std::size_t>(value);
  } else if (position != fragment.end() && !position->is_null()) {
    return bad(label, "a tool-call fragment has a non-integer index: " + brief(dump(fragment)));
  } else if (!calls.empty() && (id.empty() || id == calls.back().id)) {
    index = calls.size() - 1;
  }
  if (index == calls.size()) calls.emplace_back();
  ToolCall& call = calls[index];
  if (call.id.empty()) call.id = id;
  auto function = fragment.find("function");
  if (function == fragment.end() || !function->is_object()) return {};
  if (call.name.empty()) call.name = text_of(*function, "name");
  if (auto args = function->find("arguments"); args != function->end()) {
    if (args->is_string()) {
      call.arguments += args->get_ref<const std::string&>();
    } else if (!args->is_null()) {
      call.arguments = dump(*args);  // some compatible servers send the arguments object itself
    }
  }
  return {};
}

}  // namespace

Expected<ModelResponse> parse_chat_response(std::string_view body, const std::string& provider_label) {
  try {
    return parse_response(body, provider_label);
  } catch (const json::exception& e) {
    return bad(provider_label, std::string("unreadable response: ") + e.what());
  }
}

// ---- Streaming ----------------------------------------------------------------------------------

ChatStreamAccumulator::ChatStreamAccumulator(std::string provider_label) : label_(std::move(provider_label)) {}

bool ChatStreamAccumulator::done() const noexcept { return done_; }

Expected<void> ChatStreamAccumulator::fail(Error error) {
  error_ = error;
  return error;
}

Expected<void> ChatStreamAccumulator::on_event(const SseEvent& event) {
  if (error_) return *error_;
  if (done_) return {};
  Expected<void> result;
  try {
    result = handle(event);
  } catch (const json::exception& e) {
    result = bad(label_, std::string("unreadable stream chunk: ") + e.what());
  }
  return result ? result : fail(result.error());
}

Expected<void> ChatStreamAccumulator::handle(const SseEvent& event) {
  const std::string_view data = event.data;
  const auto first = data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};  // an empty keep-alive event
  const auto last = data.find_last_not_of(" \t\r\n");
  if (data.substr(first, last - first + 1) == "[DONE]") {
    done_ = true;
    return {};
  }
  if (too_deep(data)) return bad(label_, "a stream chunk nests JSON too deeply: " + brief(data));
  const json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (chunk.is_discarded()) return bad(label_, "a stream chunk is not valid JSON: " + brief(data));
  if (!chunk.is_object()) return bad(label_, "a stream chunk is not a JSON object: " + brief(data));
  if (auto error = chunk.find("error"); error != chunk.end() && !error->is_null()) return api_error(label_, *error);
  if (event.event == "error") return api_error(label_, chunk);  // some compatible servers name the event
  if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) usage_ = read_usage(*usage);

  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return {};
  for (const json& choice : *choices) {
    if (!choice.is_object()) continue;
    if (auto index = choice.find("index"); index != choice.end() && !(index->is_number_integer() && *index == 0)) {
      continue;  // only the first choice is assembled
    }
    if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
      if (auto text = delta->find("content"); text != delta->end() && text->is_string()) {
        const auto& piece = text->get_ref<const std::string&>();
        content_ += piece;
        if (on_text && !piece.empty()) on_text(piece);
      }
      if (auto refusal = delta->find("refusal"); refusal != delta->end() && refusal->is_string()) {
        refusal_ += refusal->get_ref<const std::string&>();
      }
      if (auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array()) {
        for (const json& fragment : *calls) {
          auto merged = merge_fragment(calls_, fragment, label_);
          if (!merged) return merged;
        }
      }
    }
    if (auto reason = choice.find("finish_reason"); reason != choice.end() && reason->is_string()) {
      finish_reason_ = reason->get<std::string>();
      saw_finish_ = true;
    }
  }
  return {};
}

Expected<ModelResponse> ChatStreamAccumulator::finish(bool allow_missing_done) {
  if (error_) return *error_;
  if (!done_ && !(allow_missing_done && saw_finish_)) {
    return make_error(ErrorCode::unavailable,
                      label_ + ": truncated stream: the response ended before data: [DONE]" +
                          (saw_finish_ ? std::string() : std::string(" and before a finish_reason")));
  }
  ModelResponse response;
  response.message = Message::assistant(content_, calls_);
  for (std::size_t i = 0; i < response.message.tool_calls.size(); ++i) {
    ToolCall& call = response.message.tool_calls[i];
    if (call.name.empty()) return bad(label_, "streamed tool call " + std::to_string(i) + " has no function name");
    if (call.id.empty()) call.id = "call_" + std::to_string(i);
  }
  response.refusal = refusal_;
  response.finish_reason = normalize_finish(finish_reason_, !calls_.empty(), !refusal_.empty());
  response.usage = usage_;
  return response;
}

// ---- Error bodies -------------------------------------------------------------------------------

ApiError parse_error_body(int status, std::string_view body) {
  ApiError out;
  out.status = status;
  try {
    const json j = too_deep(body) ? json(json::value_t::discarded) : json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      auto error = j.find("error");
      if (error != j.end() && error->is_object()) {
        out.type = text_of(*error, "type");
        out.code = text_of(*error, "code");
        out.message = text_of(*error, "message");
        out.param = text_of(*error, "param");
        if (!out.type.empty() || !out.code.empty() || !out.message.empty()) return out;
      } else if (error != j.end() && error->is_string()) {
        out.message = error->get<std::string>();
        return out;
      }
      for (const char* key : {"message", "detail"}) {
        if (std::string text = text_of(j, key); !text.empty()) {
          out.message = std::move(text);
          return out;
        }
      }
    }
  } catch (const json::exception&) {
    // Falls through to the raw body.
  }
  out = ApiError{};
  out.status = status;
  out.message = cut(body, 500);
  return out;
}

}  // namespace loomflow::providers::wire::openai
