// The support example in C++: a keyword rule classifies the question, a router sends it to the
// billing or the tech agent, and the run reports the path it took. Offline: the billing agent uses
// a scripted model (one tool call, then a canned answer); the tech agent uses the echo model.
#include <iostream>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/tools/builtin.hpp"

using namespace loomflow;

int main(int argc, char** argv) {
  const std::string question = argc > 1 ? argv[1] : "My card was charged twice.";

  auto billing = Agent::create({
      .name = "billing",
      .instructions = "You are the billing specialist.",
      .model = providers::scripted({
          {.text = "", .tool_calls = {{.id = "", .name = "word_count", .arguments = R"({"text":"charged twice"})"}}},
          {.text = "I'm sorry about the double charge. I have flagged the duplicate payment for a refund."},
      }),
      .tools = {tools::builtin_tools().at("word_count")},
  });
  auto tech = Agent::create({.name = "tech", .instructions = "You are tech support.", .model = providers::echo()});
  if (!billing || !tech) return 2;

  // The offline classifier is a rule function: its output is the route label.
  auto classify = Node::function("classify", [](std::string_view q) -> std::string {
    return q.find("charge") != std::string_view::npos || q.find("refund") != std::string_view::npos ? "billing"
                                                                                                  : "tech";
  });
  auto support = Workflow::route("support", classify, {{"billing", Node::agent(*billing)}, {"tech", Node::agent(*tech)}});
  if (!support) {
    std::cerr << support.error().describe() << "\n";
    return 2;
  }

  Runtime runtime;
  auto result = runtime.run(*support, question, {.user_id = UserId{"alice"}});
  if (!result) {
    std::cerr << result.error().describe() << "\n";
    return 1;
  }
  std::cout << result->output << "\nvisited: ";
  for (std::size_t i = 0; i < result->visited.size(); ++i) std::cout << (i ? " → " : "") << result->visited[i];
  std::cout << "\n";
}
