// The SQLite journal (`sqlite:PATH`): one file, for a single process that wants SQL-inspectable
// journals without a server. Schema (fixed: the torn-tail tests UPDATE `steps` directly), tracked by
// `PRAGMA user_version` = 1:
//   sessions(session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, updated_unix_ms INTEGER NOT NULL,
//            record BLOB NOT NULL)
//   steps(session_id TEXT NOT NULL, seq INTEGER NOT NULL, step_name TEXT NOT NULL, record BLOB NOT NULL,
//         PRIMARY KEY(session_id, seq), UNIQUE(session_id, step_name))
// `record` holds the framed bytes of record_codec.hpp verbatim; the other columns copy fields out of
// it only to index and filter. A batch is one BEGIN IMMEDIATE ... COMMIT in WAL mode with
// synchronous=FULL: atomic, and one fsync of the WAL for all of it.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <sqlite3.h>

#include "loomflow/journal/backends.hpp"
#include "loomflow/journal/history.hpp"
#include "loomflow/journal/record_codec.hpp"

namespace loomflow::journal {

namespace {

// The layout version of this file's tables (not the record schema, which each record carries).
constexpr int kSqliteSchemaVersion = 1;

constexpr const char* kCreateSchema =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS sessions(session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " updated_unix_ms INTEGER NOT NULL, record BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS steps(session_id TEXT NOT NULL, seq INTEGER NOT NULL, step_name TEXT NOT NULL,"
    " record BLOB NOT NULL, PRIMARY KEY(session_id, seq), UNIQUE(session_id, step_name));"
    "PRAGMA user_version = 1;"
    "COMMIT;";

struct DbClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using DbHandle = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

bool is_corruption(int rc) noexcept {
  const int primary = rc & 0xFF;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// The error of a failed SQLite call, read from the connection before anything else can replace it.
Error sqlite_error(sqlite3* db, const std::string& path, const std::string& what, int rc) {
  return Error{is_corruption(rc) ? ErrorCode::journal_corrupt : ErrorCode::journal_error,
               "journal sqlite:" + path + ": " + what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
}

// The bytes of a BLOB or TEXT column, NUL bytes included.
std::string column_bytes(sqlite3_stmt* stmt, int col) {
  const void* data = sqlite3_column_blob(stmt, col);  // before column_bytes, as SQLite asks
  const int size = sqlite3_column_bytes(stmt, col);
  return data != nullptr ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string();
}

// One use of a cached statement. Binds by pointer and length (SQLITE_STATIC: the bound values must
// outlive the Query, which every caller's locals do) and resets on scope exit, so a half-read
// SELECT never pins a read snapshot (which would stall WAL checkpoints) and no binding dangles.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // An empty string_view may carry a null pointer, which SQLite would bind as NULL.
  Query& text(int i, std::string_view v) {
    return note(sqlite3_bind_text64(stmt_, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Query& blob(int i, std::string_view v) {
    return note(sqlite3_bind_blob64(stmt_, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_STATIC));
  }
  Query& int64(int i, std::int64_t v) { return note(sqlite3_bind_int64(stmt_, i, v)); }
  Query& null(int i) { return note(sqlite3_bind_null(stmt_, i)); }

  // SQLITE_ROW, SQLITE_DONE or an error code (a failed bind reports here).
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }
  sqlite3_stmt* get() const noexcept { return stmt_; }

 private:
  Query& note(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Every statement the store runs, prepared once when the journal opens.
struct Statements {
  Stmt begin, commit, rollback;
  Stmt upsert_session, find_step, last_seq, insert_step;
  Stmt read_session, read_steps, delete_step;
  Stmt list_sessions, erase_steps, erase_session, stats;
};

class SqliteStore final : public JournalStore {
 public:
  SqliteStore(DbHandle db, Statements stmts, std::string path)
      : db_(std::move(db)), stmts_(std::move(stmts)), path_(std::move(path)) {}

  // Statements are finalized before the connection closes: members are destroyed in reverse order.
  ~SqliteStore() override = default;

  std::string uri() const override { return "sqlite:" + path_; }

  Expected<SessionHistory> load(const SessionId& session) override {
    if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
    std::optional<std::string> info;
    {
      Query q(stmts_.read_session.get());
      q.text(1, session.str());
      const int rc = q.step();
      if (rc == SQLITE_ROW)
        info = column_bytes(q.get(), 0);
      else if (rc != SQLITE_DONE)
        return failed("reading session '" + session.str() + "'", rc);
    }
    std::vector<RawStep> raw;
    {
      Query q(stmts_.read_steps.get());
      q.text(1, session.str());
      int rc;
      while ((rc = q.step()) == SQLITE_ROW)
        raw.push_back(RawStep{static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)), column_bytes(q.get(), 1),
                              column_bytes(q.get(), 2)});
      if (rc != SQLITE_DONE) return failed("reading the steps of session '" + session.str() + "'", rc);
    }
    auto decoded = decode_history(session, info, std::move(raw));
    if (!decoded) return decoded.error();
    if (decoded->torn_tail) {
      // Deleted (durably: autocommit under synchronous=FULL) so the step can be written again.
      Query q(stmts_.delete_step.get());
      q.text(1, session.str()).int64(2, static_cast<std::int64_t>(decoded->torn_tail->seq));
      if (const int rc = q.step(); rc != SQLITE_DONE) return failed("dropping the torn last record", rc);
    }
    return std::move(decoded->history);
  }

  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    // Refuse bad keys before touching the file, so a refused batch writes nothing.
    for (const auto& info : batch.sessions)
      if (auto ok = check_key_part("session id", info.session_id.str()); !ok) return ok.error();
    for (const auto& [session, step] : batch.steps) {
      if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
      if (auto ok = check_key_part("step name", step.step_name); !ok) return ok.error();
    }
    if (batch.empty()) return std::vector<StepRecord>{};
    const std::string what = "committing " + std::to_string(batch.sessions.size() + batch.steps.size()) + " records";

    Transaction tx(*this);
    if (const int rc = tx.begin(); rc != SQLITE_DONE) return failed(what, rc);
    for (const auto& info : batch.sessions)
      if (auto ok = upsert_session(info, what); !ok) return ok.error();
    std::vector<StepRecord> committed;
    committed.reserve(batch.steps.size());
    std::unordered_map<std::string, std::size_t> in_batch;  // "<session>\0<step>" → index in committed
    for (auto& [session, step] : batch.steps) {
      std::string key = session.str() + std::string(1, '\0') + step.step_name;
      if (auto dup = in_batch.find(key); dup != in_batch.end()) {
        committed.push_back(committed[dup->second]);
        continue;
      }
      auto existing = existing_step(session.str(), step.step_name);
      if (!existing) return existing.error();
      if (*existing) {
        committed.push_back(std::move(**existing));
        continue;
      }
      if (auto ok = insert_step(session.str(), step, what); !ok) return ok.error();
      in_batch.emplace(std::move(key), committed.size());
      committed.push_back(std::move(step));
    }
    if (const int rc = tx.commit(); rc != SQLITE_DONE) return failed(what, rc);
    return committed;
  }

  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) override {
    Query q(stmts_.list_sessions.get());
    if (filter.user_id)
      q.text(1, filter.user_id->str());
    else
      q.null(1);
    if (filter.updated_before_unix_ms)
      q.int64(2, *filter.updated_before_unix_ms);
    else
      q.null(2);
    std::vector<SessionInfo> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      auto info = decode_session(column_bytes(q.get(), 1));
      if (!info)
        return Error{ErrorCode::journal_corrupt,
                     "session '" + column_bytes(q.get(), 0) + "': its session record: " + info.error().message};
      out.push_back(std::move(*info));
    }
    if (rc != SQLITE_DONE) return failed("listing sessions", rc);
    return out;
  }

  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override {
    for (const auto& id : ids)
      if (auto ok = check_key_part("session id", id.str()); !ok) return ok.error();
    Transaction tx(*this);
    if (const int rc = tx.begin(); rc != SQLITE_DONE) return failed("deleting sessions", rc);
    std::size_t n = 0;
    for (const auto& id : ids) {
      {
        Query q(stmts_.erase_steps.get());
        q.text(1, id.str());
        if (const int rc = q.step(); rc != SQLITE_DONE) return failed("deleting sessions", rc);
      }
      Query q(stmts_.erase_session.get());
      q.text(1, id.str());
      if (const int rc = q.step(); rc != SQLITE_DONE) return failed("deleting sessions", rc);
      n += static_cast<std::size_t>(sqlite3_changes(db_.get()));
    }
    if (const int rc = tx.commit(); rc != SQLITE_DONE) return failed("deleting sessions", rc);
    return n;
  }

  Expected<JournalStats> stats() override {
    Query q(stmts_.stats.get());
    if (const int rc = q.step(); rc != SQLITE_ROW) return failed("computing statistics", rc);
    JournalStats out;
    out.sessions = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0));
    out.steps = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 1));
    out.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 2));
    return out;
  }

 private:
  // A write transaction that rolls back unless committed, whatever path leaves the scope.
  class Transaction {
   public:
    explicit Transaction(SqliteStore& store) noexcept : store_(store) {}
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction() {
      // A failed COMMIT may already have rolled back (I/O errors do); ROLLBACK then would fail.
      if (open_ && sqlite3_get_autocommit(store_.db_.get()) == 0) Query(store_.stmts_.rollback.get()).step();
    }
    // IMMEDIATE: take the write lock now, so the existence checks below see what we then write over.
    int begin() {
      const int rc = Query(store_.stmts_.begin.get()).step();
      open_ = rc == SQLITE_DONE;
      return rc;
    }
    int commit() {
      const int rc = Query(store_.stmts_.commit.get()).step();
      if (rc == SQLITE_DONE) open_ = false;
      return rc;
    }

   private:
    SqliteStore& store_;
    bool open_ = false;
  };

  Error failed(const std::string& what, int rc) const { return sqlite_error(db_.get(), path_, what, rc); }

  Expected<void> upsert_session(const SessionInfo& info, const std::string& what) {
    const std::string record = encode_session(info);
    Query q(stmts_.upsert_session.get());
    q.text(1, info.session_id.str()).text(2, info.user_id.str()).int64(3, info.updated_unix_ms).blob(4, record);
    if (const int rc = q.step(); rc != SQLITE_DONE)
      return failed(what + ": writing session '" + info.session_id.str() + "'", rc);
    return {};
  }

  // The stored record of (session, step name), if there is one: first writer wins.
  Expected<std::optional<StepRecord>> existing_step(const std::string& session, const std::string& step_name) {
    Query q(stmts_.find_step.get());
    q.text(1, session).text(2, step_name);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<StepRecord>{};
    if (rc != SQLITE_ROW) return failed("checking step '" + step_name + "'", rc);
    auto step = decode_step(column_bytes(q.get(), 1));
    if (!step)
      return Error{ErrorCode::journal_corrupt,
                   "session '" + session + "', step '" + step_name + "': " + step.error().message};
    step->seq = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0));
    return std::optional<StepRecord>{std::move(*step)};
  }

  // Numbers the step after the session's last one and writes it. The last seq is read inside the
  // write transaction (one index seek), which also sees this batch's earlier inserts, so there is
  // no in-memory counter to fall out of step with a rolled-back transaction or an erase.
  Expected<void> insert_step(const std::string& session, StepRecord& step, const std::string& what) {
    {
      Query q(stmts_.last_seq.get());
      q.text(1, session);
      if (const int rc = q.step(); rc != SQLITE_ROW)
        return failed("finding the last step of session '" + session + "'", rc);
      step.seq = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)) + 1;
    }
    const std::string record = encode_step(step);
    Query q(stmts_.insert_step.get());
    q.text(1, session).int64(2, static_cast<std::int64_t>(step.seq)).text(3, step.step_name).blob(4, record);
    if (const int rc = q.step(); rc != SQLITE_DONE)
      return failed(what + ": writing step '" + step.step_name + "' of session '" + session + "'", rc);
    return {};
  }

  DbHandle db_;  // declared first: closed after every statement below is finalized
  Statements stmts_;
  std::string path_;
};

// Runs a statement that returns at most one row and gives its first column as text ("" when none).
Expected<std::string> pragma(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return sqlite_error(db, path, std::string("running ") + sql, rc);
  std::string value;
  rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) {
    value = column_bytes(stmt.get(), 0);
    rc = sqlite3_step(stmt.get());
  }
  if (rc != SQLITE_DONE) return sqlite_error(db, path, std::string("running ") + sql, rc);
  return value;
}

// Creates the tables of a new file, refuses a file written by a newer Loomflow, and sets the
// per-connection settings the contract needs.
Expected<void> prepare_file(sqlite3* db, const std::string& path) {
  sqlite3_busy_timeout(db, 5000);
  // Read before anything writes to the file: a newer layout must stay untouched. This is also the
  // first read of the file, where a non-database file shows up (SQLITE_NOTADB → journal_corrupt).
  auto version = pragma(db, path, "PRAGMA user_version");
  if (!version) return version.error();
  const int v = std::atoi(version->c_str());
  if (v > kSqliteSchemaVersion)
    return Error{ErrorCode::journal_error, "journal sqlite:" + path + ": the file has schema version " +
                                               std::to_string(v) + ", newer than the " +
                                               std::to_string(kSqliteSchemaVersion) +
                                               " this Loomflow reads; open it with a newer Loomflow"};
  // WAL: a commit appends to one file and syncs it once. FULL: that sync happens on every commit
  // (NORMAL would defer it to checkpoints and lose the last commits on power loss). A filesystem
  // without WAL support leaves the rollback journal, which is still atomic and durable.
  if (auto mode = pragma(db, path, "PRAGMA journal_mode = WAL"); !mode) return mode.error();
  if (auto sync = pragma(db, path, "PRAGMA synchronous = FULL"); !sync) return sync.error();
  if (v < kSqliteSchemaVersion) {
    if (const int rc = sqlite3_exec(db, kCreateSchema, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      Error error = sqlite_error(db, path, "creating the tables", rc);
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return error;
    }
  }
  return {};
}

Expected<Statements> prepare_statements(sqlite3* db, const std::string& path) {
  Statements s;
  const std::pair<Stmt*, const char*> all[] = {
      {&s.begin, "BEGIN IMMEDIATE"},
      {&s.commit, "COMMIT"},
      {&s.rollback, "ROLLBACK"},
      {&s.upsert_session,
       "INSERT INTO sessions(session_id, user_id, updated_unix_ms, record) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(session_id) DO UPDATE SET user_id = excluded.user_id, "
       "updated_unix_ms = excluded.updated_unix_ms, record = excluded.record"},
      {&s.find_step, "SELECT seq, record FROM steps WHERE session_id = ?1 AND step_name = ?2"},
      {&s.last_seq, "SELECT COALESCE(MAX(seq), 0) FROM steps WHERE session_id = ?1"},
      {&s.insert_step, "INSERT INTO steps(session_id, seq, step_name, record) VALUES(?1, ?2, ?3, ?4)"},
      {&s.read_session, "SELECT record FROM sessions WHERE session_id = ?1"},
      {&s.read_steps, "SELECT seq, step_name, record FROM steps WHERE session_id = ?1 ORDER BY seq"},
      {&s.delete_step, "DELETE FROM steps WHERE session_id = ?1 AND seq = ?2"},
      {&s.list_sessions,
       "SELECT session_id, record FROM sessions WHERE (?1 IS NULL OR user_id = ?1) "
       "AND (?2 IS NULL OR updated_unix_ms < ?2) ORDER BY updated_unix_ms DESC, session_id"},
      {&s.erase_steps, "DELETE FROM steps WHERE session_id = ?1"},
      {&s.erase_session, "DELETE FROM sessions WHERE session_id = ?1"},
      {&s.stats,
       "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM steps), "
       "(SELECT COALESCE(SUM(length(record)), 0) FROM sessions) + "
       "(SELECT COALESCE(SUM(length(record)), 0) FROM steps)"},
  };
  for (const auto& [slot, sql] : all) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    slot->reset(raw);
    if (rc != SQLITE_OK) return sqlite_error(db, path, std::string("preparing '") + sql + "'", rc);
  }
  return s;
}

}  // namespace

Expected<std::shared_ptr<JournalStore>> open_sqlite(const std::string& path) {
  if (path.empty()) return Error{ErrorCode::invalid_argument, "journal URI 'sqlite:' needs a file path"};
  // SQLite only says "unable to open database file"; name the actual problem.
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    return Error{ErrorCode::journal_error,
                 "journal sqlite:" + path + ": cannot open: the directory '" + dir.string() + "' does not exist"};
  sqlite3* raw = nullptr;
  // NOMUTEX: a store is used by one thread at a time (journal.hpp), so SQLite's own locking is waste.
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  DbHandle db(raw);  // closed on every early return, even when the open failed
  if (rc != SQLITE_OK) return sqlite_error(db.get(), path, "cannot open", rc);
  sqlite3_extended_result_codes(db.get(), 1);
  if (auto ok = prepare_file(db.get(), path); !ok) return ok.error();
  auto stmts = prepare_statements(db.get(), path);
  if (!stmts) return stmts.error();
  return std::shared_ptr<JournalStore>(std::make_shared<SqliteStore>(std::move(db), std::move(*stmts), path));
}

}  // namespace loomflow::journal
