// `loomflow index add|query`: a directory indexed from the shell, then queried; binary files
// skipped and reported; usage errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "loopback_server.hpp"
#include "scratch.hpp"

namespace {

namespace fs = std::filesystem;

using Outcome = loomflow::testing::CliOutcome;

Outcome run_cli(const std::vector<std::string>& args) { return loomflow::testing::execute(LOOMFLOW_CLI, args); }

struct Workspace {
  fs::path root;
  Workspace() {
    static int counter = 0;
    root = fs::temp_directory_path() / ("loomflow-retrieval-cli-ws-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(root);
    fs::create_directories(root / "docs" / "nested");
    std::ofstream(root / "docs" / "cooking.md") << "# Cooking\n\nSimmer the tomato sauce with garlic and basil for twenty minutes.\n";
    std::ofstream(root / "docs" / "nested" / "astronomy.txt")
        << "Jupiter is the largest planet of the solar system; its great red spot is a storm.\n";
    std::ofstream(root / "docs" / "nested" / "gardening.txt") << "Prune the roses in early spring, after the last frost.\n";
    std::ofstream(root / "docs" / "image.bin", std::ios::binary) << std::string("\x89PNG\0\0\x01\x02", 8);
  }
  ~Workspace() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string docs() const { return (root / "docs").string(); }
  std::string index() const { return (root / "index").string(); }
};

// An embeddings answer holding one vector of 4 numbers: `hot` is 1, the rest small.
loomflow::testing::CannedResponse one_vector(std::size_t hot) {
  std::vector<float> v(4, 0.05f);
  v[hot] = 1.0f;
  nlohmann::json body{{"object", "list"},
                      {"data", {{{"object", "embedding"}, {"index", 0}, {"embedding", v}}}},
                      {"model", "m"}};
  return loomflow::testing::CannedResponse{200, {}, body.dump()};
}

}  // namespace

TEST(RetrievalCli, ACompatEmbedderIsCalledOverHttpAndRecordedForQueries) {
  Workspace ws;
  loomflow::testing::LoopbackServer server;
  server.push(one_vector(0));  // docs/cooking.md
  server.push(one_vector(1));  // docs/nested/astronomy.txt (image.bin is skipped, never sent)
  server.push(one_vector(2));  // docs/nested/gardening.txt
  server.push(one_vector(1));  // the query
  ::setenv("OPENAI_BASE_URL", (server.url() + "/v1").c_str(), 1);
  auto add = run_cli({"index", "add", ws.docs(), "--index", ws.index(), "--embedder", "compat:m", "--json"});
  auto query = run_cli({"index", "query", "anything", "--index", ws.index(), "-k", "1", "--json"});
  ::unsetenv("OPENAI_BASE_URL");
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_EQ(nlohmann::json::parse(add.out)["embedder"], "compat:m");
  ASSERT_EQ(query.status, 0) << query.err;
  auto hits = nlohmann::json::parse(query.out)["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0]["source"].get<std::string>().find("astronomy.txt"), std::string::npos) << query.out;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].path, "/v1/embeddings");
  EXPECT_EQ(requests[0].json()["model"], "m");
  EXPECT_EQ(requests[3].json()["input"], nlohmann::json::array({"anything"}));
}

TEST(RetrievalCli, IndexAddThenQueryFindsTheRightFile) {
  Workspace ws;
  auto add = run_cli({"index", "add", ws.docs(), "--index", ws.index()});
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_NE(add.out.find("indexed 3 file(s), 3 chunk(s)"), std::string::npos) << add.out;
  EXPECT_NE(add.out.find("skipped 1 binary file(s)"), std::string::npos) << add.out;
  EXPECT_NE(add.out.find("image.bin"), std::string::npos) << add.out;

  auto query = run_cli({"index", "query", "which planet has a red spot storm?", "--index", ws.index(), "-k", "2", "--json"});
  ASSERT_EQ(query.status, 0) << query.err;
  auto j = nlohmann::json::parse(query.out);
  ASSERT_EQ(j["hits"].size(), 2u);
  EXPECT_NE(j["hits"][0]["source"].get<std::string>().find("astronomy.txt"), std::string::npos) << query.out;

  auto human = run_cli({"index", "query", "tomato garlic sauce", "--index", ws.index(), "-k", "1"});
  ASSERT_EQ(human.status, 0) << human.err;
  EXPECT_NE(human.out.find("cooking.md"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("Simmer the tomato sauce"), std::string::npos) << human.out;
}

TEST(RetrievalCli, AddJsonReportsCountsAndAnotherUsersPartitionStaysEmpty) {
  Workspace ws;
  auto add = run_cli({"index", "add", ws.docs() + "/nested", "--index", ws.index(), "--user", "alice", "--json"});
  ASSERT_EQ(add.status, 0) << add.err;
  auto j = nlohmann::json::parse(add.out);
  EXPECT_EQ(j["files"], 2);
  EXPECT_EQ(j["chunks"], 2);
  EXPECT_EQ(j["embedder"], "local");
  EXPECT_TRUE(j["skipped"].empty());
  auto again = run_cli({"index", "add", ws.docs() + "/nested", "--index", ws.index(), "--user", "alice", "--json"});
  EXPECT_EQ(nlohmann::json::parse(again.out)["replaced"], 2) << again.out;
  auto bob = run_cli({"index", "query", "roses", "--index", ws.index(), "--user", "bob", "--json"});
  ASSERT_EQ(bob.status, 0) << bob.err;
  EXPECT_TRUE(nlohmann::json::parse(bob.out)["hits"].empty()) << bob.out;
}

TEST(RetrievalCli, UsageErrorsExitWithStatusTwo) {
  Workspace ws;
  EXPECT_EQ(run_cli({"index", "add", (ws.root / "missing").string(), "--index", ws.index()}).status, 2);
  EXPECT_EQ(run_cli({"index", "query", "x", "--index", ws.index()}).status, 2);  // no index yet
  EXPECT_EQ(run_cli({"index", "add", ws.docs(), "--index", ws.index(), "--embedder", "word2vec"}).status, 2);
  ASSERT_EQ(run_cli({"index", "add", ws.docs(), "--index", ws.index()}).status, 0);
  auto mismatch = run_cli({"index", "query", "x", "--index", ws.index(), "--embedder", "local:64"});
  EXPECT_EQ(mismatch.status, 2);
  EXPECT_NE(mismatch.err.find("built with embedder 'local'"), std::string::npos) << mismatch.err;
  EXPECT_EQ(run_cli({"index", "query", "x", "--index", ws.index(), "-k", "0"}).status, 2);
}
