// Tool actors: one per tool. Every dispatch runs in its own worker actor (detached when the tool
// blocks), so the calls of one turn — even of the same tool — run concurrently and one slow call
// never holds up its siblings.
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

tool_result call_function(const detail::ToolImpl& tool, const tool_invocation& inv) {
  const std::string key = inv.ctx.session_id.str() + "/" + inv.step;
  ToolContext ctx{inv.ctx.user_id, inv.ctx.session_id, inv.step, key, inv.redelivery};
  tool_result result;
  Expected<std::string> out = Error{ErrorCode::internal, {}};
  try {
    out = tool.fn(ctx, inv.call.arguments);
  } catch (const std::exception& e) {
    out = Error{ErrorCode::tool_error, std::string("threw an exception: ") + e.what()};
  }
  if (out) {
    result.content = std::move(*out);
  } else {
    result.is_error = true;
    result.content = "error: " + out.error().message;
  }
  return result;
}

tool_actor::behavior_type function_worker(tool_actor::pointer self, std::shared_ptr<const detail::ToolImpl> tool) {
  return {
      [self, tool](tool_invocation& inv) {
        self->quit();
        return call_function(*tool, inv);
      },
  };
}

tool_actor::behavior_type function_tool(tool_actor::pointer self, std::shared_ptr<const detail::ToolImpl> tool) {
  return {
      [self, tool](tool_invocation& inv) -> caf::delegated<tool_result> {
        auto worker = tool->blocking ? self->spawn<caf::detached>(function_worker, tool)
                                     : self->spawn(function_worker, tool);
        return self->delegate(worker, std::move(inv));
      },
  };
}

// Extracts the "input" string of a workflow tool's arguments.
Expected<std::string> workflow_input(const tool_invocation& inv) {
  try {
    auto args = nlohmann::json::parse(inv.call.arguments);
    if (args.is_object()) {
      auto it = args.find("input");
      if (it != args.end() && it->is_string()) return it->get<std::string>();
    }
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::tool_error, "arguments are not valid JSON: " + std::string(e.what())};
  }
  return Error{ErrorCode::tool_error, R"(arguments must be an object {"input": "<text>"})"};
}

tool_actor::behavior_type workflow_tool(tool_actor::pointer self, std::shared_ptr<const detail::ToolImpl> tool,
                                        std::shared_ptr<const CompiledWorkflow> compiled) {
  return {
      [self, tool, compiled](tool_invocation& inv) -> caf::typed_response_promise<tool_result> {
        auto promise = self->make_response_promise<tool_result>();
        auto input = workflow_input(inv);
        if (!input) {
          promise.deliver(tool_result{"error: " + input.error().message, true, {}, {}});
          return promise;
        }
        auto run = spawn_coordinator(self->system(), tool->workflow, compiled);
        // The nested run's steps live under the tool's step, exactly as under a workflow node.
        self->request(caf::actor_cast<node_actor>(run), caf::infinite, node_call{inv.ctx, inv.step, std::move(*input), {}})
            .then(
                [promise](node_result& r) mutable {
                  tool_result out;
                  out.usage = r.usage;
                  out.trace = std::move(r.trace);
                  out.is_error = r.failed();
                  out.content = r.failed() ? "error: " + r.error.message : std::move(r.output);
                  promise.deliver(std::move(out));
                },
                [promise](caf::error& err) mutable {
                  promise.deliver(tool_result{"error: the workflow did not answer: " + caf::to_string(err), true, {}, {}});
                });
        return promise;
      },
  };
}

}  // namespace

tool_actor spawn_function_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool) {
  return sys.spawn(function_tool, std::move(tool));
}

tool_actor spawn_unserved_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool) {
  return sys.spawn([name = tool->spec.name]() -> tool_actor::behavior_type {
    return {
        [name](tool_invocation&) {
          return tool_result{"error: tool '" + name + "' is served by cluster workers, but this runtime is not a cluster node",
                             true, {}, {}};
        },
    };
  });
}

tool_actor spawn_workflow_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool,
                               std::shared_ptr<const CompiledWorkflow> compiled) {
  return sys.spawn(workflow_tool, std::move(tool), std::move(compiled));
}

}  // namespace loomflow::actors
