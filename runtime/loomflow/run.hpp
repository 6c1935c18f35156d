// loomflow/run.hpp — what a run is given (`RunOptions`) and what it returns (`RunResult`).
// Thread-safety: plain value types.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "loomflow/ids.hpp"
#include "loomflow/message.hpp"
#include "loomflow/trace.hpp"

namespace loomflow {

struct RunOptions {
  UserId user_id{"anonymous"};            // who the run is for; default "anonymous"
  SessionId session_id;                   // empty: the runtime makes a fresh unique one
  std::chrono::milliseconds timeout{0};   // whole-run deadline; 0 = none (default)
  // With a journal (RuntimeConfig::journal): kept with the session, for whoever resumes it later
  // (the CLI stores the spec here). Free-form; empty keeps what the session already has.
  std::string origin;
  // Agent runs: earlier turns of the conversation (user and assistant messages, or system messages
  // added after the agent's instructions), placed before `input` — how a chat client's history
  // reaches an agent. Workflow runs ignore it. Default: none.
  std::vector<Message> history;
};

struct RunResult {
  std::string output;                  // the final node's output, or the agent's final answer
  std::vector<std::string> visited;    // top-level nodes in the order they ran (workflows)
  Usage usage;                         // summed over the whole run, nested agents included
  std::vector<TraceStep> trace;        // every node visit, model call and tool dispatch
  std::vector<Message> messages;       // agent runs: the full conversation
  UserId user_id;
  SessionId session_id;
  std::size_t replayed_steps = 0;      // steps whose result came from the journal (a resumed run)
};

}  // namespace loomflow
