// The PostgreSQL journal (`postgres://...` / `postgresql://...`, a libpq connection URI): the
// backend several processes and cluster nodes share. Schema, created at open when missing, in the
// connection's current schema (unqualified names, so `?options=-csearch_path%3D<schema>` picks it):
//   loomflow_meta(key text PRIMARY KEY, value text)        -- schema_version = '1'
//   loomflow_sessions(session_id text PRIMARY KEY, user_id text NOT NULL,
//                     updated_unix_ms bigint NOT NULL, record bytea NOT NULL)
//   loomflow_steps(seq bigserial PRIMARY KEY, session_id text NOT NULL, step_name text NOT NULL,
//                  record bytea NOT NULL, UNIQUE (session_id, step_name))
//   loomflow_steps_session_seq ON loomflow_steps (session_id, seq)
// Records are record_codec.hpp's framed bytes, sent and read verbatim as binary bytea. `seq` comes
// from the bigserial, so it grows across every process writing the journal; first writer wins on
// (session_id, step_name) through the UNIQUE constraint and ON CONFLICT DO NOTHING. A batch is one
// transaction, durable when COMMIT returns (the server's synchronous_commit, on by default).
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

#include <libpq-fe.h>

#include "loomflow/journal/backends.hpp"
#include "loomflow/journal/history.hpp"
#include "loomflow/journal/record_codec.hpp"

namespace loomflow::journal {

namespace {

// Type OIDs from PostgreSQL's catalog; fixed since forever, and libpq-dev does not ship the server
// header that names them.
constexpr Oid kInt8 = 20, kText = 25, kBytea = 17;
constexpr Oid kInt8Array = 1016, kTextArray = 1009, kByteaArray = 1001;

// The table layout this file writes (loomflow_meta.schema_version), not the record schema.
constexpr std::int64_t kTableSchemaVersion = 1;
// pg_advisory_xact_lock key serializing table creation across processes ("Loomflow" in ASCII).
constexpr std::int64_t kSchemaLockKey = 0x4c6f6f6d666c6f77;

constexpr const char* kCreateTables = R"sql(
CREATE TABLE IF NOT EXISTS loomflow_meta (key text PRIMARY KEY, value text);
CREATE TABLE IF NOT EXISTS loomflow_sessions (
  session_id text PRIMARY KEY,
  user_id text NOT NULL,
  updated_unix_ms bigint NOT NULL,
  record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS loomflow_steps (
  seq bigserial PRIMARY KEY,
  session_id text NOT NULL,
  step_name text NOT NULL,
  record bytea NOT NULL,
  UNIQUE (session_id, step_name));
CREATE INDEX IF NOT EXISTS loomflow_steps_session_seq ON loomflow_steps (session_id, seq);
INSERT INTO loomflow_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;
)sql";

// Session upserts; a batch carries each session once (see CommitPlan).
constexpr const char* kUpsertSessions = R"sql(
INSERT INTO loomflow_sessions (session_id, user_id, updated_unix_ms, record)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
ON CONFLICT (session_id) DO UPDATE
  SET user_id = EXCLUDED.user_id, updated_unix_ms = EXCLUDED.updated_unix_ms, record = EXCLUDED.record
)sql";

// All steps of a batch in one statement. ORDER BY position hands out seq in batch order; rows that
// already exist are skipped and absent from RETURNING.
constexpr const char* kInsertSteps = R"sql(
INSERT INTO loomflow_steps (session_id, step_name, record)
SELECT session_id, step_name, record
FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS batch (session_id, step_name, record, position)
ORDER BY position
ON CONFLICT (session_id, step_name) DO NOTHING
RETURNING seq, session_id, step_name
)sql";

// The stored records of steps whose insert conflicted.
constexpr const char* kExistingSteps = R"sql(
SELECT s.seq, s.session_id, s.step_name, s.record
FROM loomflow_steps AS s
JOIN unnest($1::text[], $2::text[]) AS k (session_id, step_name)
  ON s.session_id = k.session_id AND s.step_name = k.step_name
)sql";

// One statement, so the session record and its steps come from one snapshot. part 0 is the
// session record, part 1 the steps.
constexpr const char* kLoadSession = R"sql(
SELECT part, seq, step_name, record FROM (
  SELECT 0::bigint AS part, 0::bigint AS seq, ''::text AS step_name, record
  FROM loomflow_sessions WHERE session_id = $1
  UNION ALL
  SELECT 1, seq, step_name, record FROM loomflow_steps WHERE session_id = $1) AS rows
ORDER BY part, seq
)sql";

constexpr const char* kStats = R"sql(
SELECT (SELECT count(*) FROM loomflow_sessions),
       (SELECT count(*) FROM loomflow_steps),
       (SELECT coalesce(sum(octet_length(record)), 0) FROM loomflow_sessions)::bigint +
       (SELECT coalesce(sum(octet_length(record)), 0) FROM loomflow_steps)::bigint
)sql";

struct ClearResult {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ClearResult>;

// --- binary wire formats ---------------------------------------------------------------------

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::string int8_bytes(std::int64_t value) {
  std::string out;
  const auto v = static_cast<std::uint64_t>(value);
  put_be32(out, static_cast<std::uint32_t>(v >> 32));
  put_be32(out, static_cast<std::uint32_t>(v));
  return out;
}

// A one-dimensional array without NULLs in array_recv's binary layout: ndim, has-nulls flag,
// element type, then (length, lower bound) and each element as (byte length, bytes).
std::string binary_array(Oid element_type, const std::vector<std::string>& elements) {
  std::size_t size = 20;
  for (const auto& e : elements) size += 4 + e.size();
  std::string out;
  out.reserve(size);
  put_be32(out, 1);
  put_be32(out, 0);
  put_be32(out, element_type);
  put_be32(out, static_cast<std::uint32_t>(elements.size()));
  put_be32(out, 1);
  for (const auto& e : elements) {
    put_be32(out, static_cast<std::uint32_t>(e.size()));
    out += e;
  }
  return out;
}

std::string bytes_at(const PGresult* res, int row, int col) {
  return std::string(PQgetvalue(res, row, col), static_cast<std::size_t>(PQgetlength(res, row, col)));
}

// A binary int8 column: 8 bytes, big-endian.
std::int64_t int8_at(const PGresult* res, int row, int col) {
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(res, row, col));
  std::uint64_t v = 0;
  for (int i = 0; i < 8 && i < PQgetlength(res, row, col); ++i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

// seq and counts: never negative.
std::uint64_t uint8_at(const PGresult* res, int row, int col) {
  return static_cast<std::uint64_t>(int8_at(res, row, col));
}

// The parameters of one statement. Everything goes in binary format: records need no escaping,
// and ids need no NUL terminator.
class Params {
 public:
  Params& text(std::string value) { return add(kText, std::move(value)); }
  Params& int8(std::int64_t value) { return add(kInt8, int8_bytes(value)); }
  Params& array(Oid array_type, Oid element_type, const std::vector<std::string>& elements) {
    return add(array_type, binary_array(element_type, elements));
  }
  int size() const noexcept { return static_cast<int>(values_.size()); }

  Result exec(PGconn* conn, const char* sql) const {
    // Pointers are taken here, not in add(): moving strings inside the vector moves short ones' bytes.
    std::vector<const char*> values;
    std::vector<int> lengths, formats(values_.size(), 1);
    for (const auto& v : values_) {
      values.push_back(v.data());
      lengths.push_back(static_cast<int>(v.size()));
    }
    return Result(PQexecParams(conn, sql, size(), types_.data(), values.data(), lengths.data(), formats.data(),
                               /*resultFormat=*/1));
  }

 private:
  Params& add(Oid type, std::string bytes) {
    types_.push_back(type);
    values_.push_back(std::move(bytes));
    return *this;
  }
  std::vector<Oid> types_;
  std::vector<std::string> values_;
};

// --- messages --------------------------------------------------------------------------------

// libpq messages end in a newline and may span lines ("...failed: ...\n\tIs the server running");
// an Error message is one line.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void replace_all(std::string& text, const std::string& from, std::string_view to) {
  if (from.empty()) return;
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// The password of a connection URI in every form it can take: as written after "user:" or in a
// `password=` query parameter (libpq echoes URI fragments it cannot parse), and as libpq decodes it.
std::vector<std::string> passwords_in(const std::string& uri) {
  std::vector<std::string> out;
  auto keep = [&](std::string s) {
    if (!s.empty()) out.push_back(std::move(s));
  };
  // Mirrors redact_uri's reading of "scheme://user:password@host".
  if (auto scheme = uri.find("://"); scheme != std::string::npos) {
    auto at = uri.find('@', scheme + 3);
    auto colon = uri.find(':', scheme + 3);
    if (at != std::string::npos && colon < at) keep(uri.substr(colon + 1, at - colon - 1));
  }
  if (auto query = uri.find('?'); query != std::string::npos) {
    for (auto at = uri.find("password=", query); at != std::string::npos; at = uri.find("password=", at + 1)) {
      auto begin = at + 9;
      keep(uri.substr(begin, uri.find('&', begin) - begin));
    }
  }
  char* error = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error)) {
    for (auto* o = options; o->keyword != nullptr; ++o)
      if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr) keep(o->val);
    PQconninfoFree(options);
  }
  PQfreemem(error);
  // Longest first, so a password containing another is replaced whole.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

// --- the store -------------------------------------------------------------------------------

// A batch reduced to what the database must do.
struct CommitPlan {
  // Session upserts, each id once with the batch's last version of it (ON CONFLICT DO UPDATE cannot
  // touch a row twice in one statement), sorted by id so concurrent committers lock rows in one order.
  std::vector<std::string> session_ids, user_ids, updated_ms, session_records;
  // Step inserts: the first of each (session, step name), in batch order.
  std::vector<std::string> step_sessions, step_names, step_records;
  std::vector<StepRecord> steps;                          // the same steps, to return
  std::unordered_map<std::string, std::size_t> index;     // "<session>\0<step>" → index in steps
  std::vector<std::size_t> step_of;                       // batch position → index in steps

  std::size_t records() const noexcept { return session_ids.size() + steps.size(); }
};

std::string step_key(std::string_view session, std::string_view step_name) {
  std::string key;
  key.reserve(session.size() + 1 + step_name.size());
  key.append(session).push_back('\0');  // neither part contains NUL (check_key_part)
  key.append(step_name);
  return key;
}

// What the database kept for one step of a plan: the seq it just gave it, or the record that was
// already there.
struct Kept {
  std::uint64_t seq = 0;  // 0: not inserted (bigserial starts at 1)
  std::optional<StepRecord> existing;
};

class PgStore final : public JournalStore {
 public:
  explicit PgStore(const std::string& uri) : secrets_(passwords_in(uri)), shown_(scrub(redact_uri(uri))) {
    // client_encoding first so a URI that names one overrides it (later settings win).
    const char* keys[] = {"client_encoding", "fallback_application_name", "dbname", nullptr};
    const char* values[] = {"UTF8", "loomflow", uri.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    // libpq prints server notices ("relation ... already exists, skipping") to stderr by default; a
    // library has no business writing there. PQreset keeps the processor.
    if (conn_ != nullptr) PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~PgStore() override { PQfinish(conn_); }
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // Connects and makes sure the tables exist in a version this file understands.
  Expected<void> open() {
    if (conn_ == nullptr) return failure("cannot connect", "out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) return failed("cannot connect");
    auto present = tables_present();
    if (!present) return present.error();
    if (!*present) {
      if (auto created = create_tables(); !created) return created;
    }
    return check_schema_version();
  }

  std::string uri() const override { return shown_; }

  Expected<SessionHistory> load(const SessionId& session) override {
    if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
    return retrying([&] { return load_once(session); });
  }

  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    auto plan = plan_commit(batch);
    if (!plan) return plan.error();
    if (plan->records() == 0) return std::vector<StepRecord>{};
    auto kept = transaction<std::vector<Kept>>("committing " + std::to_string(plan->records()) + " records",
                                               [&](const std::string& what) { return write_batch(*plan, what); });
    if (!kept) return kept.error();
    return committed_records(std::move(*plan), std::move(*kept));
  }

  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) override {
    return retrying([&] { return sessions_once(filter); });
  }

  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override {
    std::vector<std::string> keys;
    for (const auto& id : ids) {
      if (auto ok = check_key_part("session id", id.str()); !ok) return ok.error();
      keys.push_back(id.str());
    }
    if (keys.empty()) return std::size_t{0};
    return transaction<std::size_t>("deleting sessions", [&](const std::string& what) -> Expected<std::size_t> {
      Params p;
      p.array(kTextArray, kText, keys);
      if (auto r = run(what, "DELETE FROM loomflow_steps WHERE session_id = ANY($1)", p, PGRES_COMMAND_OK); !r)
        return r.error();
      auto r = run(what, "DELETE FROM loomflow_sessions WHERE session_id = ANY($1)", p, PGRES_COMMAND_OK);
      if (!r) return r.error();
      return static_cast<std::size_t>(std::strtoull(PQcmdTuples(r->get()), nullptr, 10));
    });
  }

  Expected<JournalStats> stats() override {
    return retrying([&]() -> Expected<JournalStats> {
      auto r = run("computing statistics", kStats, Params{}, PGRES_TUPLES_OK);
      if (!r) return r.error();
      const PGresult* res = r->get();
      return JournalStats{uint8_at(res, 0, 0), uint8_at(res, 0, 1), uint8_at(res, 0, 2)};
    });
  }

 private:
  // --- errors ---

  std::string scrub(std::string text) const {
    for (const auto& secret : secrets_) replace_all(text, secret, "***");
    return text;
  }

  Error failure(const std::string& what, std::string_view detail) const {
    return Error{ErrorCode::journal_error, scrub("journal " + shown_ + ": " + what + ": " + one_line(detail))};
  }
  Error failed(const std::string& what) const { return failure(what, PQerrorMessage(conn_)); }
  Error failed(const std::string& what, const PGresult* res) const {
    const char* message = res != nullptr ? PQresultErrorMessage(res) : "";
    return failure(what, *message != '\0' ? message : PQerrorMessage(conn_));
  }

  // Runs one statement; anything but `want` is an Error saying what was being done.
  Expected<Result> run(const std::string& what, const char* sql, const Params& params, ExecStatusType want) {
    Result res = params.exec(conn_, sql);
    if (!res || PQresultStatus(res.get()) != want) return failed(what, res.get());
    return res;
  }

  // --- connection loss ---

  bool connection_lost() const { return PQstatus(conn_) == CONNECTION_BAD; }

  Expected<void> reconnect(const std::string& cause) {
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    return Error{ErrorCode::journal_error, cause + "; reconnecting failed: " + scrub(one_line(PQerrorMessage(conn_)))};
  }

  // An earlier operation may have lost the connection (a commit whose outcome was unknown): start
  // every operation on a working one.
  Expected<void> ensure_connected() {
    if (!connection_lost()) return {};
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    return failed("reconnecting");
  }

  // Read-only operations: a lost connection (server restart, failover, idle timeout) is
  // reconnected once and the operation run again.
  template <class Op>
  auto retrying(Op&& op) -> decltype(op()) {
    if (auto ok = ensure_connected(); !ok) return ok.error();
    auto out = op();
    if (out || !connection_lost()) return out;
    if (auto ok = reconnect(out.error().message); !ok) return ok.error();
    return op();
  }

  // Runs `body` between BEGIN and COMMIT. A connection lost before COMMIT was sent committed
  // nothing, so it is reconnected and the whole transaction run once more; lost after, the outcome
  // is unknown and reported, never guessed.
  template <class T, class Body>
  Expected<T> transaction(const std::string& what, Body&& body) {
    if (auto ok = ensure_connected(); !ok) return ok.error();
    for (int attempt = 1;; ++attempt) {
      bool commit_sent = false;
      auto out = transaction_once<T>(what, body, commit_sent);
      if (out || commit_sent || attempt == 2 || !connection_lost()) return out;
      if (auto ok = reconnect(out.error().message); !ok) return ok.error();
    }
  }

  template <class T, class Body>
  Expected<T> transaction_once(const std::string& what, Body& body, bool& commit_sent) {
    if (auto r = run(what, "BEGIN", Params{}, PGRES_COMMAND_OK); !r) return r.error();
    Expected<T> out = body(what);
    if (!out) {
      rollback();
      return out;
    }
    commit_sent = true;
    auto r = run(what, "COMMIT", Params{}, PGRES_COMMAND_OK);
    if (!r && connection_lost())
      return Error{ErrorCode::journal_error, r.error().message + " (the connection was lost after COMMIT was sent: "
                                                                  "whether the batch is stored is unknown)"};
    if (!r) {
      rollback();
      return r.error();
    }
    // COMMIT of a transaction that failed earlier succeeds as "ROLLBACK": nothing was written.
    if (std::strcmp(PQcmdStatus(r->get()), "COMMIT") != 0)
      return failure(what, "the server rolled the transaction back");
    return out;
  }

  // Leaves the connection idle after a failed transaction, so the next operation can BEGIN.
  void rollback() {
    if (connection_lost()) return;
    const auto status = PQtransactionStatus(conn_);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR) PQclear(PQexec(conn_, "ROLLBACK"));
  }

  // --- opening ---

  Expected<bool> tables_present() {
    auto r = run("checking the tables",
                 "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                 "AND tablename IN ('loomflow_meta', 'loomflow_sessions', 'loomflow_steps')",
                 Params{}, PGRES_TUPLES_OK);
    if (!r) return r.error();
    return int8_at(r->get(), 0, 0) == 3;
  }

  // CREATE TABLE IF NOT EXISTS is not safe against a concurrent creator (both pass the check and
  // one fails on the catalog's unique index): processes opening a new journal at once take turns.
  Expected<void> create_tables() {
    const std::string sql = "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLockKey) + ");" +
                            kCreateTables + "COMMIT;";
    Result res(PQexec(conn_, sql.c_str()));
    if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) return {};
    auto err = failed("creating the tables", res.get());
    rollback();
    return err;
  }

  Expected<void> check_schema_version() {
    auto r = run("reading the schema version", "SELECT value FROM loomflow_meta WHERE key = 'schema_version'", Params{},
                 PGRES_TUPLES_OK);
    if (!r) return r.error();
    if (PQntuples(r->get()) == 0) return failure("reading the schema version", "loomflow_meta has no schema_version");
    const std::string text = bytes_at(r->get(), 0, 0);
    std::int64_t version = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (ec != std::errc{} || end != text.data() + text.size() || version < 1)
      return failure("reading the schema version", "unrecognised schema_version '" + text + "'");
    if (version > kTableSchemaVersion)
      return failure("opening", "its tables have schema version " + text +
                                    ", newer than this build of Loomflow supports (" +
                                    std::to_string(kTableSchemaVersion) + "); upgrade Loomflow to use this journal");
    return {};
  }

  // --- load ---

  Expected<SessionHistory> load_once(const SessionId& session) {
    const std::string what = "reading session '" + session.str() + "'";
    auto r = run(what, kLoadSession, Params{}.text(session.str()), PGRES_TUPLES_OK);
    if (!r) return r.error();
    const PGresult* res = r->get();
    std::optional<std::string> info;
    std::vector<RawStep> raw;
    for (int row = 0; row < PQntuples(res); ++row) {
      if (int8_at(res, row, 0) == 0)
        info = bytes_at(res, row, 3);
      else
        raw.push_back(RawStep{uint8_at(res, row, 1), bytes_at(res, row, 2), bytes_at(res, row, 3)});
    }
    r->reset();
    auto decoded = decode_history(session, info, std::move(raw));
    if (!decoded) return decoded.error();
    if (decoded->torn_tail) {
      Params p;
      p.int8(static_cast<std::int64_t>(decoded->torn_tail->seq)).text(session.str());
      if (auto d = run("dropping the torn last record of session '" + session.str() + "'",
                       "DELETE FROM loomflow_steps WHERE seq = $1 AND session_id = $2", p, PGRES_COMMAND_OK);
          !d)
        return d.error();
    }
    return std::move(decoded->history);
  }

  // --- commit ---

  static Expected<CommitPlan> plan_commit(JournalBatch& batch) {
    CommitPlan plan;
    std::map<std::string, const SessionInfo*> latest;
    for (const auto& info : batch.sessions) {
      if (auto ok = check_key_part("session id", info.session_id.str()); !ok) return ok.error();
      latest[info.session_id.str()] = &info;
    }
    for (const auto& [id, info] : latest) {
      plan.session_ids.push_back(id);
      plan.user_ids.push_back(info->user_id.str());
      plan.updated_ms.push_back(int8_bytes(info->updated_unix_ms));
      plan.session_records.push_back(encode_session(*info));
    }
    for (auto& [session, step] : batch.steps) {
      if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
      if (auto ok = check_key_part("step name", step.step_name); !ok) return ok.error();
      auto [it, first] = plan.index.try_emplace(step_key(session.str(), step.step_name), plan.steps.size());
      plan.step_of.push_back(it->second);
      if (!first) continue;  // repeated in the batch: it gets the first one's record
      plan.step_sessions.push_back(session.str());
      plan.step_names.push_back(step.step_name);
      plan.step_records.push_back(encode_step(step));
      plan.steps.push_back(std::move(step));
    }
    return plan;
  }

  // The statements of one commit; runs inside transaction(), possibly twice, so it only reads `plan`.
  Expected<std::vector<Kept>> write_batch(const CommitPlan& plan, const std::string& what) {
    if (!plan.session_ids.empty()) {
      Params p;
      p.array(kTextArray, kText, plan.session_ids)
          .array(kTextArray, kText, plan.user_ids)
          .array(kInt8Array, kInt8, plan.updated_ms)
          .array(kByteaArray, kBytea, plan.session_records);
      if (auto r = run(what + ": upserting sessions", kUpsertSessions, p, PGRES_COMMAND_OK); !r) return r.error();
    }
    std::vector<Kept> kept(plan.steps.size());
    if (plan.steps.empty()) return kept;
    Params p;
    p.array(kTextArray, kText, plan.step_sessions)
        .array(kTextArray, kText, plan.step_names)
        .array(kByteaArray, kBytea, plan.step_records);
    auto r = run(what + ": inserting steps", kInsertSteps, p, PGRES_TUPLES_OK);
    if (!r) return r.error();
    const PGresult* res = r->get();
    for (int row = 0; row < PQntuples(res); ++row) {
      auto found = plan.index.find(step_key(bytes_at(res, row, 1), bytes_at(res, row, 2)));
      if (found != plan.index.end()) kept[found->second].seq = uint8_at(res, row, 0);
    }
    if (static_cast<std::size_t>(PQntuples(res)) == plan.steps.size()) return kept;
    if (auto ok = read_existing(plan, kept, what); !ok) return ok.error();
    return kept;
  }

  // First writer wins: for every step another writer stored first, its stored record.
  Expected<void> read_existing(const CommitPlan& plan, std::vector<Kept>& kept, const std::string& what) {
    std::vector<std::string> sessions, names;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      if (kept[i].seq != 0) continue;
      sessions.push_back(plan.step_sessions[i]);
      names.push_back(plan.step_names[i]);
    }
    Params p;
    p.array(kTextArray, kText, sessions).array(kTextArray, kText, names);
    auto r = run(what + ": reading existing steps", kExistingSteps, p, PGRES_TUPLES_OK);
    if (!r) return r.error();
    const PGresult* res = r->get();
    for (int row = 0; row < PQntuples(res); ++row) {
      const std::string session = bytes_at(res, row, 1), name = bytes_at(res, row, 2);
      auto found = plan.index.find(step_key(session, name));
      if (found == plan.index.end()) continue;
      auto step = decode_step(bytes_at(res, row, 3));
      if (!step)
        return Error{ErrorCode::journal_corrupt,
                     "session '" + session + "', step '" + name + "': " + step.error().message};
      step->seq = uint8_at(res, row, 0);
      kept[found->second].existing = std::move(*step);
    }
    for (std::size_t i = 0; i < kept.size(); ++i)
      if (kept[i].seq == 0 && !kept[i].existing)
        // It conflicted, then vanished: another process erased the session or dropped it as a torn tail.
        return failure(what, "step '" + plan.step_names[i] + "' of session '" + plan.step_sessions[i] +
                               "' was deleted by another writer during the commit; commit again");
    return {};
  }

  // The committed record of every batch step, in batch order.
  static std::vector<StepRecord> committed_records(CommitPlan plan, std::vector<Kept> kept) {
    std::vector<StepRecord> unique;
    unique.reserve(kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      if (kept[i].existing) {
        unique.push_back(std::move(*kept[i].existing));
      } else {
        plan.steps[i].seq = kept[i].seq;
        unique.push_back(std::move(plan.steps[i]));
      }
    }
    std::vector<std::size_t> uses(unique.size(), 0);
    for (auto i : plan.step_of) ++uses[i];
    std::vector<StepRecord> out;
    out.reserve(plan.step_of.size());
    for (auto i : plan.step_of) out.push_back(--uses[i] == 0 ? std::move(unique[i]) : unique[i]);
    return out;
  }

  // --- sessions ---

  Expected<std::vector<SessionInfo>> sessions_once(const SessionFilter& filter) {
    std::string sql = "SELECT session_id, record FROM loomflow_sessions";
    Params p;
    std::vector<std::string> where;
    if (filter.user_id) {
      p.text(filter.user_id->str());
      where.push_back("user_id = $" + std::to_string(p.size()));
    }
    if (filter.updated_before_unix_ms) {
      p.int8(*filter.updated_before_unix_ms);
      where.push_back("updated_unix_ms < $" + std::to_string(p.size()));
    }
    for (std::size_t i = 0; i < where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += " ORDER BY updated_unix_ms DESC, session_id";
    auto r = run("listing sessions", sql.c_str(), p, PGRES_TUPLES_OK);
    if (!r) return r.error();
    const PGresult* res = r->get();
    std::vector<SessionInfo> out;
    out.reserve(static_cast<std::size_t>(PQntuples(res)));
    for (int row = 0; row < PQntuples(res); ++row) {
      auto info = decode_session(bytes_at(res, row, 1));
      if (!info)
        return Error{ErrorCode::journal_corrupt,
                     "session '" + bytes_at(res, row, 0) + "': its session record: " + info.error().message};
      out.push_back(std::move(*info));
    }
    return out;
  }

  std::vector<std::string> secrets_;  // before shown_, which is scrubbed with them
  std::string shown_;                 // the URI for messages: password redacted
  PGconn* conn_ = nullptr;
};

}  // namespace

Expected<std::shared_ptr<JournalStore>> open_postgres(const std::string& uri) {
  auto store = std::make_shared<PgStore>(uri);
  if (auto ok = store->open(); !ok) return ok.error();
  return std::shared_ptr<JournalStore>(std::move(store));
}

}  // namespace loomflow::journal
