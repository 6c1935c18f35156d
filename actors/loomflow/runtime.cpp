#include "loomflow/runtime.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "loomflow/actors/directory.hpp"
#include "loomflow/actors/event_channel.hpp"
#include "loomflow/actors/extension.hpp"
#include "loomflow/actors/hot_worker_policy.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/actors/type_registry.hpp"

namespace loomflow {

namespace detail {

struct RunState {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::optional<Expected<RunResult>> result;
  actors::run_actor actor;
  UserId user_id;
  SessionId session_id;

  std::vector<std::function<void(const Expected<RunResult>&)>> then;  // RunHandle::then, until the result

  void complete(actors::node_result&& r) {
    Expected<RunResult> out = Error{ErrorCode::internal, {}};
    if (r.failed()) {
      out = std::move(r.error);
    } else {
      RunResult rr;
      rr.output = std::move(r.output);
      rr.visited = std::move(r.visited);
      rr.usage = r.usage;
      rr.trace = std::move(r.trace);
      rr.messages = std::move(r.messages);
      rr.user_id = user_id;
      rr.session_id = session_id;
      for (const auto& step : rr.trace) rr.replayed_steps += step.replayed ? 1 : 0;
      out = std::move(rr);
    }
    std::vector<std::function<void(const Expected<RunResult>&)>> callbacks;
    std::optional<Expected<RunResult>> copy;  // take() may move the result out meanwhile
    {
      std::lock_guard<std::mutex> guard(mutex);
      result.emplace(std::move(out));
      actor = nullptr;
      callbacks.swap(then);
      if (!callbacks.empty()) copy.emplace(*result);
    }
    done_cv.notify_all();
    for (auto& callback : callbacks) callback(*copy);
  }
};

}  // namespace detail

Expected<RunResult> RunHandle::wait() const {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->done_cv.wait(lock, [this] { return state_->result.has_value(); });
  return *state_->result;
}

Expected<RunResult> RunHandle::take() const {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->done_cv.wait(lock, [this] { return state_->result.has_value(); });
  return std::move(*state_->result);
}

bool RunHandle::ready() const {
  std::lock_guard<std::mutex> guard(state_->mutex);
  return state_->result.has_value();
}

void RunHandle::then(std::function<void(const Expected<RunResult>&)> done) const {
  std::optional<Expected<RunResult>> copy;
  {
    std::lock_guard<std::mutex> guard(state_->mutex);
    if (!state_->result) {
      state_->then.push_back(std::move(done));
      return;
    }
    copy.emplace(*state_->result);
  }
  done(*copy);
}

const SessionId& RunHandle::session_id() const noexcept { return state_->session_id; }

void RunHandle::cancel() const {
  actors::run_actor target;
  {
    std::lock_guard<std::mutex> guard(state_->mutex);
    target = state_->actor;
  }
  if (target) caf::anon_send(target, actors::cancel_atom::value);
}

namespace {

caf::actor_system_config& configure(caf::actor_system_config& cfg, const RuntimeConfig& config) {
  std::size_t threads = config.worker_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", threads);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Idle workers poll briefly, then park on a condition variable that a new message signals. CAF's
  // default sleeps 50 µs between polls for 25 ms first, so a reply from another thread (the journal
  // after its fsync, an HTTP completion) waited up to one sleep plus timer slack: W4 went from ~280
  // to ~185 µs per durable step, W2 from ~200 to ~170 µs per run.
  cfg.set("work-stealing.moderate-sleep-duration", caf::timespan(0));
  cfg.load<caf::scheduler::coordinator<actors::HotWorkerPolicy>>();
  caf::put(cfg.content, actors::HotWorkerPolicy::reply_poll_key, caf::timespan(config.reply_poll));
  actors::register_message_types(cfg);
  if (config.extension) config.extension->configure(cfg);
  return cfg;
}

}  // namespace

struct Runtime::Impl {
  explicit Impl(const RuntimeConfig& config)
      : system(configure(cfg, config)), directory(system, config.tool_policy, config.extension),
        extension(config.extension) {
    if (extension)
      extension->started(
          system, [this](const Tool& tool) { return directory.tool_for(tool); },
          [this](detail::SpawnRun spawn, std::string target, std::string input, RunOptions options,
                 std::shared_ptr<actors::EventChannel> events) {
            return launch(std::move(spawn), std::move(target), std::string(), std::move(input), std::move(options),
                          std::move(events), false);
          });
    threads = config.worker_threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : config.worker_threads;
    if (config.journal) journal = actors::spawn_journal(system, config.journal);
  }

  // A fresh session id: "s-" and 13 random base-62 digits (77 bits), short enough to stay in
  // std::string's inline buffer as it is copied into every message of the run.
  static SessionId fresh_session() {
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string id = "s-";
    auto bits = rng();
    for (int k = 0; k < 13; ++k) {
      if (k == 10) bits = rng();  // 10 digits use ~60 bits; take fresh ones for the rest
      id += digits[bits % 62];
      bits /= 62;
    }
    return SessionId{std::move(id)};
  }

  // A streamed run's last events: `error` when it failed, then run_finished; then the end.
  static std::vector<RunEvent> end_events(const std::string& target, const actors::node_result& r,
                                          std::uint64_t started_us) {
    std::vector<RunEvent> events;
    if (r.failed()) {
      RunEvent error;
      error.kind = EventKind::error;
      error.name = target;
      error.text = r.error.message;
      error.data = nlohmann::json{{"code", std::string(to_string(r.error.code))}}.dump();
      events.push_back(std::move(error));
    }
    RunEvent finished;
    finished.kind = EventKind::run_finished;
    finished.name = target;
    finished.ok = !r.failed();
    finished.text = r.failed() ? std::string() : r.output;
    finished.usage = r.usage;
    finished.duration_us = actors::now_us() - started_us;
    events.push_back(std::move(finished));
    return events;
  }

  template <class Spawn>
  RunHandle launch(Spawn spawn, std::string target, std::string root_step, std::string input, RunOptions options,
                   std::shared_ptr<actors::EventChannel> events = nullptr, bool local = true) {
    auto state = std::make_shared<detail::RunState>();
    state->user_id = std::move(options.user_id);
    state->session_id = options.session_id.empty() ? fresh_session() : std::move(options.session_id);
    actors::run_context ctx{state->user_id, state->session_id, {}, {}, {}, events};
    if (events) {
      RunEvent started;
      started.kind = EventKind::run_started;
      started.name = target;
      events->push(std::move(started));
    }
    // The completion keeps the state alive until the run ends, whether or not a handle is kept.
    // A run another member executes is journaled there, not here.
    const actors::journal_actor run_journal = local ? journal : actors::journal_actor{};
    auto actor = spawn([this, state, journal = run_journal, events, target, started = actors::now_us()](
                           actors::node_result&& r) {
      forget(state.get());
      if (journal) caf::anon_send(journal, actors::journal_finish{outcome(state->session_id, r)});
      // The result is final before the stream says so: a consumer that read run_finished can wait() at once.
      auto end = events ? end_events(target, r, started) : std::vector<RunEvent>{};
      state->complete(std::move(r));
      if (!events) return;
      for (auto& event : end) events->push(std::move(event));
      events->close();
    });
    {
      std::lock_guard<std::mutex> guard(state->mutex);
      if (!state->result) state->actor = actor;
    }
    {
      std::lock_guard<std::mutex> guard(live_mutex);
      live.emplace(state.get(), actor);
    }
    actors::node_call call{std::move(ctx), std::move(root_step), std::move(input), {}, std::move(options.history)};
    if (run_journal) {
      // The journal opens the session (loading what a resumed run replays), then starts the run.
      SessionInfo info;
      info.session_id = state->session_id;
      info.user_id = state->user_id;
      info.target = std::move(target);
      info.input = call.input;
      info.origin = std::move(options.origin);
      caf::anon_send(journal, actors::journal_start{std::move(info), caf::actor_cast<caf::actor>(actor), std::move(call)});
    } else {
      caf::anon_send(actor, std::move(call));
    }
    if (options.timeout.count() > 0) caf::delayed_anon_send(actor, options.timeout, actors::deadline_atom::value);
    return RunHandle(std::move(state));
  }

  // How a run ended, for its session record (the journal actor merges it into the session it opened).
  static SessionInfo outcome(const SessionId& session, const actors::node_result& r) {
    SessionInfo info;
    info.session_id = session;
    info.status = r.failed() ? SessionStatus::failed : SessionStatus::finished;
    info.output = r.failed() ? std::string() : r.output;
    info.error = r.error;
    info.usage = r.usage;
    return info;
  }

  void forget(const detail::RunState* run) {
    std::lock_guard<std::mutex> guard(live_mutex);
    live.erase(run);
  }

  // Ends every run still in flight with `cancelled`, so no RunHandle waits forever and the actor
  // system can wind down.
  void cancel_live_runs() {
    std::vector<actors::run_actor> runs;
    {
      std::lock_guard<std::mutex> guard(live_mutex);
      for (auto& [run, actor] : live) runs.push_back(actor);
    }
    for (auto& actor : runs) caf::anon_send(actor, actors::cancel_atom::value);
  }

  caf::actor_system_config cfg;
  caf::actor_system system;
  actors::Directory directory;
  std::shared_ptr<detail::RuntimeExtension> extension;
  actors::journal_actor journal;  // empty without a journal
  std::size_t threads = 1;
  std::mutex live_mutex;
  std::unordered_map<const detail::RunState*, actors::run_actor> live;  // runs in flight
};

Runtime::Runtime(RuntimeConfig config) : impl_(std::make_unique<Impl>(config)) {}

Runtime::~Runtime() {
  // The cluster first: a member leaving must not report the runs it hosts as cancelled — their
  // requesters see it gone and run them elsewhere.
  if (impl_->extension) impl_->extension->stopping();
  impl_->cancel_live_runs();
  impl_->directory.shutdown();
  // Flushes what is queued (the outcomes of runs that just ended) and stops.
  if (impl_->journal) caf::anon_send(impl_->journal, actors::journal_stop_atom::value);
  // caf::actor_system's destructor waits for every actor to finish.
}

std::size_t Runtime::worker_threads() const noexcept { return impl_->threads; }

void Runtime::prepare(const Workflow& workflow) { impl_->directory.workflow(workflow.shared_impl()); }

void Runtime::prepare(const Agent& agent) { impl_->directory.agent(agent.shared_impl()); }

RunHandle Runtime::start(const Workflow& workflow, std::string input, RunOptions options) {
  auto compiled = impl_->directory.workflow(workflow.shared_impl());
  auto wf = workflow.shared_impl();
  return impl_->launch(
      [&](actors::RunCompletion done) { return actors::spawn_coordinator(impl_->system, wf, compiled, std::move(done)); },
      workflow.name(), std::string(), std::move(input), std::move(options));
}

EventStream Runtime::stream(const Workflow& workflow, std::string input, RunOptions options,
                            StreamOptions stream_options) {
  auto compiled = impl_->directory.workflow(workflow.shared_impl());
  auto wf = workflow.shared_impl();
  auto events = std::make_shared<actors::EventChannel>(stream_options.buffer_events);
  auto handle = impl_->launch(
      [&](actors::RunCompletion done) { return actors::spawn_coordinator(impl_->system, wf, compiled, std::move(done)); },
      workflow.name(), std::string(), std::move(input), std::move(options), events);
  return EventStream(events, std::make_shared<const RunHandle>(std::move(handle)), stream_options.on_abandon);
}

EventStream Runtime::stream(const Agent& agent, std::string input, RunOptions options, StreamOptions stream_options) {
  auto compiled = impl_->directory.agent(agent.shared_impl());
  auto impl = agent.shared_impl();
  auto events = std::make_shared<actors::EventChannel>(stream_options.buffer_events);
  auto handle = impl_->launch(
      [&](actors::RunCompletion done) { return actors::spawn_agent_run(impl_->system, impl, compiled, std::move(done)); },
      agent.name(), agent.name(), std::move(input), std::move(options), events);
  return EventStream(events, std::make_shared<const RunHandle>(std::move(handle)), stream_options.on_abandon);
}

RunHandle Runtime::start(const Agent& agent, std::string input, RunOptions options) {
  auto compiled = impl_->directory.agent(agent.shared_impl());
  auto impl = agent.shared_impl();
  return impl_->launch(
      [&](actors::RunCompletion done) { return actors::spawn_agent_run(impl_->system, impl, compiled, std::move(done)); },
      agent.name(), agent.name(), std::move(input), std::move(options));
}

}  // namespace loomflow
