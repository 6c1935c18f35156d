// Every actor message serializes and deserializes unchanged: the cluster will ship them as they are.
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "loomflow/actors/messages.hpp"
#include "loomflow/actors/type_registry.hpp"

using namespace loomflow;
using namespace loomflow::actors;

namespace {

template <class T>
T round_trip(caf::actor_system& sys, T value) {
  std::vector<char> buffer;
  caf::binary_serializer sink(sys, buffer);
  EXPECT_FALSE(sink(value));
  T copy;
  caf::binary_deserializer source(sys, buffer);
  EXPECT_FALSE(source(copy));
  return copy;
}

struct MessagesTest : ::testing::Test {
  MessagesTest() : sys(configure()) {}
  caf::actor_system_config& configure() {
    register_message_types(cfg);
    return cfg;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys;
};

}  // namespace

TEST_F(MessagesTest, ANodeCallRoundTripsWithItsUserAndSession) {
  node_call call{run_context{UserId{"alice"}, SessionId{"s-1"}}, "classify#1", "My card was charged twice."};
  auto copy = round_trip(sys, call);
  EXPECT_EQ(copy.ctx.user_id, UserId{"alice"});
  EXPECT_EQ(copy.ctx.session_id, SessionId{"s-1"});
  EXPECT_EQ(copy.step, "classify#1");
  EXPECT_EQ(copy.input, call.input);
}

TEST_F(MessagesTest, ANodeResultRoundTripsWithErrorTraceVisitedAndMessages) {
  node_result r;
  r.error = Error{ErrorCode::visit_cap_exceeded, "too many"};
  r.output = "out";
  r.usage.input_tokens = 7;
  r.trace.push_back(TraceStep{"a#1", StepKind::tool, "t", false, "boom", 12, {}});
  r.visited = {"a", "b"};
  r.messages.push_back(Message::assistant("", {ToolCall{"c1", "lookup", R"({"q":1})"}}));
  auto copy = round_trip(sys, r);
  EXPECT_EQ(copy.error.code, ErrorCode::visit_cap_exceeded);
  EXPECT_EQ(copy.error.message, "too many");
  EXPECT_EQ(copy.usage, r.usage);
  ASSERT_EQ(copy.trace.size(), 1u);
  EXPECT_EQ(copy.trace[0].kind, StepKind::tool);
  EXPECT_EQ(copy.trace[0].duration_us, 12u);
  EXPECT_EQ(copy.visited, r.visited);
  EXPECT_EQ(copy.messages, r.messages);
}

TEST_F(MessagesTest, ModelAndToolMessagesRoundTrip) {
  model_call mc{run_context{UserId{"u"}, SessionId{"s"}},
                ModelRequest{"echo", "agent", "agent/turn-1/model", "s/agent/turn-1/model", {Message::user("hi")}, {ToolSpec{"t", "d", "{}"}}, ""}};
  auto mc2 = round_trip(sys, mc);
  EXPECT_EQ(mc2.request.messages, mc.request.messages);
  EXPECT_EQ(mc2.request.tools, mc.request.tools);
  tool_invocation ti{run_context{UserId{"u"}, SessionId{"s"}}, "agent/turn-1/tool-0", ToolCall{"c", "t", "{}"}};
  EXPECT_EQ(round_trip(sys, ti).call, ti.call);
  tool_result tr{"ok", true, {}, {}};
  auto tr2 = round_trip(sys, tr);
  EXPECT_EQ(tr2.content, "ok");
  EXPECT_TRUE(tr2.is_error);
}

TEST_F(MessagesTest, EveryMessageTypeIsRegisteredWithCaf) {
  for (const char* name : {"loomflow.node_call", "loomflow.node_result", "loomflow.model_call", "loomflow.model_result",
                           "loomflow.tool_invocation", "loomflow.tool_result", "loomflow.run_context"}) {
    auto value = sys.types().make_value(name);
    EXPECT_TRUE(value != nullptr) << name << " is not registered";
  }
}
