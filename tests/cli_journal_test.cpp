// The journal from the command line: `run --journal`, `runs list|show|resume`, `journal export|prune`.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "journal_backends.hpp"
#include "subprocess.hpp"

namespace {

using loomflow::testing::ProcessOutcome;
using loomflow::testing::run_process;

const std::string kSupport = std::string(LOOMFLOW_SOURCE_DIR) + "/tools_cli/examples/support.json";

class CliJournal : public ::testing::Test {
 protected:
  void SetUp() override { journal_ = "rocksdb:" + loomflow::testing::temp_path("cli-journal"); }
  void TearDown() override { std::filesystem::remove_all(journal_.substr(8)); }

  ProcessOutcome cli(std::vector<std::string> args) const { return run_process(LOOMFLOW_CLI, args); }
  ProcessOutcome run_support(const std::string& session, const std::string& user = "alice") const {
    return cli({"run", kSupport, "--input", "My card was charged twice.", "--user", user, "--session", session,
                "--journal", journal_, "--json"});
  }
  static nlohmann::json json(const ProcessOutcome& r) { return nlohmann::json::parse(r.out, nullptr, false); }

  std::string journal_;
};

TEST_F(CliJournal, running_a_journaled_session_again_replays_it_with_the_same_output) {
  auto first = run_support("s-1");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  auto second = run_support("s-1");
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(json(first)["replayed_steps"], 0);
  EXPECT_EQ(json(second)["replayed_steps"], 2);  // classify#1 and the whole route_billing#1 agent node
  EXPECT_EQ(json(second)["output"], json(first)["output"]);
  EXPECT_EQ(json(second)["visited"], json(first)["visited"]);
}

TEST_F(CliJournal, runs_list_shows_sessions_with_status_and_filters_by_user) {
  ASSERT_EQ(run_support("s-alice", "alice").exit_code, 0);
  ASSERT_EQ(run_support("s-bob", "bob").exit_code, 0);
  auto all = cli({"runs", "list", "--journal", journal_, "--json"});
  ASSERT_EQ(all.exit_code, 0);
  EXPECT_NE(all.out.find("\"s-alice\""), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("\"s-bob\""), std::string::npos) << all.out;
  auto bob = cli({"runs", "list", "--journal", journal_, "--user", "bob", "--json"});
  ASSERT_EQ(bob.exit_code, 0);
  auto line = nlohmann::json::parse(bob.out);
  EXPECT_EQ(line["session_id"], "s-bob");
  EXPECT_EQ(line["status"], "finished");
  EXPECT_EQ(line["target"], "support");
  EXPECT_EQ(bob.out.find("s-alice"), std::string::npos);
}

TEST_F(CliJournal, runs_show_lists_every_journaled_step_with_kind_and_tokens) {
  ASSERT_EQ(run_support("s-1").exit_code, 0);
  auto shown = cli({"runs", "show", "s-1", "--journal", journal_, "--json"});
  ASSERT_EQ(shown.exit_code, 0);
  auto j = json(shown);
  ASSERT_EQ(j["steps"].size(), 5u) << shown.out;
  EXPECT_EQ(j["steps"][0]["step"], "classify#1");
  EXPECT_EQ(j["steps"][1]["kind"], "model");
  EXPECT_GT(j["steps"][1]["output_tokens"].get<int>(), 0);
  EXPECT_EQ(j["steps"][2]["step"], "route_billing#1/turn-1/tool-0");
  EXPECT_EQ(j["steps"][2]["kind"], "tool");
  EXPECT_EQ(j["user_id"], "alice");
  auto human = cli({"runs", "show", "s-1", "--journal", journal_});
  ASSERT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("5 journaled steps"), std::string::npos) << human.out;
}

TEST_F(CliJournal, runs_resume_reruns_a_session_from_the_spec_it_kept) {
  ASSERT_EQ(run_support("s-1").exit_code, 0);
  auto resumed = cli({"runs", "resume", "s-1", "--journal", journal_, "--json"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  auto j = json(resumed);
  EXPECT_EQ(j["visited"], nlohmann::json::array({"classify", "route_billing"}));
  EXPECT_EQ(j["user_id"], "alice");
  EXPECT_EQ(j["replayed_steps"], 2);
}

TEST_F(CliJournal, resuming_an_unknown_session_fails_clearly) {
  ASSERT_EQ(run_support("s-1").exit_code, 0);
  auto r = cli({"runs", "resume", "nope", "--journal", journal_});
  EXPECT_EQ(r.exit_code, 1);
  auto shown = cli({"runs", "show", "nope", "--journal", journal_});
  EXPECT_EQ(shown.exit_code, 1);
}

TEST_F(CliJournal, another_user_cannot_run_an_existing_session) {
  ASSERT_EQ(run_support("s-1", "alice").exit_code, 0);
  auto r = run_support("s-1", "mallory");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json(r)["error"]["code"], "permission_denied") << r.out;
}

TEST_F(CliJournal, journal_export_prints_every_record_with_its_payload) {
  ASSERT_EQ(run_support("s-1").exit_code, 0);
  auto r = cli({"journal", "export", "s-1", "--journal", journal_, "--json"});
  ASSERT_EQ(r.exit_code, 0);
  auto j = json(r);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["session"]["session_id"], "s-1");
  ASSERT_EQ(j["steps"].size(), 5u);
  EXPECT_EQ(j["steps"][1]["response"]["tool_calls"][0]["name"], "word_count");
  EXPECT_EQ(j["steps"][2]["output"], "5");  // word_count of "My card was charged twice."
  EXPECT_TRUE(j["steps"][3]["response"]["content"].get<std::string>().find("refund") != std::string::npos);
}

TEST_F(CliJournal, journal_prune_deletes_one_session_or_old_ones) {
  ASSERT_EQ(run_support("s-1").exit_code, 0);
  ASSERT_EQ(run_support("s-2").exit_code, 0);
  auto none_old = cli({"journal", "prune", "--older-than", "1d", "--journal", journal_, "--json"});
  ASSERT_EQ(none_old.exit_code, 0);
  EXPECT_EQ(json(none_old)["pruned_sessions"], 0);
  auto one = cli({"journal", "prune", "--session", "s-1", "--journal", journal_, "--json"});
  ASSERT_EQ(one.exit_code, 0);
  EXPECT_EQ(json(one)["pruned_sessions"], 1);
  auto list = cli({"runs", "list", "--journal", journal_, "--json"});
  EXPECT_EQ(list.out.find("s-1"), std::string::npos);
  EXPECT_NE(list.out.find("s-2"), std::string::npos);
  auto all_old = cli({"journal", "prune", "--older-than", "0s", "--journal", journal_, "--json"});
  ASSERT_EQ(all_old.exit_code, 0);
  EXPECT_EQ(json(all_old)["pruned_sessions"], 1);
}

TEST_F(CliJournal, prune_needs_exactly_one_selection_and_a_valid_duration) {
  EXPECT_EQ(cli({"journal", "prune", "--journal", journal_}).exit_code, 2);
  EXPECT_EQ(cli({"journal", "prune", "--older-than", "7d", "--session", "x", "--journal", journal_}).exit_code, 2);
  EXPECT_EQ(cli({"journal", "prune", "--older-than", "7 days", "--journal", journal_}).exit_code, 2);
}

TEST_F(CliJournal, a_spec_names_its_journal_and_the_flag_overrides_it) {
  const std::string spec_path = loomflow::testing::temp_path("journal-spec") + ".json";
  {
    std::ofstream out(spec_path);
    out << R"({"loomflow": 1, "name": "w", "journal": ")" << journal_
        << R"(", "workflow": {"nodes": {"a": {"type": "template", "template": "<{input}>"}}}})";
  }
  auto first = cli({"run", spec_path, "--input", "x", "--session", "s-spec", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_EQ(json(first)["replayed_steps"], 0);
  auto listed = cli({"runs", "list", "--journal", journal_, "--json"});
  EXPECT_NE(listed.out.find("s-spec"), std::string::npos) << listed.out;
  const std::string other = "rocksdb:" + loomflow::testing::temp_path("other");
  auto overridden = cli({"run", spec_path, "--input", "x", "--session", "s-spec", "--journal", other, "--json"});
  ASSERT_EQ(overridden.exit_code, 0);
  EXPECT_EQ(json(overridden)["replayed_steps"], 0);  // a fresh journal: nothing to replay
  std::filesystem::remove_all(other.substr(8));
  std::filesystem::remove(spec_path);
}

TEST_F(CliJournal, a_bad_journal_uri_is_a_usage_error) {
  auto r = cli({"run", kSupport, "--input", "hi", "--journal", "mongodb://x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(cli({"runs", "list", "--journal", "nope:"}).exit_code, 2);
}

}  // namespace
