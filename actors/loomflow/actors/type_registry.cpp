#include "loomflow/actors/type_registry.hpp"

#include <caf/all.hpp>

#include "loomflow/actors/messages.hpp"

namespace loomflow::actors {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<Error>("loomflow.error")
      .add_message_type<ToolCall>("loomflow.tool_call")
      .add_message_type<Message>("loomflow.message")
      .add_message_type<Usage>("loomflow.usage")
      .add_message_type<TraceStep>("loomflow.trace_step")
      .add_message_type<ToolSpec>("loomflow.tool_spec")
      .add_message_type<ModelRequest>("loomflow.model_request")
      .add_message_type<ModelResponse>("loomflow.model_response")
      .add_message_type<RunEvent>("loomflow.run_event")
      .add_message_type<run_context>("loomflow.run_context")
      .add_message_type<node_call>("loomflow.node_call")
      .add_message_type<node_result>("loomflow.node_result")
      .add_message_type<run_token>("loomflow.run_token")
      .add_message_type<model_call>("loomflow.model_call")
      .add_message_type<model_result>("loomflow.model_result")
      .add_message_type<tool_invocation>("loomflow.tool_invocation")
      .add_message_type<tool_result>("loomflow.tool_result")
      .add_message_type<StepRecord>("loomflow.step_record")
      .add_message_type<SessionInfo>("loomflow.session_info")
      .add_message_type<journal_start>("loomflow.journal_start")
      .add_message_type<journal_append>("loomflow.journal_append")
      .add_message_type<journal_appended>("loomflow.journal_appended")
      .add_message_type<journal_finish>("loomflow.journal_finish")
      .add_message_type<journal_loaded>("loomflow.journal_loaded")
      .add_message_type<journal_committed>("loomflow.journal_committed")
      .add_message_type<replay_lookup>("loomflow.replay_lookup")
      .add_message_type<replay_answer>("loomflow.replay_answer");
}

}  // namespace loomflow::actors
