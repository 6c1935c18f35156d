// loomflow_crash_child: runs one journaled multi-step workflow and, when told, kills itself with
// SIGKILL at the N-th occurrence of a chosen point — before or after a model call, a tool's side
// effect, a node, or a journal commit. journal_crash_test.cpp drives it: crash at every point,
// resume, compare with an uninterrupted run.
//
//   loomflow_crash_child --journal URI --session ID --markers FILE [--kill POINT --at N]
//
// The workflow: prepare → worker (an agent: turn 1 calls `mark` twice in parallel, turn 2 once,
// turn 3 answers) → [left, right] in parallel → finish. `mark` appends its idempotency key to the
// markers file — the visible side effect the test counts — and, being declared non-idempotent,
// checks that key when a dispatch is a redelivery, so its effect happens exactly once.
// Prints one JSON line: {"ok", "output", "visited", "replayed_steps", "events": {point: count}}.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "loomflow/journal.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"

using namespace loomflow;

namespace {

constexpr std::array<const char*, 7> kPoints = {"node",        "model_before",  "model_after", "tool_before",
                                                "tool_after",  "commit_before", "commit_after"};

// Counts every point; raises SIGKILL at the configured occurrence.
class KillSwitch {
 public:
  KillSwitch(std::string point, int at) : point_(std::move(point)), at_(at) {}
  void hit(const char* point) {
    for (std::size_t i = 0; i < kPoints.size(); ++i) {
      if (std::strcmp(kPoints[i], point) != 0) continue;
      const int n = counts_[i].fetch_add(1) + 1;
      if (point_ == point && n == at_) ::kill(::getpid(), SIGKILL);
      return;
    }
  }
  nlohmann::json counts() const {
    nlohmann::json out = nlohmann::json::object();
    for (std::size_t i = 0; i < kPoints.size(); ++i) out[kPoints[i]] = counts_[i].load();
    return out;
  }

 private:
  std::string point_;
  int at_;
  std::array<std::atomic<int>, kPoints.size()> counts_{};
};

// The journal, with kill points around each commit that carries steps.
class KillingStore final : public JournalStore {
 public:
  KillingStore(std::shared_ptr<JournalStore> inner, KillSwitch& kill) : inner_(std::move(inner)), kill_(kill) {}
  std::string uri() const override { return inner_->uri(); }
  Expected<SessionHistory> load(const SessionId& s) override { return inner_->load(s); }
  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    const bool steps = !batch.steps.empty();
    if (steps) kill_.hit("commit_before");
    auto out = inner_->commit(std::move(batch));
    if (steps) kill_.hit("commit_after");
    return out;
  }
  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& f) override { return inner_->sessions(f); }
  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override { return inner_->erase(ids); }
  Expected<JournalStats> stats() override { return inner_->stats(); }

 private:
  std::shared_ptr<JournalStore> inner_;
  KillSwitch& kill_;
};

// The model, with kill points before and after each call.
class KillingProvider final : public Provider {
 public:
  KillingProvider(std::shared_ptr<Provider> inner, KillSwitch& kill) : inner_(std::move(inner)), kill_(kill) {}
  std::string_view name() const noexcept override { return "scripted"; }
  Expected<ModelResponse> complete(const ModelRequest& request) override {
    kill_.hit("model_before");
    auto out = inner_->complete(request);
    kill_.hit("model_after");
    return out;
  }

 private:
  std::shared_ptr<Provider> inner_;
  KillSwitch& kill_;
};

bool has_marker(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (line == key) return true;
  return false;
}

ToolCall mark_call(std::string id, int n) { return ToolCall{std::move(id), "mark", R"({"n":)" + std::to_string(n) + "}"}; }

Workflow build(KillSwitch& kill, const std::string& markers) {
  auto node = [&kill](std::string name) {
    return Node::function(name, [&kill, name](std::string_view in) {
      kill.hit("node");
      return std::string(in) + " " + name;
    });
  };
  auto mark = Tool::function("mark", "Appends a marker", R"({"type":"object","properties":{"n":{"type":"integer"}}})",
                             [&kill, markers](const ToolContext& ctx, std::string_view args) -> Expected<std::string> {
                               kill.hit("tool_before");
                               const std::string key(ctx.idempotency_key);
                               // A redelivered dispatch may have had its effect already: the key says.
                               if (ctx.redelivery && has_marker(markers, key)) return "marked " + std::string(args);
                               const std::string line = key + "\n";
                               const int fd = ::open(markers.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
                               if (fd < 0) return Error{ErrorCode::tool_error, "cannot open the markers file"};
                               const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
                               ::close(fd);
                               if (!written) return Error{ErrorCode::tool_error, "cannot write the markers file"};
                               kill.hit("tool_after");
                               return "marked " + std::string(args);
                             },
                             ToolOptions{.blocking = true})
                  .value();
  auto script = std::make_shared<providers::ScriptedProvider>(std::vector<providers::ScriptedReply>{
      {.text = "", .tool_calls = {mark_call("c1", 1), mark_call("c2", 2)}, .step = "worker#1/turn-1/model"},
      {.text = "", .tool_calls = {mark_call("c3", 3)}, .step = "worker#1/turn-2/model"},
      {.text = "all marked", .step = "worker#1/turn-3/model"},
  });
  Model model{std::make_shared<KillingProvider>(script, kill), "scripted"};
  auto worker = Agent::create({.name = "worker", .instructions = "Mark three times.", .model = model, .tools = {mark}})
                    .value();
  return WorkflowBuilder("crashy")
      .add_node(node("prepare"))
      .add_node(Node::agent(worker))
      .add_node(node("left"))
      .add_node(node("right"))
      .add_node(node("finish"))
      .add_edge("prepare", "worker")
      .add_parallel("worker", {"left", "right"}, "finish")
      .build()
      .value();
}

}  // namespace

int main(int argc, char** argv) {
  std::string journal_uri, session, markers, point;
  int at = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--journal") journal_uri = value;
    else if (flag == "--session") session = value;
    else if (flag == "--markers") markers = value;
    else if (flag == "--kill") point = value;
    else if (flag == "--at") at = std::stoi(value);
  }
  if (journal_uri.empty() || session.empty() || markers.empty()) {
    std::cerr << "usage: loomflow_crash_child --journal URI --session ID --markers FILE [--kill POINT --at N]\n";
    return 2;
  }
  KillSwitch kill(point, at);
  auto opened = open_journal(journal_uri);
  if (!opened) {
    std::cerr << opened.error().describe() << "\n";
    return 2;
  }
  auto store = std::make_shared<KillingStore>(*opened, kill);
  nlohmann::json out;
  {
    Runtime runtime(RuntimeConfig{2, store});
    RunOptions options;
    options.user_id = UserId{"crash-user"};
    options.session_id = SessionId{session};
    auto result = runtime.run(build(kill, markers), "order 42", options);
    out["ok"] = static_cast<bool>(result);
    if (result) {
      out["output"] = result->output;
      out["visited"] = result->visited;
      out["replayed_steps"] = result->replayed_steps;
    } else {
      out["error"] = result.error().describe();
    }
  }
  out["events"] = kill.counts();
  std::cout << out.dump() << std::endl;
  return out["ok"].get<bool>() ? 0 : 1;
}
