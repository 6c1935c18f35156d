// The "retrieve" tool: called by an agent (scripted model) in the caller's user partition, and
// its argument checking.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/retrieval/local_embedder.hpp"
#include "loomflow/tools/retrieval/retrieval_tool.hpp"
#include "test_support.hpp"

using namespace loomflow;
using namespace loomflow::retrieval;
using loomflow::testing::shared_runtime;

namespace {

struct ToolFixture {
  std::string dir;
  std::shared_ptr<LocalEmbedder> embedder = std::make_shared<LocalEmbedder>();
  std::shared_ptr<VectorIndex> index;
  ToolFixture() {
    static int counter = 0;
    dir = (std::filesystem::temp_directory_path() /
           ("loomflow-retrieval-tool-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
              .string();
    std::filesystem::remove_all(dir);
    // No snapshot on close: the runtime may hold the tool (and so the index) past the fixture,
    // and a late snapshot would recreate the removed directory.
    index = VectorIndex::open(dir, IndexOptions{.embedder = "local", .dimension = 384, .snapshot_on_close = false}).value();
    EXPECT_TRUE(add_document(*index, *embedder, UserId{"alice"}, "alice/rockets.md",
                             "Rockets burn propellant to produce thrust."));
    EXPECT_TRUE(add_document(*index, *embedder, UserId{"alice"}, "alice/bread.md", "Bread is baked from flour and yeast."));
    EXPECT_TRUE(add_document(*index, *embedder, UserId{"bob"}, "bob/rockets.md", "Bob's notes on rockets and thrust."));
  }
  ~ToolFixture() {
    index.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Tool tool() { return retrieval_tool(index, embedder).value(); }
};

Expected<std::string> call(const Tool& tool, const std::string& user, const std::string& args) {
  const UserId u{user};
  const SessionId s{"s"};
  return tool.impl().fn(ToolContext{u, s, "retrieve", "s/retrieve"}, args);
}

}  // namespace

TEST(RetrievalTool, AnAgentsCallSearchesTheRunsUserPartitionAndGetsJsonHits) {
  ToolFixture f;
  auto model = providers::scripted({
      {.text = "", .tool_calls = {ToolCall{"c1", "retrieve", R"({"query":"rocket thrust","k":5})"}}},
      {.text = "done"},
  });
  auto agent = Agent::create({.name = "reader", .model = model, .tools = {f.tool()}}).value();
  RunOptions options;
  options.user_id = UserId{"alice"};
  auto result = shared_runtime().run(agent, "what makes rockets go?", options);
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_EQ(result->messages.size(), 4u);  // user, assistant (call), tool result, assistant
  EXPECT_FALSE(result->messages[2].is_error) << result->messages[2].content;
  auto hits = nlohmann::json::parse(result->messages[2].content);
  ASSERT_EQ(hits.size(), 2u);  // alice has two chunks; bob's are not hers
  EXPECT_EQ(hits[0]["source"], "alice/rockets.md");
  EXPECT_EQ(hits[0]["text"], "Rockets burn propellant to produce thrust.");
  EXPECT_GT(hits[0]["score"].get<double>(), hits[1]["score"].get<double>());
  for (const auto& h : hits) EXPECT_NE(h["source"], "bob/rockets.md");
}

TEST(RetrievalTool, IsBlockingIdempotentAndDescribesItsArguments) {
  ToolFixture f;
  auto tool = f.tool();
  EXPECT_EQ(tool.name(), "retrieve");
  EXPECT_TRUE(tool.impl().blocking);
  auto schema = nlohmann::json::parse(tool.spec().parameters_schema);
  EXPECT_EQ(schema["required"], nlohmann::json::array({"query"}));
  EXPECT_EQ(schema["properties"]["k"]["maximum"], 50);
}

TEST(RetrievalTool, KDefaultsToFiveAndLimitsTheHits) {
  ToolFixture f;
  auto one = call(f.tool(), "alice", R"({"query":"bread","k":1})");
  ASSERT_TRUE(one) << one.error().describe();
  auto hits = nlohmann::json::parse(*one);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["source"], "alice/bread.md");
  EXPECT_EQ(nlohmann::json::parse(call(f.tool(), "bob", R"({"query":"bread"})").value()).size(), 1u);
  EXPECT_EQ(call(f.tool(), "nobody", R"({"query":"bread"})").value(), "[]");
}

TEST(RetrievalTool, BadArgumentsAreErrorsNamingTheField) {
  ToolFixture f;
  auto tool = f.tool();
  struct Case {
    const char* args;
    const char* says;
  };
  for (const Case& c : {Case{R"({})", "'query'"}, Case{R"({"query":42})", "'query'"}, Case{R"({"query":"  "})", "'query' is empty"},
                        Case{R"({"query":"x","k":0})", "'k' must be between 1 and 50"},
                        Case{R"({"query":"x","k":51})", "'k' must be between 1 and 50"},
                        Case{R"({"query":"x","k":"3"})", "'k' must be an integer"},
                        Case{R"({"query":"x","k":2.5})", "'k' must be an integer"}, Case{"not json", "not JSON"}}) {
    auto r = call(tool, "alice", c.args);
    ASSERT_FALSE(r) << c.args;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument) << c.args;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.args << ": " << r.error().message;
  }
}

TEST(RetrievalTool, AnEmbedderOtherThanTheIndexsIsRefusedWhenTheToolIsBuilt) {
  ToolFixture f;
  auto tool = retrieval_tool(f.index, std::make_shared<LocalEmbedder>(64));
  ASSERT_FALSE(tool);
  EXPECT_NE(tool.error().message.find("local:64"), std::string::npos);
}
