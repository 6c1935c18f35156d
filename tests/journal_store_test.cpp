// The contract of loomflow/journal.hpp, checked against every durable backend (and memory where
// durability is not the point).
#include <filesystem>

#include <gtest/gtest.h>

#include "journal_backends.hpp"
#include "loomflow/journal.hpp"

namespace loomflow {
namespace {

using testing::JournalBackend;

StepRecord node_step(std::string name, std::string output) {
  StepRecord s;
  s.step_name = std::move(name);
  s.kind = JournalStepKind::node;
  s.name = "n";
  s.output = std::move(output);
  s.input_digest = journal_digest("input");
  s.predecessor = "prev#1";
  s.usage.input_tokens = 3;
  s.started_unix_us = 1700000000000000;
  s.duration_us = 42;
  return s;
}

SessionInfo session_info(const std::string& session, const std::string& user, std::int64_t updated_ms) {
  SessionInfo info;
  info.session_id = SessionId{session};
  info.user_id = UserId{user};
  info.target = "wf";
  info.input = "hello";
  info.origin = R"({"spec":"x.json"})";
  info.created_unix_ms = updated_ms - 5;
  info.updated_unix_ms = updated_ms;
  return info;
}

std::shared_ptr<JournalStore> open_or_fail(const std::string& uri) {
  auto store = open_journal(uri);
  EXPECT_TRUE(store) << (store ? "" : store.error().describe());
  return store ? *store : nullptr;
}

JournalBatch steps_batch(const std::string& session, std::vector<StepRecord> steps) {
  JournalBatch batch;
  for (auto& s : steps) batch.steps.emplace_back(SessionId{session}, std::move(s));
  return batch;
}

class JournalStoreTest : public ::testing::TestWithParam<JournalBackend> {
 protected:
  void SetUp() override {
    LOOMFLOW_SKIP_UNAVAILABLE_BACKEND(GetParam());
    uri_ = GetParam().fresh_uri();
    store_ = open_or_fail(uri_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    testing::remove_journal(uri_);
  }
  void reopen() {
    store_.reset();
    store_ = open_or_fail(uri_);
    ASSERT_NE(store_, nullptr);
  }
  std::string uri_;
  std::shared_ptr<JournalStore> store_;
};

TEST_P(JournalStoreTest, a_new_session_loads_empty) {
  auto history = store_->load(SessionId{"nobody"});
  ASSERT_TRUE(history) << history.error().describe();
  EXPECT_FALSE(history->info.has_value());
  EXPECT_TRUE(history->steps.empty());
  EXPECT_FALSE(history->dropped_tail.has_value());
}

TEST_P(JournalStoreTest, committed_steps_load_back_in_commit_order_with_every_field) {
  StepRecord model;
  model.step_name = "a#1/turn-1/model";
  model.kind = JournalStepKind::model;
  model.name = "gpt-4o";
  model.response.message = Message::assistant("calling");
  model.response.message.tool_calls = {ToolCall{"call_1", "word_count", R"({"text":"a b"})"}};
  model.response.finish_reason = "tool_calls";
  model.response.refusal = "";
  model.usage.output_tokens = 7;
  model.usage.cost_usd = 0.25;
  StepRecord tool;
  tool.step_name = "a#1/turn-1/tool-0";
  tool.kind = JournalStepKind::tool;
  tool.name = "word_count";
  tool.output = "2";
  tool.is_error = true;
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("b#1", "first")})));
  ASSERT_TRUE(store_->commit(steps_batch("s1", {model, tool})));

  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history) << history.error().describe();
  ASSERT_EQ(history->steps.size(), 3u);
  EXPECT_EQ(history->steps[0].step_name, "b#1");
  EXPECT_EQ(history->steps[0].output, "first");
  EXPECT_EQ(history->steps[0].predecessor, "prev#1");
  EXPECT_EQ(history->steps[0].input_digest, journal_digest("input"));
  EXPECT_EQ(history->steps[0].usage.input_tokens, 3u);
  EXPECT_EQ(history->steps[0].started_unix_us, 1700000000000000);
  EXPECT_EQ(history->steps[0].duration_us, 42);
  const auto& m = history->steps[1];
  EXPECT_EQ(m.kind, JournalStepKind::model);
  EXPECT_EQ(m.response.message.content, "calling");
  ASSERT_EQ(m.response.message.tool_calls.size(), 1u);
  EXPECT_EQ(m.response.message.tool_calls[0].arguments, R"({"text":"a b"})");
  EXPECT_EQ(m.response.finish_reason, "tool_calls");
  EXPECT_EQ(m.usage.output_tokens, 7u);
  EXPECT_DOUBLE_EQ(m.usage.cost_usd, 0.25);
  EXPECT_EQ(history->steps[2].kind, JournalStepKind::tool);
  EXPECT_TRUE(history->steps[2].is_error);
  EXPECT_LT(history->steps[0].seq, history->steps[1].seq);
  EXPECT_LT(history->steps[1].seq, history->steps[2].seq);
}

TEST_P(JournalStoreTest, committing_an_existing_step_keeps_and_returns_the_first_record) {
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "first")})));
  auto second = store_->commit(steps_batch("s1", {node_step("a#1", "second"), node_step("b#1", "b")}));
  ASSERT_TRUE(second) << second.error().describe();
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].output, "first");
  EXPECT_EQ((*second)[1].output, "b");
  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history);
  ASSERT_EQ(history->steps.size(), 2u);
  EXPECT_EQ(history->steps[0].output, "first");
}

TEST_P(JournalStoreTest, a_step_twice_in_one_batch_is_written_once) {
  auto committed = store_->commit(steps_batch("s1", {node_step("a#1", "one"), node_step("a#1", "two")}));
  ASSERT_TRUE(committed) << committed.error().describe();
  ASSERT_EQ(committed->size(), 2u);
  EXPECT_EQ((*committed)[1].output, "one");
  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history);
  EXPECT_EQ(history->steps.size(), 1u);
}

TEST_P(JournalStoreTest, sessions_of_different_ids_do_not_mix) {
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "one")})));
  ASSERT_TRUE(store_->commit(steps_batch("s10", {node_step("a#1", "ten")})));
  auto one = store_->load(SessionId{"s1"});
  auto ten = store_->load(SessionId{"s10"});
  ASSERT_TRUE(one && ten);
  ASSERT_EQ(one->steps.size(), 1u);
  ASSERT_EQ(ten->steps.size(), 1u);
  EXPECT_EQ(one->steps[0].output, "one");
  EXPECT_EQ(ten->steps[0].output, "ten");
}

TEST_P(JournalStoreTest, session_info_is_upserted_and_listed_newest_first_filtered_by_user) {
  JournalBatch batch;
  batch.sessions = {session_info("s1", "alice", 1000), session_info("s2", "bob", 2000),
                    session_info("s3", "alice", 3000)};
  ASSERT_TRUE(store_->commit(batch));
  auto finished = session_info("s1", "alice", 4000);
  finished.status = SessionStatus::finished;
  finished.output = "done";
  finished.usage.model_calls = 2;
  ASSERT_TRUE(store_->commit(JournalBatch{{finished}, {}}));

  auto alice = store_->sessions(SessionFilter{UserId{"alice"}, std::nullopt});
  ASSERT_TRUE(alice) << alice.error().describe();
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].session_id.str(), "s1");
  EXPECT_EQ((*alice)[0].status, SessionStatus::finished);
  EXPECT_EQ((*alice)[0].output, "done");
  EXPECT_EQ((*alice)[0].usage.model_calls, 2u);
  EXPECT_EQ((*alice)[0].origin, R"({"spec":"x.json"})");
  EXPECT_EQ((*alice)[1].session_id.str(), "s3");
  auto old = store_->sessions(SessionFilter{std::nullopt, 2500});
  ASSERT_TRUE(old);
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].session_id.str(), "s2");
  auto loaded = store_->load(SessionId{"s1"});
  ASSERT_TRUE(loaded && loaded->info);
  EXPECT_EQ(loaded->info->user_id.str(), "alice");
}

TEST_P(JournalStoreTest, erase_deletes_a_session_and_its_steps_and_nothing_else) {
  JournalBatch batch = steps_batch("s1", {node_step("a#1", "x"), node_step("b#1", "y")});
  batch.sessions = {session_info("s1", "alice", 1000), session_info("s2", "alice", 1000)};
  batch.steps.emplace_back(SessionId{"s2"}, node_step("a#1", "z"));
  ASSERT_TRUE(store_->commit(batch));
  auto erased = store_->erase({SessionId{"s1"}, SessionId{"never-existed"}});
  ASSERT_TRUE(erased) << erased.error().describe();
  EXPECT_EQ(*erased, 1u);
  auto gone = store_->load(SessionId{"s1"});
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->info.has_value());
  EXPECT_TRUE(gone->steps.empty());
  auto kept = store_->load(SessionId{"s2"});
  ASSERT_TRUE(kept && kept->info);
  EXPECT_EQ(kept->steps.size(), 1u);
  // An erased session starts afresh.
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "again")})));
  auto again = store_->load(SessionId{"s1"});
  ASSERT_TRUE(again);
  ASSERT_EQ(again->steps.size(), 1u);
  EXPECT_EQ(again->steps[0].output, "again");
}

TEST_P(JournalStoreTest, records_survive_reopening_and_sequence_numbers_keep_growing) {
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "x"), node_step("b#1", "y")})));
  reopen();
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("c#1", "z")})));
  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history) << history.error().describe();
  ASSERT_EQ(history->steps.size(), 3u);
  EXPECT_EQ(history->steps[2].step_name, "c#1");
  EXPECT_GT(history->steps[2].seq, history->steps[1].seq);
}

TEST_P(JournalStoreTest, a_torn_last_record_is_dropped_reported_and_can_be_written_again) {
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "x"), node_step("b#1", "y")})));
  auto before = store_->load(SessionId{"s1"});
  ASSERT_TRUE(before);
  const auto last_seq = before->steps[1].seq;
  store_.reset();
  GetParam().overwrite_step(uri_, "s1", last_seq, "\x01\x02torn");
  reopen();
  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history) << history.error().describe();
  ASSERT_EQ(history->steps.size(), 1u);
  EXPECT_EQ(history->steps[0].step_name, "a#1");
  ASSERT_TRUE(history->dropped_tail.has_value());
  EXPECT_EQ(*history->dropped_tail, "b#1");
  auto rewritten = store_->commit(steps_batch("s1", {node_step("b#1", "y2")}));
  ASSERT_TRUE(rewritten) << rewritten.error().describe();
  EXPECT_EQ((*rewritten)[0].output, "y2");
  auto after = store_->load(SessionId{"s1"});
  ASSERT_TRUE(after);
  ASSERT_EQ(after->steps.size(), 2u);
  EXPECT_EQ(after->steps[1].output, "y2");
  EXPECT_FALSE(after->dropped_tail.has_value());
}

TEST_P(JournalStoreTest, a_corrupt_record_before_the_tail_is_an_error_naming_session_and_step) {
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", "x"), node_step("b#1", "y"), node_step("c#1", "z")})));
  auto before = store_->load(SessionId{"s1"});
  ASSERT_TRUE(before);
  store_.reset();
  auto bytes = std::string("\0\0\0\0garbage", 11);
  GetParam().overwrite_step(uri_, "s1", before->steps[1].seq, bytes);
  reopen();
  auto history = store_->load(SessionId{"s1"});
  ASSERT_FALSE(history);
  EXPECT_EQ(history.error().code, ErrorCode::journal_corrupt);
  EXPECT_NE(history.error().message.find("session 's1'"), std::string::npos) << history.error().message;
  EXPECT_NE(history.error().message.find("step 'b#1'"), std::string::npos) << history.error().message;
}

TEST_P(JournalStoreTest, a_large_output_round_trips_intact) {
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(store_->commit(steps_batch("s1", {node_step("a#1", big)})));
  auto history = store_->load(SessionId{"s1"});
  ASSERT_TRUE(history);
  ASSERT_EQ(history->steps.size(), 1u);
  EXPECT_EQ(history->steps[0].output, big);
}

TEST_P(JournalStoreTest, session_ids_with_nul_bytes_are_refused) {
  auto bad = store_->commit(steps_batch(std::string("a\0b", 3), {node_step("a#1", "x")}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
}

TEST_P(JournalStoreTest, stats_count_sessions_steps_and_bytes) {
  JournalBatch batch = steps_batch("s1", {node_step("a#1", "x"), node_step("b#1", "y")});
  batch.sessions = {session_info("s1", "alice", 1000)};
  ASSERT_TRUE(store_->commit(batch));
  auto stats = store_->stats();
  ASSERT_TRUE(stats) << stats.error().describe();
  EXPECT_EQ(stats->sessions, 1u);
  EXPECT_EQ(stats->steps, 2u);
  EXPECT_GT(stats->bytes, 0u);
}

std::vector<JournalBackend> all_backends() {
  auto out = testing::durable_backends();
  return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalStoreTest, ::testing::ValuesIn(all_backends()),
                         [](const auto& info) { return info.param.name; });

TEST(JournalUri, unknown_schemes_are_refused_with_the_supported_list) {
  auto store = open_journal("mongodb://localhost/x");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(store.error().message.find("rocksdb:PATH"), std::string::npos);
}

TEST(JournalUri, passwords_are_redacted_in_messages) {
  EXPECT_EQ(redact_uri("postgres://loom:s3cret@127.0.0.1:5432/db"), "postgres://loom:***@127.0.0.1:5432/db");
  EXPECT_EQ(redact_uri("postgres://127.0.0.1/db"), "postgres://127.0.0.1/db");
  EXPECT_EQ(redact_uri("rocksdb:/tmp/x"), "rocksdb:/tmp/x");
  EXPECT_EQ(redact_uri("postgres://h/db?user=u&password=s3cret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require");
  EXPECT_EQ(redact_uri("postgresql://h/db?password=x"), "postgresql://h/db?password=***");
}

TEST(JournalUri, a_second_process_style_open_of_a_rocksdb_journal_is_refused_clearly) {
  const std::string uri = "rocksdb:" + testing::temp_path("lock");
  auto first = open_journal(uri);
  ASSERT_TRUE(first);
  auto second = open_journal(uri);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::journal_error);
  EXPECT_NE(second.error().message.find("another process"), std::string::npos) << second.error().message;
  first->reset();
  std::filesystem::remove_all(uri.substr(8));
}

TEST(JournalMemory, behaves_like_a_store_without_durability) {
  auto store = open_journal("memory:");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->commit(steps_batch("s1", {node_step("a#1", "x"), node_step("a#1", "y")})));
  auto history = (*store)->load(SessionId{"s1"});
  ASSERT_TRUE(history);
  ASSERT_EQ(history->steps.size(), 1u);
  EXPECT_EQ(history->steps[0].output, "x");
}

}  // namespace
}  // namespace loomflow
