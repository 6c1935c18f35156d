// Test helpers for the journal backends: a fresh, isolated journal URI per test for each backend,
// and raw access to a stored step record, to inject torn and corrupt writes the way a crash would
// leave them.
//
// PostgreSQL tests use the server named by LOOMFLOW_TEST_POSTGRES_URI (./run.sh test starts one on
// 127.0.0.1). Each test gets its own schema through the URI's `options=-csearch_path=...`. When
// the variable is unset the PostgreSQL cases are skipped with a message — unless
// LOOMFLOW_REQUIRE_POSTGRES=1 (set by ./run.sh test, so CI cannot skip them silently).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <rocksdb/db.h>
#include <sqlite3.h>

namespace loomflow::testing {

inline std::string unique_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 12; ++i) out += digits[rng() % 36];
  return out;
}

inline std::string temp_path(const std::string& stem) {
  auto dir = std::filesystem::temp_directory_path() / ("loomflow-test-" + stem + "-" + unique_suffix());
  return dir.string();
}

inline const char* postgres_base_uri() {
  const char* uri = std::getenv("LOOMFLOW_TEST_POSTGRES_URI");
  return (uri != nullptr && *uri != '\0') ? uri : nullptr;
}

inline bool postgres_required() {
  const char* v = std::getenv("LOOMFLOW_REQUIRE_POSTGRES");
  return v != nullptr && std::string(v) == "1";
}

// Runs one SQL command against the test server; fails the test on error.
inline void postgres_exec(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* res = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(res);
  EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) << PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
}

// A fresh schema on the test server, and a URI whose connections use it.
inline std::string fresh_postgres_uri() {
  const std::string base = postgres_base_uri();
  const std::string schema = "t_" + unique_suffix();
  postgres_exec(base, "CREATE SCHEMA " + schema);
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

struct JournalBackend {
  std::string name;
  std::function<std::string()> fresh_uri;  // a new, empty journal
  // Replaces the stored bytes of step record `seq` of `session` (the store must be closed).
  std::function<void(const std::string& uri, const std::string& session, std::uint64_t seq, const std::string& bytes)>
      overwrite_step;
};

inline void PrintTo(const JournalBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string be64_for_test(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

inline JournalBackend rocksdb_backend() {
  return {"rocksdb", [] { return "rocksdb:" + temp_path("rocks"); },
          [](const std::string& uri, const std::string& session, std::uint64_t seq, const std::string& bytes) {
            rocksdb::DB* raw = nullptr;
            rocksdb::Options options;
            ASSERT_TRUE(rocksdb::DB::Open(options, uri.substr(8), &raw).ok());
            std::unique_ptr<rocksdb::DB> db(raw);
            // Key layout: 's' <session> '\0' <seq BE> <step name>; find the key by its prefix.
            std::string prefix = "s" + session + std::string(1, '\0') + be64_for_test(seq);
            std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
            it->Seek(prefix);
            ASSERT_TRUE(it->Valid() && it->key().starts_with(prefix)) << "no step record " << seq;
            const std::string key = it->key().ToString();
            it.reset();
            rocksdb::WriteOptions sync;
            sync.sync = true;
            ASSERT_TRUE(db->Put(sync, key, bytes).ok());
          }};
}

inline JournalBackend sqlite_backend() {
  return {"sqlite", [] { return "sqlite:" + temp_path("sqlite") + ".db"; },
          [](const std::string& uri, const std::string& session, std::uint64_t seq, const std::string& bytes) {
            sqlite3* db = nullptr;
            ASSERT_EQ(sqlite3_open(uri.substr(7).c_str(), &db), SQLITE_OK);
            sqlite3_stmt* stmt = nullptr;
            ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE steps SET record = ?1 WHERE session_id = ?2 AND seq = ?3", -1,
                                         &stmt, nullptr),
                      SQLITE_OK)
                << sqlite3_errmsg(db);
            sqlite3_bind_blob(stmt, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
            sqlite3_bind_text(stmt, 2, session.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(seq));
            EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(db);
            EXPECT_EQ(sqlite3_changes(db), 1);
            sqlite3_finalize(stmt);
            sqlite3_close(db);
          }};
}

inline JournalBackend postgres_backend() {
  return {"postgres", [] { return fresh_postgres_uri(); },
          [](const std::string& uri, const std::string& session, std::uint64_t seq, const std::string& bytes) {
            PGconn* conn = PQconnectdb(uri.c_str());
            ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
            const std::string seq_text = std::to_string(seq);
            const char* values[] = {bytes.data(), session.c_str(), seq_text.c_str()};
            const int lengths[] = {static_cast<int>(bytes.size()), 0, 0};
            const int formats[] = {1, 0, 0};
            PGresult* res = PQexecParams(
                conn, "UPDATE loomflow_steps SET record = $1 WHERE session_id = $2 AND seq = $3::bigint", 3, nullptr,
                values, lengths, formats, 0);
            EXPECT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQresultErrorMessage(res);
            EXPECT_STREQ(PQcmdTuples(res), "1");
            PQclear(res);
            PQfinish(conn);
          }};
}

// Deletes what a journal URI of these tests left on disk (a RocksDB directory, a SQLite file and
// its -wal/-shm); PostgreSQL schemas are left to the throwaway server.
inline void remove_journal(const std::string& uri) {
  std::error_code ec;
  if (uri.rfind("rocksdb:", 0) == 0) std::filesystem::remove_all(uri.substr(8), ec);
  if (uri.rfind("sqlite:", 0) == 0)
    for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(uri.substr(7) + ext, ec);
}

inline std::vector<JournalBackend> durable_backends() { return {rocksdb_backend(), sqlite_backend(), postgres_backend()}; }

// Call first in a test that uses `backend`: skips PostgreSQL when no server is configured.
#define LOOMFLOW_SKIP_UNAVAILABLE_BACKEND(backend)                                                           \
  do {                                                                                                       \
    if ((backend).name == "postgres" && ::loomflow::testing::postgres_base_uri() == nullptr) {               \
      if (::loomflow::testing::postgres_required())                                                          \
        FAIL() << "LOOMFLOW_REQUIRE_POSTGRES=1 but LOOMFLOW_TEST_POSTGRES_URI is not set";                    \
      GTEST_SKIP() << "set LOOMFLOW_TEST_POSTGRES_URI to run the PostgreSQL cases (./run.sh test does)";     \
    }                                                                                                        \
  } while (0)

}  // namespace loomflow::testing
