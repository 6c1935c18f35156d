// `loomflow runs list|show|resume` and `loomflow journal export|prune`: operating a journal.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace loomflow::cli {

namespace {

using ordered_json = nlohmann::ordered_json;

std::string iso_time(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

ordered_json session_json(const SessionInfo& s) {
  ordered_json out = {{"session_id", s.session_id.str()},
                      {"user_id", s.user_id.str()},
                      {"target", s.target},
                      {"status", std::string(to_string(s.status))},
                      {"input", s.input},
                      {"created", iso_time(s.created_unix_ms)},
                      {"updated", iso_time(s.updated_unix_ms)},
                      {"usage", usage_json(s.usage)}};
  if (s.status == SessionStatus::finished) out["output"] = s.output;
  if (s.status == SessionStatus::failed)
    out["error"] = {{"code", std::string(to_string(s.error.code))}, {"message", s.error.message}};
  return out;
}

// A step as `runs show` summarizes it; `journal export` adds the full payload.
ordered_json step_json(const StepRecord& s, bool full) {
  ordered_json out = {{"seq", s.seq},
                      {"step", s.step_name},
                      {"kind", std::string(to_string(s.kind))},
                      {"name", s.name},
                      {"started", iso_time(s.started_unix_us / 1000)},
                      {"duration_us", s.duration_us},
                      {"input_tokens", s.usage.input_tokens},
                      {"output_tokens", s.usage.output_tokens}};
  if (s.kind == JournalStepKind::tool) out["is_error"] = s.is_error;
  if (!full) return out;
  out["started_unix_us"] = s.started_unix_us;
  out["input_digest"] = s.input_digest;
  if (!s.predecessor.empty()) out["predecessor"] = s.predecessor;
  out["usage"] = usage_json(s.usage);
  if (s.kind == JournalStepKind::model) {
    ordered_json calls = ordered_json::array();
    for (const auto& c : s.response.message.tool_calls)
      calls.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    out["response"] = {{"content", s.response.message.content},
                       {"tool_calls", std::move(calls)},
                       {"finish_reason", s.response.finish_reason},
                       {"refusal", s.response.refusal}};
  } else {
    out["output"] = s.output;
  }
  return out;
}

// Opens the journal or reports why not; exit status 2 on failure.
std::shared_ptr<JournalStore> journal_or_report(const char* command, const RunsArgs& args) {
  auto store = open_cli_journal(args.journal);
  if (!store) {
    std::cerr << "loomflow " << command << ": " << store.error().describe() << "\n";
    return nullptr;
  }
  return *store;
}

// Loads a session that must exist; prints the error otherwise.
std::optional<SessionHistory> existing_session(const char* command, JournalStore& store, const std::string& id) {
  auto history = store.load(SessionId{id});
  if (!history) {
    std::cerr << "loomflow " << command << ": " << history.error().describe() << "\n";
    return std::nullopt;
  }
  if (!history->info && history->steps.empty()) {
    std::cerr << "loomflow " << command << ": no session '" << id << "' in journal " << store.uri() << "\n";
    return std::nullopt;
  }
  return std::move(*history);
}

}  // namespace

Expected<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const auto unit = text.substr(digits);
  if (digits == 0 || digits > 12)
    return Error{ErrorCode::invalid_argument, "duration '" + std::string(text) + "': expected a number and a unit, e.g. 7d, 12h, 30m, 90s"};
  const std::int64_t n = std::stoll(std::string(text.substr(0, digits)));
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  if (unit == "w") return n * 7 * 86'400'000;
  return Error{ErrorCode::invalid_argument,
               "duration '" + std::string(text) + "': unknown unit '" + std::string(unit) + "' (use ms, s, m, h, d or w)"};
}

int runs_list_command(const RunsArgs& args) {
  auto store = journal_or_report("runs list", args);
  if (!store) return 2;
  SessionFilter filter;
  if (!args.user.empty()) filter.user_id = UserId{args.user};
  auto sessions = store->sessions(filter);
  if (!sessions) {
    std::cerr << "loomflow runs list: " << sessions.error().describe() << "\n";
    return 1;
  }
  if (args.json) {
    for (const auto& s : *sessions) std::cout << session_json(s).dump() << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(22) << "SESSION" << std::setw(14) << "USER" << std::setw(20) << "TARGET"
            << std::setw(10) << "STATUS" << "UPDATED\n";
  for (const auto& s : *sessions)
    std::cout << std::setw(22) << s.session_id.str() << std::setw(14) << s.user_id.str() << std::setw(20) << s.target
              << std::setw(10) << to_string(s.status) << iso_time(s.updated_unix_ms) << "\n";
  return 0;
}

int runs_show_command(const RunsArgs& args) {
  auto store = journal_or_report("runs show", args);
  if (!store) return 2;
  auto history = existing_session("runs show", *store, args.session);
  if (!history) return 1;
  ordered_json steps = ordered_json::array();
  for (const auto& s : history->steps) steps.push_back(step_json(s, false));
  if (args.json) {
    ordered_json out = history->info ? session_json(*history->info) : ordered_json{{"session_id", args.session}};
    out["steps"] = std::move(steps);
    if (history->dropped_tail) out["dropped_torn_step"] = *history->dropped_tail;
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (const auto& info = history->info) {
    std::cout << "session " << info->session_id.str() << " · user " << info->user_id.str() << " · " << info->target
              << " · " << to_string(info->status) << "\n";
    std::cout << "created " << iso_time(info->created_unix_ms) << " · updated " << iso_time(info->updated_unix_ms)
              << "\n";
    std::cout << "input:  " << info->input << "\n";
    if (info->status == SessionStatus::finished) std::cout << "output: " << info->output << "\n";
    if (info->status == SessionStatus::failed) std::cout << "error:  " << info->error.describe() << "\n";
  }
  std::cout << history->steps.size() << " journaled steps:\n";
  Usage total;
  for (const auto& s : history->steps) {
    std::cout << "  " << std::left << std::setw(4) << s.seq << std::setw(40) << s.step_name << std::setw(7)
              << to_string(s.kind) << std::setw(16) << s.name << std::right << std::setw(9) << s.duration_us << " µs";
    if (s.kind == JournalStepKind::model)
      std::cout << "  " << s.usage.input_tokens << " in / " << s.usage.output_tokens << " out tokens";
    if (s.kind == JournalStepKind::tool && s.is_error) std::cout << "  (tool error)";
    std::cout << "\n";
    if (s.kind == JournalStepKind::model) total += s.usage;
  }
  std::cout << "model tokens: " << total.input_tokens << " in / " << total.output_tokens << " out\n";
  if (history->dropped_tail) std::cout << "dropped a torn last record: " << *history->dropped_tail << "\n";
  return 0;
}

int runs_resume_command(const RunsArgs& args) {
  auto store = journal_or_report("runs resume", args);
  if (!store) return 2;
  auto history = existing_session("runs resume", *store, args.session);
  if (!history) return 1;
  if (!history->info) {
    std::cerr << "loomflow runs resume: session '" << args.session << "' has no session record to resume from\n";
    return 1;
  }
  const auto& info = *history->info;
  nlohmann::json origin;
  try {
    origin = nlohmann::json::parse(info.origin);
  } catch (const nlohmann::json::parse_error&) {
  }
  if (!origin.is_object() || !origin.contains("spec") || !origin["spec"].is_string()) {
    std::cerr << "loomflow runs resume: session '" << args.session
              << "' was not started by `loomflow run` (no spec kept); resume it from the program that started it\n";
    return 2;
  }
  const std::string spec_path = origin.value("spec_path", std::string("<journal>"));
  auto spec = load_spec_text(origin["spec"].get<std::string>(), spec_path, cli_environment());
  if (!spec) {
    std::cerr << "loomflow runs resume: " << spec.error().message << "\n";
    return 2;
  }
  RunArgs run;
  run.user = info.user_id.str();
  run.session = info.session_id.str();
  run.json = args.json;
  run.threads = args.threads;
  // Runs served by `loomflow serve` keep which agent ran and the chat history they started with.
  if (origin.contains("agent") && origin["agent"].is_string()) run.agent = origin["agent"].get<std::string>();
  if (origin.contains("history") && origin["history"].is_array())
    for (const auto& turn : origin["history"]) {
      const auto role = turn.value("role", std::string());
      auto content = turn.value("content", std::string());
      if (role == "system") run.history.push_back(Message::system(std::move(content)));
      else if (role == "assistant") run.history.push_back(Message::assistant(std::move(content)));
      else run.history.push_back(Message::user(std::move(content)));
    }
  return execute_run("runs resume", *spec, info.input, run, store, std::string());
}

int journal_export_command(const RunsArgs& args) {
  auto store = journal_or_report("journal export", args);
  if (!store) return 2;
  auto history = existing_session("journal export", *store, args.session);
  if (!history) return 1;
  ordered_json out = {{"journal", store->uri()}, {"schema_version", 1}};
  out["session"] = history->info ? session_json(*history->info) : ordered_json(nullptr);
  if (history->info) {
    // The origin is JSON when `loomflow run` wrote it: keep it structured.
    auto origin = nlohmann::json::parse(history->info->origin, nullptr, false);
    out["session"]["origin"] = origin.is_discarded() ? ordered_json(history->info->origin) : ordered_json(origin);
  }
  ordered_json steps = ordered_json::array();
  for (const auto& s : history->steps) steps.push_back(step_json(s, true));
  out["steps"] = std::move(steps);
  std::cout << out.dump(args.json ? -1 : 2) << "\n";
  return 0;
}

int journal_prune_command(const RunsArgs& args) {
  auto store = journal_or_report("journal prune", args);
  if (!store) return 2;
  if (args.session.empty() == args.older_than.empty()) {
    std::cerr << "loomflow journal prune: give exactly one of --older-than DURATION or --session ID\n";
    return 2;
  }
  std::vector<SessionId> doomed;
  if (!args.session.empty()) {
    doomed.push_back(SessionId{args.session});
  } else {
    auto age = parse_duration_ms(args.older_than);
    if (!age) {
      std::cerr << "loomflow journal prune: " << age.error().message << "\n";
      return 2;
    }
    using namespace std::chrono;
    const auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    SessionFilter filter;
    filter.updated_before_unix_ms = now - *age;
    auto old = store->sessions(filter);
    if (!old) {
      std::cerr << "loomflow journal prune: " << old.error().describe() << "\n";
      return 1;
    }
    // Running sessions too: one not updated for that long is a crashed run nobody resumed.
    for (const auto& s : *old) doomed.push_back(s.session_id);
  }
  auto erased = store->erase(doomed);
  if (!erased) {
    std::cerr << "loomflow journal prune: " << erased.error().describe() << "\n";
    return 1;
  }
  if (args.json)
    std::cout << ordered_json{{"pruned_sessions", *erased}}.dump() << "\n";
  else
    std::cout << "pruned " << *erased << " session" << (*erased == 1 ? "" : "s") << " from " << store->uri() << "\n";
  return 0;
}

}  // namespace loomflow::cli
