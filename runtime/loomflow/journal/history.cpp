#include "loomflow/journal/history.hpp"

#include <chrono>

#include "loomflow/journal/record_codec.hpp"

namespace loomflow::journal {

Expected<DecodedHistory> decode_history(const SessionId& session, const std::optional<std::string>& info_bytes,
                                        std::vector<RawStep> raw) {
  DecodedHistory out;
  if (info_bytes) {
    auto info = decode_session(*info_bytes);
    if (!info)
      return Error{ErrorCode::journal_corrupt, "session '" + session.str() + "': its session record: " + info.error().message};
    out.history.info = std::move(*info);
  }
  out.history.steps.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto step = decode_step(raw[i].bytes);
    if (!step) {
      if (i + 1 == raw.size()) {
        // A crash mid-write leaves at most the last record torn: resume from the one before it.
        out.history.dropped_tail = raw[i].step_name;
        out.torn_tail = std::move(raw[i]);
        break;
      }
      return Error{ErrorCode::journal_corrupt, "session '" + session.str() + "', step '" + raw[i].step_name +
                                                   "' (record " + std::to_string(i + 1) + " of " +
                                                   std::to_string(raw.size()) + "): " + step.error().message};
    }
    if (step->step_name != raw[i].step_name)
      return Error{ErrorCode::journal_corrupt, "session '" + session.str() + "', step '" + raw[i].step_name +
                                                   "': the record is stored under another step ('" +
                                                   step->step_name + "')"};
    step->seq = raw[i].seq;
    out.history.steps.push_back(std::move(*step));
  }
  return out;
}

Expected<void> check_key_part(std::string_view what, std::string_view value) {
  if (value.empty()) return Error{ErrorCode::invalid_argument, std::string(what) + " is empty"};
  if (value.size() > 512)
    return Error{ErrorCode::invalid_argument, std::string(what) + " is longer than 512 bytes"};
  if (value.find('\0') != std::string_view::npos)
    return Error{ErrorCode::invalid_argument, std::string(what) + " contains a NUL byte"};
  return {};
}

std::int64_t unix_ms_now() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace loomflow::journal
