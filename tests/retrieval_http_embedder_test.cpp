// HttpEmbedder against a loopback OpenAI-compatible server: batching, auth, retries, bad answers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loomflow/tools/retrieval/http_embedder.hpp"
#include "loopback_server.hpp"

using namespace loomflow;
using namespace loomflow::retrieval;
using loomflow::testing::CannedResponse;
using loomflow::testing::LoopbackServer;

namespace {

// An OpenAI /v1/embeddings answer: vector i is {i + first, 1, 0, ...} of `dim` numbers.
std::string answer(std::size_t count, std::size_t dim, std::size_t first = 0, bool reversed = false) {
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t i = reversed ? count - 1 - n : n;
    std::vector<float> v(dim, 0.0f);
    v[0] = static_cast<float>(i + first);
    v[1] = 1.0f;
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", v}});
  }
  return nlohmann::json{{"object", "list"}, {"data", data}, {"model", "text-embedding-3-small"},
                        {"usage", {{"prompt_tokens", 5}, {"total_tokens", 5}}}}
      .dump();
}

std::shared_ptr<HttpEmbedder> embedder_for(LoopbackServer& server, std::size_t max_batch = 96) {
  HttpEmbedderOptions o;
  o.base_url = server.url() + "/v1/";
  o.model = "text-embedding-3-small";
  o.api_key = "sk-test";
  o.provider = "openai";
  o.max_batch = max_batch;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(4);
  o.timeout = std::chrono::seconds(10);
  return HttpEmbedder::create(o).value();
}

}  // namespace

TEST(RetrievalHttpEmbedder, InputsAreSentInBatchesAndVectorsComeBackInInputOrder) {
  LoopbackServer server;
  server.push(CannedResponse{200, {}, answer(2, 4, 0, /*reversed=*/true)});
  server.push(CannedResponse{200, {}, answer(1, 4, 2)});
  auto e = embedder_for(server, 2);
  EXPECT_EQ(e->dimension(), 0u);
  auto vectors = e->embed({"a", "b", "c"});
  ASSERT_TRUE(vectors) << vectors.error().describe();
  ASSERT_EQ(vectors->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ((*vectors)[i][0], static_cast<float>(i));
  EXPECT_EQ(e->dimension(), 4u);
  EXPECT_EQ(e->name(), "openai:text-embedding-3-small");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/v1/embeddings");
  EXPECT_EQ(requests[0].headers.find("Authorization")->second, "Bearer sk-test");
  auto body = requests[0].json();
  EXPECT_EQ(body["model"], "text-embedding-3-small");
  EXPECT_EQ(body["encoding_format"], "float");
  EXPECT_EQ(body["input"], nlohmann::json::array({"a", "b"}));
  EXPECT_EQ(requests[1].json()["input"], nlohmann::json::array({"c"}));
}

TEST(RetrievalHttpEmbedder, A401IsAPermissionErrorNamingTheKeyVariableAndTheServersMessage) {
  LoopbackServer server;
  server.push(CannedResponse{401, {}, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})"});
  auto result = embedder_for(server)->embed({"a"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::permission_denied);
  EXPECT_NE(result.error().message.find("OPENAI_API_KEY"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("Incorrect API key provided"), std::string::npos);
  EXPECT_NE(result.error().message.find("/v1/embeddings"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);  // never retried
}

TEST(RetrievalHttpEmbedder, A429IsRetriedAndTheRetrySucceeds) {
  LoopbackServer server;
  server.push(CannedResponse{429, {{"retry-after-ms", "1"}}, R"({"error":{"message":"Rate limit reached"}})"});
  server.push(CannedResponse{503, {}, R"({"error":{"message":"overloaded"}})"});
  server.push(CannedResponse{200, {}, answer(1, 3)});
  auto result = embedder_for(server)->embed({"a"});
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->at(0).size(), 3u);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(RetrievalHttpEmbedder, RetriesStopAfterMaxAttemptsWithTheLastStatus) {
  LoopbackServer server;
  for (int i = 0; i < 3; ++i) server.push(CannedResponse{500, {}, R"({"error":{"message":"boom"}})"});
  auto result = embedder_for(server)->embed({"a"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unavailable);
  EXPECT_NE(result.error().message.find("HTTP 500 after 3 attempts: boom"), std::string::npos) << result.error().message;
}

TEST(RetrievalHttpEmbedder, MalformedJsonIsAModelErrorSayingSo) {
  LoopbackServer server;
  server.push(CannedResponse{200, {}, R"({"object":"list","data":[{"embedding":[0.1,)"});
  auto result = embedder_for(server)->embed({"a"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::model_error);
  EXPECT_NE(result.error().message.find("malformed JSON"), std::string::npos) << result.error().message;
}

TEST(RetrievalHttpEmbedder, AWrongNumberOfVectorsIsAnErrorNamingBothCounts) {
  LoopbackServer server;
  server.push(CannedResponse{200, {}, answer(1, 3)});
  auto result = embedder_for(server)->embed({"a", "b"});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("got 1 embeddings for 2 inputs"), std::string::npos) << result.error().message;
}

TEST(RetrievalHttpEmbedder, AVectorOfAnotherDimensionIsAnErrorNamingWhereItIs) {
  LoopbackServer server;
  std::string bad = answer(2, 3);
  auto j = nlohmann::json::parse(bad);
  j["data"][1]["embedding"].push_back(0.5);
  server.push(CannedResponse{200, {}, j.dump()});
  auto result = embedder_for(server)->embed({"a", "b"});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("data[1].embedding has 4 numbers, expected 3"), std::string::npos)
      << result.error().message;
}
