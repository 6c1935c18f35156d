// `loomflow ask` and specs naming real models, against a loopback server speaking the recorded
// OpenAI and Anthropic wire formats.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "loopback_server.hpp"

using loomflow::testing::CannedResponse;
using loomflow::testing::LoopbackServer;
using loomflow::testing::read_fixture;

namespace {

struct Outcome {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the CLI with a controlled environment (only the given provider variables are set).
Outcome ask(const std::vector<std::pair<std::string, std::string>>& env, const std::vector<std::string>& args) {
  static int counter = 0;
  auto err_path = std::filesystem::temp_directory_path() /
                  ("loomflow-ask-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".err");
  std::string command = "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL";
  for (const auto& [k, v] : env) command += " " + k + "=" + quote(v);
  command += " " + quote(LOOMFLOW_CLI);
  for (const auto& a : args) command += " " + quote(a);
  command += " 2>" + quote(err_path.string());
  Outcome o;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) o.out.append(buf.data(), n);
  int raw = ::pclose(pipe);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream err(err_path);
  o.err.assign(std::istreambuf_iterator<char>(err), {});
  std::filesystem::remove(err_path);
  return o;
}

CannedResponse json_fixture(const std::string& f) { return CannedResponse{200, {}, read_fixture(f)}; }

}  // namespace

TEST(CliAsk, AsksAnOpenAIModelThroughTheConventionalEnvironment) {
  LoopbackServer server;
  server.push(json_fixture("openai/chat/nonstream-text.json"));
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "sk-cli"}}, {"ask", "gpt-4o", "Weather?"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("I'm unable to provide real-time weather updates.", 0), 0u) << r.out;
  EXPECT_EQ(server.requests().at(0).headers.find("Authorization")->second, "Bearer sk-cli");
}

TEST(CliAsk, StreamPrintsTheStreamedAnswer) {
  LoopbackServer server;
  CannedResponse stream{200, {}, read_fixture("openai/chat/stream-text.sse")};
  stream.sse = true;
  server.push(stream);
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "sk-cli"}},
               {"ask", "openai:gpt-4o", "Weather?", "--stream"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(r.out.size(), 20u) << r.out;
  EXPECT_EQ(server.requests().at(0).json()["stream"], true);
}

TEST(CliAsk, JsonPrintsOutputAndUsage) {
  LoopbackServer server;
  server.push(json_fixture("anthropic/messages/nonstream-text.body.json"));
  auto r = ask({{"ANTHROPIC_BASE_URL", server.url()}, {"ANTHROPIC_API_KEY", "sk-ant"}},
               {"ask", "claude-haiku-4-5", "Weather?", "--json", "--system", "Be brief."});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["provider"], "anthropic");
  EXPECT_EQ(j["usage"]["input_tokens"], 770);
  EXPECT_EQ(j["usage"]["output_tokens"], 26);
  EXPECT_EQ(server.requests().at(0).json()["system"], "Be brief.");
}

TEST(CliAsk, AMissingKeyExitsWithStatusTwoNamingTheVariable) {
  auto r = ask({}, {"ask", "gpt-4.1-mini", "hi"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("set OPENAI_API_KEY"), std::string::npos) << r.err;
}

TEST(CliAsk, AnApiErrorExitsWithStatusOneAndShowsTheApisMessage) {
  LoopbackServer server;
  server.push(CannedResponse::from_error_fixture("openai/errors/401-invalid-api-key.json"));
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "sk-wrong"}}, {"ask", "gpt-4o", "hi"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid_api_key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sk-wrong"), std::string::npos) << r.err;
}

TEST(CliAsk, ASchemaFileMakesTheAnswerStructuredAndValidated) {
  LoopbackServer server;
  server.push(json_fixture("openai/chat/nonstream-json-schema.json"));
  auto schema = std::filesystem::temp_directory_path() / ("loomflow-schema-" + std::to_string(::getpid()) + ".json");
  std::ofstream(schema) << R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})";
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "k"}},
               {"ask", "gpt-4o", "weather as JSON", "--schema", schema.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["city"], "San Francisco");
  EXPECT_EQ(server.requests().at(0).json()["response_format"]["type"], "json_schema");
}

TEST(CliSpecModels, ASpecAgentCanNameAnHttpModelWithItsSettings) {
  LoopbackServer server;
  server.push(json_fixture("openai/chat/nonstream-text.json"));
  auto spec = std::filesystem::temp_directory_path() / ("loomflow-http-spec-" + std::to_string(::getpid()) + ".json");
  std::ofstream(spec) << R"({"loomflow": 1, "name": "w", "agents": {"a": {"model": "compat:llama3.1",
      "model_settings": {"base_url": ")" << server.url() << R"(/v1", "temperature": 0.2, "max_tokens": 64,
                         "headers": {"x-team": "loom"}}}},
    "workflow": {"nodes": {"ask": {"type": "agent", "agent": "a"}}}})";
  auto r = ask({}, {"run", spec.string(), "--input", "Weather?", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(nlohmann::json::parse(r.out)["output"].get<std::string>().find("weather"), std::string::npos);
  auto body = server.requests().at(0).json();
  EXPECT_EQ(body["model"], "llama3.1");
  EXPECT_EQ(body["temperature"], 0.2);
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(server.requests().at(0).headers.find("x-team")->second, "loom");
}

TEST(CliSpecModels, AnUnknownModelSettingIsASpecErrorWithItsPath) {
  auto spec = std::filesystem::temp_directory_path() / ("loomflow-bad-settings-" + std::to_string(::getpid()) + ".json");
  std::ofstream(spec) << R"({"loomflow": 1, "name": "w", "agents": {"a": {"model": "compat:m",
      "model_settings": {"base_url": "http://127.0.0.1:9/v1", "temprature": 0.2}}},
    "workflow": {"nodes": {"ask": {"type": "agent", "agent": "a"}}}})";
  auto r = ask({}, {"run", spec.string(), "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("$.agents.a.model_settings.temprature: unknown field"), std::string::npos) << r.err;
}

TEST(CliAsk, JsonReportsTheCostFromThePriceTable) {
  LoopbackServer server;
  server.push(json_fixture("openai/chat/nonstream-text.json"));  // 14 input, 37 output tokens
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "k"}}, {"ask", "gpt-4o", "hi", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["usage"]["cost_usd"].get<double>(), (14 * 2.50 + 37 * 10.00) / 1e6, 1e-12);
}

TEST(CliAsk, APricesFileOverridesTheDefaults) {
  LoopbackServer server;
  server.push(json_fixture("openai/chat/nonstream-text.json"));
  auto prices = std::filesystem::temp_directory_path() / ("loomflow-prices-" + std::to_string(::getpid()) + ".json");
  std::ofstream(prices) << R"({"gpt-4o": {"input": 1000000, "output": 0}})";
  auto r = ask({{"OPENAI_BASE_URL", server.url() + "/v1"}, {"OPENAI_API_KEY", "k"}},
               {"ask", "gpt-4o", "hi", "--json", "--prices", prices.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out)["usage"]["cost_usd"].get<double>(), 14.0);
}
