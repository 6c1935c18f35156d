// W6's memory figure: what one idle, suspended run costs. Runs of a 10-node chain whose first node
// is an agent wait on an asynchronous model that holds every call; once all of them wait, the heap
// growth divided by the number of runs is the cost of a suspended run (its coordinator and agent
// actors, their state and the pending messages). Then every call is answered and every run checked.
#include "bench.hpp"
#include "loomflow/providers/held.hpp"

namespace loomflow::cli::bench {

Json measure_idle_runs(const BenchArgs& args, std::size_t runs) {
  constexpr std::size_t kNodes = 10;
  Runtime runtime(RuntimeConfig{args.threads});
  auto model = std::make_shared<providers::HeldProvider>();
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
  if (!model->wait_for_held(runs, std::chrono::seconds(60))) return Json{{"error", "the runs did not all reach the model within 60 s"}};
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
