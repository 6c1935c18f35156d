// The in-process journal (`memory:`): the same contract as the durable backends, minus durability.
// Records are kept encoded, so it exercises the same codec and reports the same sizes.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "loomflow/journal/backends.hpp"
#include "loomflow/journal/history.hpp"
#include "loomflow/journal/record_codec.hpp"

namespace loomflow::journal {

namespace {

class MemoryStore final : public JournalStore {
 public:
  std::string uri() const override { return "memory:"; }

  Expected<SessionHistory> load(const SessionId& session) override {
    if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
    auto it = sessions_.find(session.str());
    if (it == sessions_.end()) return SessionHistory{};
    std::vector<RawStep> raw;
    for (const auto& [seq, step] : it->second.steps) raw.push_back(step);
    auto decoded = decode_history(session, it->second.info, std::move(raw));
    if (!decoded) return decoded.error();
    return std::move(decoded->history);
  }

  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    for (const auto& [session, step] : batch.steps) {
      if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
      if (auto ok = check_key_part("step name", step.step_name); !ok) return ok.error();
    }
    for (auto& info : batch.sessions) {
      if (auto ok = check_key_part("session id", info.session_id.str()); !ok) return ok.error();
      sessions_[info.session_id.str()].info = encode_session(info);
    }
    std::vector<StepRecord> committed;
    committed.reserve(batch.steps.size());
    for (auto& [session, step] : batch.steps) {
      auto& entry = sessions_[session.str()];
      auto found = entry.by_name.find(step.step_name);
      if (found != entry.by_name.end()) {
        auto existing = decode_step(entry.steps.at(found->second).bytes);
        if (!existing) return existing.error();
        existing->seq = found->second;
        committed.push_back(std::move(*existing));
        continue;
      }
      step.seq = ++entry.last_seq;
      entry.by_name.emplace(step.step_name, step.seq);
      entry.steps.emplace(step.seq, RawStep{step.seq, step.step_name, encode_step(step)});
      committed.push_back(std::move(step));
    }
    return committed;
  }

  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) override {
    std::vector<SessionInfo> out;
    for (const auto& [id, entry] : sessions_) {
      if (!entry.info) continue;
      auto info = decode_session(*entry.info);
      if (!info) return info.error();
      if (filter.user_id && info->user_id != *filter.user_id) continue;
      if (filter.updated_before_unix_ms && info->updated_unix_ms >= *filter.updated_before_unix_ms) continue;
      out.push_back(std::move(*info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.updated_unix_ms > b.updated_unix_ms; });
    return out;
  }

  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override {
    std::size_t n = 0;
    for (const auto& id : ids) n += sessions_.erase(id.str());
    return n;
  }

  Expected<JournalStats> stats() override {
    JournalStats s;
    for (const auto& [id, entry] : sessions_) {
      if (entry.info) {
        ++s.sessions;
        s.bytes += entry.info->size();
      }
      for (const auto& [seq, step] : entry.steps) {
        ++s.steps;
        s.bytes += step.bytes.size();
      }
    }
    return s;
  }

 private:
  struct Entry {
    std::optional<std::string> info;
    std::map<std::uint64_t, RawStep> steps;
    std::unordered_map<std::string, std::uint64_t> by_name;
    std::uint64_t last_seq = 0;
  };
  std::unordered_map<std::string, Entry> sessions_;
};

}  // namespace

Expected<std::shared_ptr<JournalStore>> open_memory() { return std::shared_ptr<JournalStore>(std::make_shared<MemoryStore>()); }

}  // namespace loomflow::journal
