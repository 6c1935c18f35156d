#include <iostream>

#include "commands.hpp"

namespace loomflow::cli {

int graph_command(const std::string& spec_path) {
  // Drawing needs no tools: MCP servers are not started (their agents get no MCP tools here).
  auto env = cli_environment();
  env.mcp_tools = [](const nlohmann::json&, const std::string&) -> Expected<std::vector<Tool>> {
    return std::vector<Tool>{};
  };
  auto spec = load_spec_file(spec_path, env);
  if (!spec) {
    std::cerr << "loomflow graph: " << spec.error().message << "\n";
    return 2;
  }
  std::cout << to_mermaid(spec->workflow);
  return 0;
}

}  // namespace loomflow::cli
