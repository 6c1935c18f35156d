#include "loomflow/tools/sandbox/bash.hpp"

#include <fcntl.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "loomflow/tools/sandbox/command_policy.hpp"
#include "loomflow/tools/sandbox/confined_path.hpp"
#include "loomflow/tools/sandbox/process_tree.hpp"
#include "loomflow/tools/sandbox/text.hpp"
#include "loomflow/tools/typed.hpp"

namespace loomflow::tools {

namespace sandbox {
namespace {

struct BashArgs {
  std::string command;
  std::optional<std::int64_t> timeout_ms;
  std::optional<std::string> cwd;
};
LOOMFLOW_TOOL_ARGS(BashArgs, command, timeout_ms, cwd);

void describe(Describe<BashArgs>& d) {
  d.field(&BashArgs::command, "The bash command line to run (stdin is empty).")
      .field(&BashArgs::timeout_ms, "Time limit in milliseconds; the whole process tree is killed when it passes.")
      .field(&BashArgs::cwd, "Working directory, relative to the working root (default: the root).");
}

struct BashState {
  BashOptions options;
  UniqueFd root_fd;
  std::string root_path;
  CommandChecker checker;
  std::map<std::string, std::string> environment;  // without HOME, which is per call
};

bool is_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

std::string with_marker(std::string text, bool truncated, std::size_t cap) {
  if (truncated) text += "\n[output truncated at " + std::to_string(cap) + " bytes]";
  return text;
}

Expected<std::string> run(const BashState& state, const ToolContext& ctx, const BashArgs& args) {
  if (args.command.find_first_not_of(" \t\r\n") == std::string::npos)
    return Error{ErrorCode::tool_error, "bash: command must not be empty"};
  if (args.command.find('\0') != std::string::npos)
    return Error{ErrorCode::tool_error, "bash: command must not contain a NUL byte"};
  if (auto ok = state.checker.check(args.command); !ok) return ok.error();
  std::chrono::milliseconds timeout = state.options.default_timeout;
  if (args.timeout_ms) {
    if (*args.timeout_ms < 1) return Error{ErrorCode::tool_error, "bash: timeout_ms must be at least 1"};
    timeout = std::min(std::chrono::milliseconds(*args.timeout_ms), state.options.max_timeout);
  }
  UniqueFd user_dir;
  int base_fd = state.root_fd.get();
  std::string base_path = state.root_path;
  if (state.options.per_user) {
    auto dir = open_user_dir(state.root_fd.get(), "bash", ctx.user_id.str());
    if (!dir) return std::move(dir).error();
    user_dir = std::move(*dir);
    base_fd = user_dir.get();
    base_path += "/" + ctx.user_id.str();
  }
  const std::string shown_cwd = args.cwd.value_or(".");
  auto relative = normalize_relative("bash", base_path, args.cwd.value_or(""));
  if (!relative) return std::move(relative).error();
  auto cwd = open_beneath(base_fd, *relative, O_PATH | O_DIRECTORY, "bash", shown_cwd);
  if (!cwd) return std::move(cwd).error();

  std::map<std::string, std::string> environment = state.environment;
  if (!state.options.extra_env.count("HOME")) environment["HOME"] = base_path;
  // So a command can deduplicate its effect across a redelivery (see ToolContext).
  environment["LOOMFLOW_IDEMPOTENCY_KEY"] = std::string(ctx.idempotency_key);
  environment["LOOMFLOW_REDELIVERY"] = ctx.redelivery ? "1" : "0";
  ProcessSpec spec;
  spec.argv = {state.options.shell, "-c", args.command};
  for (const auto& [name, value] : environment) spec.env.push_back(name + "=" + value);
  spec.cwd_fd = cwd->get();
  spec.timeout = timeout;
  spec.output_cap = state.options.max_output_bytes;
  auto outcome = run_process_tree(spec);
  if (!outcome) return std::move(outcome).error();
  const std::size_t cap = state.options.max_output_bytes;
  if (outcome->timed_out) {
    std::string message = "bash: command timed out after " + std::to_string(timeout.count()) +
                          " ms; its process tree was killed";
    if (!outcome->out.empty())
      message += "\nstdout so far:\n" + with_marker(std::move(outcome->out), outcome->out_truncated, cap);
    if (!outcome->err.empty())
      message += "\nstderr so far:\n" + with_marker(std::move(outcome->err), outcome->err_truncated, cap);
    return Error{ErrorCode::tool_error, valid_utf8(message)};  // it travels as JSON later
  }
  nlohmann::json result = {
      {"exit_code", outcome->exit_code},
      {"stdout", with_marker(std::move(outcome->out), outcome->out_truncated, cap)},
      {"stderr", with_marker(std::move(outcome->err), outcome->err_truncated, cap)},
      {"truncated", outcome->out_truncated || outcome->err_truncated},
  };
  return result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Expected<std::shared_ptr<const BashState>> make_state(BashOptions options) {
  auto fail = [](std::string message) { return Error{ErrorCode::invalid_argument, "bash tool: " + message}; };
  if (options.root.empty()) return fail("options.root is required");
  std::error_code ec;
  auto canonical = std::filesystem::canonical(options.root, ec);
  if (ec) return fail("root '" + options.root.string() + "' cannot be used: " + ec.message());
  if (!std::filesystem::is_directory(canonical, ec)) return fail("root '" + options.root.string() + "' is not a directory");
  if (options.default_timeout.count() <= 0 || options.max_timeout.count() <= 0)
    return fail("default_timeout and max_timeout must be positive");
  if (options.default_timeout > options.max_timeout) return fail("default_timeout exceeds max_timeout");
  if (options.max_output_bytes == 0) return fail("max_output_bytes must be at least 1");
  if (options.shell.empty() || options.shell.front() != '/') return fail("shell must be an absolute path");
  auto checker = CommandChecker::compile(CommandPolicy{options.allowed_commands, options.denied_commands,
                                                       options.denied_patterns});
  if (!checker) return std::move(checker).error();
  std::map<std::string, std::string> environment = {{"PATH", options.path}, {"LANG", "C.UTF-8"}};
  for (const auto& name : options.pass_env) {
    if (!is_variable_name(name)) return fail("pass_env names an invalid variable '" + name + "'");
    if (const char* value = std::getenv(name.c_str())) environment[name] = value;
  }
  for (const auto& [name, value] : options.extra_env) {
    if (!is_variable_name(name)) return fail("extra_env names an invalid variable '" + name + "'");
    if (value.find('\0') != std::string::npos) return fail("extra_env value of '" + name + "' contains a NUL byte");
    environment[name] = value;
  }
  UniqueFd fd(open(canonical.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail("root '" + options.root.string() + "' cannot be opened: " + std::strerror(errno));
  auto state = std::make_shared<BashState>(BashState{std::move(options), std::move(fd), canonical.string(),
                                                     std::move(*checker), std::move(environment)});
  return std::shared_ptr<const BashState>(std::move(state));
}

}  // namespace
}  // namespace sandbox

Expected<Tool> bash_tool(BashOptions options) {
  auto state = sandbox::make_state(std::move(options));
  if (!state) return std::move(state).error();
  return typed_tool<sandbox::BashArgs>(
      "bash",
      "Runs a bash command line in the working directory and returns "
      "{\"exit_code\",\"stdout\",\"stderr\",\"truncated\"}. stdin is empty; the command is killed (with everything "
      "it started) when timeout_ms passes; background jobs are killed when it exits.",
      [state = std::move(*state)](const ToolContext& ctx, const sandbox::BashArgs& args) {
        return sandbox::run(*state, ctx, args);
      },
      ToolOptions{.blocking = true});
}

}  // namespace loomflow::tools
