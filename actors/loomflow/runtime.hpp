// loomflow/runtime.hpp — `Runtime`: where Agents and Workflows run, as CAF actors.
//
//   loomflow::Runtime runtime;                                   // owns the actor system
//   auto result = runtime.run(workflow, "My card was charged twice.",
//                             {.user_id = loomflow::UserId{"alice"}});
//   if (result) std::cout << result->output;
//
// A Runtime owns one actor system (its worker threads) and compiles each definition into shared
// actors on first use. Any number of runs may be in flight at once, started from any thread.
// `run` blocks the calling thread until the result is ready: never call it from inside a node or
// tool function (those run on the runtime's own threads) — compose with Node::workflow or
// Workflow::as_tool instead. Destroying the Runtime stops its actors; runs still in flight fail.
// Thread-safety: all member functions are thread-safe; RunHandle may be shared between threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "loomflow/agent.hpp"
#include "loomflow/error.hpp"
#include "loomflow/event_stream.hpp"
#include "loomflow/journal.hpp"
#include "loomflow/tool_policy.hpp"
#include "loomflow/run.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow {

// With a journal every run is durable: each node step, model call and tool dispatch is committed
// under (session_id, step_name) before its result is used, and starting a run on a session that
// has history resumes it — journaled steps return their recorded results without running again.
// See loomflow/journal.hpp for open_journal("rocksdb:PATH" | "sqlite:PATH" | "postgres://..." | "memory:").
namespace detail {
struct RuntimeExtension;
}

struct RuntimeConfig {
  std::size_t worker_threads = 0;        // scheduler threads; 0 = one per core (default)
  std::shared_ptr<JournalStore> journal;  // empty: runs are not journaled (default)
  // Which tools each user may call (see tool_policy.hpp); empty: every tool, for everyone (default).
  std::shared_ptr<const ToolPolicy> tool_policy;
  // Set by loomflow_cluster (cluster::Node) to make this Runtime a cluster node; leave it empty.
  std::shared_ptr<detail::RuntimeExtension> extension;
  // While a reply from another thread is due within microseconds — today the journal's commits
  // and loads — one idle scheduler thread polls for it (yielding) for up to this long instead of
  // parking, so the reply costs no kernel wake-up (25–60 µs on virtual machines; W4's durable
  // step). With nothing due, idle threads park as they always did. 0: never poll. Default 250 µs.
  std::chrono::microseconds reply_poll{250};
};

namespace detail {
struct RunState;
}

// A run in flight.
class RunHandle {
 public:
  // Blocks until the run finished; returns (a copy of) its result or the error that ended it.
  Expected<RunResult> wait() const;
  // Blocks like wait(), then moves the result out: later wait()/take() calls on this handle or its
  // copies see a moved-from result. For a single consumer that wants no copy.
  Expected<RunResult> take() const;
  // True once wait() would not block.
  bool ready() const;
  // Asks the run to stop; wait() then returns a `cancelled` error (unless it already finished).
  void cancel() const;
  // Calls `done` with the result once the run finished: at once on this thread when it already
  // has, else on the runtime thread that finishes it — so `done` must not block. For event loops
  // and actors that must not wait().
  void then(std::function<void(const Expected<RunResult>&)> done) const;
  // The run's session (the given one, or the fresh one the runtime made).
  const SessionId& session_id() const noexcept;

  explicit RunHandle(std::shared_ptr<detail::RunState> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<detail::RunState> state_;
};

class Runtime {
 public:
  explicit Runtime(RuntimeConfig config = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Compiles a definition now — spawns its shared node, model and tool actors — instead of on its
  // first run. Optional: start() compiles on first use. Idempotent.
  void prepare(const Workflow& workflow);
  void prepare(const Agent& agent);

  RunHandle start(const Workflow& workflow, std::string input, RunOptions options = {});
  RunHandle start(const Agent& agent, std::string input, RunOptions options = {});

  Expected<RunResult> run(const Workflow& workflow, std::string input, RunOptions options = {}) {
    return start(workflow, std::move(input), std::move(options)).take();
  }
  Expected<RunResult> run(const Agent& agent, std::string input, RunOptions options = {}) {
    return start(agent, std::move(input), std::move(options)).take();
  }

  // Starts a run like start(), reporting its events as they happen (see event_stream.hpp): nodes
  // entered and left, model text as it is generated, tool calls, structured output, errors — those of
  // nested agents and sub-workflows included, tagged with their step.
  EventStream stream(const Workflow& workflow, std::string input, RunOptions options = {},
                     StreamOptions stream_options = {});
  EventStream stream(const Agent& agent, std::string input, RunOptions options = {},
                     StreamOptions stream_options = {});

  std::size_t worker_threads() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loomflow
