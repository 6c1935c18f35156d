#include "loomflow/journal/record_codec.hpp"

#include <array>

#include "journal.pb.h"

namespace loomflow::journal {

namespace {

constexpr std::size_t kCrcBytes = 4;

// Castagnoli polynomial, reflected; table built once at compile time.
constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

std::string frame(const google::protobuf::MessageLite& message) {
  std::string out(kCrcBytes, '\0');
  message.AppendToString(&out);
  const std::uint32_t crc = crc32c(std::string_view(out).substr(kCrcBytes));
  for (std::size_t i = 0; i < kCrcBytes; ++i) out[i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  return out;
}

Expected<void> unframe(std::string_view bytes, google::protobuf::MessageLite& message) {
  if (bytes.size() < kCrcBytes)
    return Error{ErrorCode::journal_corrupt, "record truncated to " + std::to_string(bytes.size()) + " bytes"};
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < kCrcBytes; ++i) stored |= std::uint32_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  const auto body = bytes.substr(kCrcBytes);
  if (crc32c(body) != stored) return Error{ErrorCode::journal_corrupt, "record checksum mismatch (torn or corrupt write)"};
  if (!message.ParseFromArray(body.data(), static_cast<int>(body.size())))
    return Error{ErrorCode::journal_corrupt, "record does not decode as " + message.GetTypeName()};
  return {};
}

Expected<void> check_version(std::uint32_t version) {
  if (version == 0 || version > kSchemaVersion)
    return Error{ErrorCode::journal_corrupt, "record schema version " + std::to_string(version) +
                                                 " is not supported (this build reads versions 1.." +
                                                 std::to_string(kSchemaVersion) + ")"};
  return {};
}

void to_proto(const Usage& u, v1::Usage& out) {
  out.set_input_tokens(u.input_tokens);
  out.set_output_tokens(u.output_tokens);
  out.set_cached_input_tokens(u.cached_input_tokens);
  out.set_model_calls(u.model_calls);
  out.set_tool_calls(u.tool_calls);
  out.set_tool_errors(u.tool_errors);
  out.set_cost_usd(u.cost_usd);
}

Usage from_proto(const v1::Usage& u) {
  Usage out;
  out.input_tokens = u.input_tokens();
  out.output_tokens = u.output_tokens();
  out.cached_input_tokens = u.cached_input_tokens();
  out.model_calls = u.model_calls();
  out.tool_calls = u.tool_calls();
  out.tool_errors = u.tool_errors();
  out.cost_usd = u.cost_usd();
  return out;
}

}  // namespace

std::uint32_t crc32c(std::string_view data) noexcept {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) crc = kCrcTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string encode_step(const StepRecord& step) {
  v1::Step p;
  p.set_schema_version(kSchemaVersion);
  p.set_step_name(step.step_name);
  p.set_kind(static_cast<std::uint32_t>(step.kind));
  p.set_name(step.name);
  p.set_input_digest(step.input_digest);
  p.set_predecessor(step.predecessor);
  p.set_output(step.output);
  p.set_is_error(step.is_error);
  if (step.kind == JournalStepKind::model) {
    auto* r = p.mutable_response();
    r->set_content(step.response.message.content);
    for (const auto& call : step.response.message.tool_calls) {
      auto* c = r->add_tool_calls();
      c->set_id(call.id);
      c->set_name(call.name);
      c->set_arguments(call.arguments);
    }
    r->set_finish_reason(step.response.finish_reason);
    r->set_refusal(step.response.refusal);
  }
  to_proto(step.usage, *p.mutable_usage());
  p.set_started_unix_us(step.started_unix_us);
  p.set_duration_us(step.duration_us);
  return frame(p);
}

Expected<StepRecord> decode_step(std::string_view bytes) {
  v1::Step p;
  if (auto ok = unframe(bytes, p); !ok) return ok.error();
  if (auto ok = check_version(p.schema_version()); !ok) return ok.error();
  if (p.kind() < 1 || p.kind() > 4)
    return Error{ErrorCode::journal_corrupt, "record has an unknown step kind " + std::to_string(p.kind())};
  StepRecord step;
  step.step_name = p.step_name();
  step.kind = static_cast<JournalStepKind>(p.kind());
  step.name = p.name();
  step.input_digest = p.input_digest();
  step.predecessor = p.predecessor();
  step.output = p.output();
  step.is_error = p.is_error();
  if (p.has_response()) {
    const auto& r = p.response();
    step.response.message.role = Role::assistant;
    step.response.message.content = r.content();
    for (const auto& c : r.tool_calls()) step.response.message.tool_calls.push_back(ToolCall{c.id(), c.name(), c.arguments()});
    step.response.finish_reason = r.finish_reason();
    step.response.refusal = r.refusal();
  }
  step.usage = from_proto(p.usage());
  step.started_unix_us = p.started_unix_us();
  step.duration_us = p.duration_us();
  return step;
}

std::string encode_session(const SessionInfo& s) {
  v1::Session p;
  p.set_schema_version(kSchemaVersion);
  p.set_session_id(s.session_id.str());
  p.set_user_id(s.user_id.str());
  p.set_target(s.target);
  p.set_input(s.input);
  p.set_origin(s.origin);
  p.set_status(static_cast<std::uint32_t>(s.status));
  p.set_output(s.output);
  p.set_error_code(static_cast<std::uint32_t>(s.error.code));
  p.set_error_message(s.error.message);
  to_proto(s.usage, *p.mutable_usage());
  p.set_created_unix_ms(s.created_unix_ms);
  p.set_updated_unix_ms(s.updated_unix_ms);
  return frame(p);
}

Expected<SessionInfo> decode_session(std::string_view bytes) {
  v1::Session p;
  if (auto ok = unframe(bytes, p); !ok) return ok.error();
  if (auto ok = check_version(p.schema_version()); !ok) return ok.error();
  if (p.status() < 1 || p.status() > 3)
    return Error{ErrorCode::journal_corrupt, "session record has an unknown status " + std::to_string(p.status())};
  SessionInfo s;
  s.session_id = SessionId{p.session_id()};
  s.user_id = UserId{p.user_id()};
  s.target = p.target();
  s.input = p.input();
  s.origin = p.origin();
  s.status = static_cast<SessionStatus>(p.status());
  s.output = p.output();
  s.error = Error{static_cast<ErrorCode>(p.error_code()), p.error_message()};
  s.usage = from_proto(p.usage());
  s.created_unix_ms = p.created_unix_ms();
  s.updated_unix_ms = p.updated_unix_ms();
  return s;
}

}  // namespace loomflow::journal
