// open_journal: picks the backend from the URI scheme.
#include <mutex>

#include "loomflow/journal.hpp"
#include "loomflow/journal/backends.hpp"

namespace loomflow {

namespace {

// Serializes every operation of a backend, so a store may be shared between the runtime's journal
// actor and, say, a CLI listing or a test reading it back. Backends themselves stay single-threaded.
class SerializedStore final : public JournalStore {
 public:
  explicit SerializedStore(std::shared_ptr<JournalStore> inner) : inner_(std::move(inner)) {}
  std::string uri() const override { return inner_->uri(); }
  Expected<SessionHistory> load(const SessionId& session) override {
    std::lock_guard<std::mutex> guard(mutex_);
    return inner_->load(session);
  }
  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    std::lock_guard<std::mutex> guard(mutex_);
    return inner_->commit(std::move(batch));
  }
  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) override {
    std::lock_guard<std::mutex> guard(mutex_);
    return inner_->sessions(filter);
  }
  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override {
    std::lock_guard<std::mutex> guard(mutex_);
    return inner_->erase(ids);
  }
  Expected<JournalStats> stats() override {
    std::lock_guard<std::mutex> guard(mutex_);
    return inner_->stats();
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<JournalStore> inner_;
};

Expected<std::shared_ptr<JournalStore>> serialized(Expected<std::shared_ptr<JournalStore>> store) {
  if (!store) return store;
  return std::shared_ptr<JournalStore>(std::make_shared<SerializedStore>(std::move(*store)));
}

Expected<std::shared_ptr<JournalStore>> open_backend(const std::string& uri) {
  auto starts = [&](std::string_view prefix) { return uri.rfind(prefix, 0) == 0; };
  if (starts("rocksdb:")) return journal::open_rocksdb(uri.substr(8));
  if (starts("sqlite:")) return journal::open_sqlite(uri.substr(7));
  if (starts("postgres://") || starts("postgresql://")) return journal::open_postgres(uri);
  if (uri == "memory:" || uri == "memory") return journal::open_memory();
  return Error{ErrorCode::invalid_argument,
               "journal URI '" + redact_uri(uri) +
                   "' has an unknown scheme; use rocksdb:PATH, sqlite:PATH, postgres://... or memory:"};
}

}  // namespace

std::string_view to_string(JournalStepKind kind) noexcept {
  switch (kind) {
    case JournalStepKind::node: return "node";
    case JournalStepKind::model: return "model";
    case JournalStepKind::tool: return "tool";
    case JournalStepKind::dispatch: return "dispatch";
  }
  return "unknown";
}

std::string_view to_string(SessionStatus status) noexcept {
  switch (status) {
    case SessionStatus::running: return "running";
    case SessionStatus::finished: return "finished";
    case SessionStatus::failed: return "failed";
  }
  return "unknown";
}

std::uint64_t journal_digest(std::string_view data, std::uint64_t seed) noexcept {
  std::uint64_t h = seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string redact_uri(const std::string& uri) {
  std::string out = uri;
  // scheme://user:password@host... → scheme://user:***@host...
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      out = out.substr(0, colon + 1) + "***" + out.substr(at);
  }
  // ...?password=secret&... → ...?password=***&...
  for (std::size_t pos = out.find("password="); pos != std::string::npos; pos = out.find("password=", pos + 1)) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') continue;
    const auto value = pos + 9;
    const auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

Expected<std::shared_ptr<JournalStore>> open_journal(const std::string& uri) { return serialized(open_backend(uri)); }

}  // namespace loomflow
