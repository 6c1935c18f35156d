#include <iostream>

#include "commands.hpp"

namespace loomflow::cli {

int graph_command(const std::string& spec_path) {
  auto spec = load_spec_file(spec_path, cli_environment());
  if (!spec) {
    std::cerr << "loomflow graph: " << spec.error().message << "\n";
    return 2;
  }
  std::cout << to_mermaid(spec->workflow);
  return 0;
}

}  // namespace loomflow::cli
