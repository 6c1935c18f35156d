// W6's memory figure: what one idle, suspended run costs. Runs of a 10-node chain whose first node
// is an agent wait on an asynchronous model that holds every call; once all of them wait, the heap
// growth divided by the number of runs is the cost of a suspended run (its coordinator and agent
// actors, their state and the pending messages). Then every call is answered and every run checked.
#include <condition_variable>
#include <mutex>

#include "bench.hpp"

namespace loomflow::cli::bench {

namespace {

// Holds every call until released; no thread waits meanwhile.
class HeldModel final : public Provider {
 public:
  std::string_view name() const noexcept override { return "held"; }
  bool asynchronous() const noexcept override { return true; }
  void start(ModelRequest request, Completion done) override {
    std::lock_guard<std::mutex> guard(mutex_);
    held_.push_back({std::move(request.messages.back().content), std::move(done)});
    if (held_.size() >= expected_) all_held_.notify_all();
  }
  bool wait_for(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    expected_ = count;
    return all_held_.wait_for(lock, std::chrono::seconds(60), [&] { return held_.size() >= count; });
  }
  void release_all() {
    std::vector<std::pair<std::string, Completion>> held;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      held.swap(held_);
    }
    for (auto& [question, done] : held) done(ModelResponse{Message::assistant(question), {}});
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_held_;
  std::size_t expected_ = ~std::size_t{0};
  std::vector<std::pair<std::string, Completion>> held_;
};

}  // namespace

Json measure_idle_runs(const BenchArgs& args, std::size_t runs) {
  constexpr std::size_t kNodes = 10;
  Runtime runtime(RuntimeConfig{args.threads});
  auto model = std::make_shared<HeldModel>();
  auto agent = Agent::create({.name = "waiter", .model = Model{model, "held"}, .max_turns = 1});
  if (!agent) return Json{{"error", agent.error().describe()}};
  std::vector<Node> nodes{Node::agent("ask", *agent)};
  for (std::size_t i = 1; i < kNodes; ++i)
    nodes.push_back(Node::function("n" + std::to_string(i), [](std::string_view in) { return std::string(in) + "."; }));
  auto wf = Workflow::chain("idle_chain", nodes);
  if (!wf) return Json{{"error", wf.error().describe()}};
  runtime.prepare(*wf);

  std::vector<std::string> inputs;
  inputs.reserve(runs);
  for (std::size_t i = 0; i < runs; ++i) inputs.push_back(std::to_string(i));
  std::vector<RunHandle> handles;
  handles.reserve(runs);
  const std::size_t heap_before = heap_bytes();
  const std::size_t rss_before = rss_bytes();
  for (std::size_t i = 0; i < runs; ++i) handles.push_back(runtime.start(*wf, inputs[i]));
  if (!model->wait_for(runs)) return Json{{"error", "the runs did not all reach the model within 60 s"}};
  const std::size_t heap_held = heap_bytes();
  const std::size_t rss_held = rss_bytes();
  model->release_all();
  for (std::size_t i = 0; i < runs; ++i) {
    if (auto problem = check_output(handles[i].take(), inputs[i] + std::string(kNodes - 1, '.')); !problem.empty())
      return Json{{"error", "idle run " + std::to_string(i) + ": " + problem}};
  }
  auto per_run = [&](std::size_t before, std::size_t after) {
    return after > before ? static_cast<double>(after - before) / static_cast<double>(runs) : 0.0;
  };
  return Json{{"idle_runs", runs},
              {"idle_run_heap_bytes", round3(per_run(heap_before, heap_held))},
              {"idle_run_rss_bytes", round3(per_run(rss_before, rss_held))}};
}

}  // namespace loomflow::cli::bench
