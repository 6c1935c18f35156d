// loomflow/journal.hpp — the durable journal: every model call, tool dispatch and node step of a
// run, stored under `(session_id, step_name)`, so a run that crashed resumes where it stopped.
//
// Contract of every backend (the same conformance suite runs against each):
// - `commit` writes a batch atomically and durably: when it returns success, every record of the
//   batch survives a crash (SIGKILL, power loss as far as fsync holds). One batch = one sync, which
//   is how the journal actor group-commits the steps of concurrent runs.
// - A step is written once: when `(session, step_name)` already exists (another process or run got
//   there first), the stored record is kept and returned instead — journaled results are
//   exactly-once, first writer wins.
// - `load` returns a session's intact steps in commit order. A torn or corrupt *last* record (a
//   crash mid-write) is dropped and reported in `SessionHistory::dropped_tail`, and deleted so the
//   step can be written again; a corrupt record anywhere else is an Error naming session and step.
// - Storage per step is proportional to what the step produced (its output), never to the run's
//   whole state. Records are Protobuf messages carrying a schema version, framed with a CRC32C.
// Thread-safety: stores from open_journal may be used from any thread; operations are serialized
// (the runtime's journal actor is the one writer on the hot path). Several processes may share a PostgreSQL journal; RocksDB and SQLite journals belong to one
// process at a time (RocksDB refuses a second opener with a clear error).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"
#include "loomflow/message.hpp"
#include "loomflow/provider.hpp"

namespace loomflow {

// What a journaled step is. `dispatch` marks a non-idempotent tool dispatch that started; its
// `tool` record follows when it finished.
enum class JournalStepKind : std::uint8_t { node = 1, model = 2, tool = 3, dispatch = 4 };
std::string_view to_string(JournalStepKind kind) noexcept;

struct StepRecord {
  std::string step_name;
  JournalStepKind kind = JournalStepKind::node;
  std::string name;                   // node, model or tool name
  std::uint64_t input_digest = 0;     // of the step's input: replay must present the same input
  std::string predecessor;            // node steps: the step that handed over (routing checks)
  std::string output;                 // node output or tool result text
  bool is_error = false;              // tool results: the tool reported an error
  ModelResponse response;             // model steps only
  Usage usage;                        // this step's usage (nodes: their subtree)
  std::int64_t started_unix_us = 0;
  std::int64_t duration_us = 0;
  std::uint64_t seq = 0;              // commit order within the session; set by the store
};

enum class SessionStatus : std::uint8_t { running = 1, finished = 2, failed = 3 };
std::string_view to_string(SessionStatus status) noexcept;

// One run's session: who it belongs to, what ran and how it ended.
struct SessionInfo {
  SessionId session_id;
  UserId user_id;
  std::string target;          // the workflow or agent name
  std::string input;
  std::string origin;          // application-defined (the CLI keeps the spec here to resume)
  SessionStatus status = SessionStatus::running;
  std::string output;          // when finished
  Error error{ErrorCode::ok, {}};  // when failed
  Usage usage;
  std::int64_t created_unix_ms = 0;
  std::int64_t updated_unix_ms = 0;
};

struct SessionHistory {
  std::optional<SessionInfo> info;   // empty: the session is new
  std::vector<StepRecord> steps;     // intact steps in commit order
  std::optional<std::string> dropped_tail;  // the torn last record's step name, when one was dropped
};

// One atomic, durable write.
struct JournalBatch {
  std::vector<SessionInfo> sessions;                         // upserted
  std::vector<std::pair<SessionId, StepRecord>> steps;       // inserted unless present
  bool empty() const noexcept { return sessions.empty() && steps.empty(); }
};

struct SessionFilter {
  std::optional<UserId> user_id;
  std::optional<std::int64_t> updated_before_unix_ms;
};

struct JournalStats {
  std::uint64_t sessions = 0;
  std::uint64_t steps = 0;
  std::uint64_t bytes = 0;  // record bytes as stored (framed), not counting the engine's overhead
};

class JournalStore {
 public:
  virtual ~JournalStore() = default;
  // The URI the store was opened with (credentials removed).
  virtual std::string uri() const = 0;
  virtual Expected<SessionHistory> load(const SessionId& session) = 0;
  // Returns the committed record of each step in the batch, in batch order: the one written, or
  // the one that was already there.
  virtual Expected<std::vector<StepRecord>> commit(JournalBatch batch) = 0;
  // Sessions matching the filter, most recently updated first.
  virtual Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) = 0;
  // Deletes sessions with all their steps; returns how many were deleted.
  virtual Expected<std::size_t> erase(const std::vector<SessionId>& sessions) = 0;
  virtual Expected<JournalStats> stats() = 0;
};

// Opens a journal by URI:
//   rocksdb:PATH          the embedded default (a directory, created when missing)
//   sqlite:PATH           a file
//   postgres://... / postgresql://...   a libpq connection URI; tables are created when missing
//   memory:               in-process only, lost at exit (tests, benchmarks)
// Errors name the URI (without its password) and what went wrong.
Expected<std::shared_ptr<JournalStore>> open_journal(const std::string& uri);

// A URI with any password replaced by "***", for messages and listings.
std::string redact_uri(const std::string& uri);

// A stable 64-bit digest (FNV-1a) of step inputs, for divergence checks. Part of the on-disk format.
std::uint64_t journal_digest(std::string_view data, std::uint64_t seed = 0xcbf29ce484222325ULL) noexcept;

}  // namespace loomflow
