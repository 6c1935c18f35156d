// The RocksDB journal (`rocksdb:PATH`), the embedded default. Key layout (documented because the
// torn-tail tests write raw records):
//   'm' <session>                          → session record
//   's' <session> '\0' <seq: 8 bytes BE> <step name>  → step record (ordered by commit)
// A batch is one WriteBatch written with sync=true: atomic, and one fdatasync for all of it.
// "Is this step already written?" is answered from an in-memory index of the session's step
// names, built from its keys on first use (RocksDB journals belong to one process, so the index
// cannot go stale) and dropped when the session ends: one key per step, no secondary index.
// RocksDB's own WAL recovery (point-in-time) drops a torn WAL tail; our CRC catches the rest.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "loomflow/detail/big_endian.hpp"
#include "loomflow/journal/backends.hpp"
#include "loomflow/journal/history.hpp"
#include "loomflow/journal/record_codec.hpp"

namespace loomflow::journal {

namespace {

using detail::be64;
using detail::read_be64;

std::string session_key(const std::string& session) { return "m" + session; }
std::string steps_prefix(const std::string& session) { return "s" + session + std::string(1, '\0'); }

class RocksStore final : public JournalStore {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::string path) : db_(std::move(db)), path_(std::move(path)) {
    sync_.sync = true;
  }

  std::string uri() const override { return "rocksdb:" + path_; }

  Expected<SessionHistory> load(const SessionId& session) override {
    if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
    std::optional<std::string> info;
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), session_key(session.str()), &value);
    if (s.ok())
      info = std::move(value);
    else if (!s.IsNotFound())
      return failed("reading session '" + session.str() + "'", s);
    std::vector<RawStep> raw;
    const std::string prefix = steps_prefix(session.str());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto rest = it->key().ToStringView().substr(prefix.size());
      if (rest.size() < 8) return Error{ErrorCode::journal_corrupt, "session '" + session.str() + "': a step key is truncated"};
      raw.push_back(RawStep{read_be64(rest), std::string(rest.substr(8)), it->value().ToString()});
    }
    if (!it->status().ok()) return failed("reading the steps of session '" + session.str() + "'", it->status());
    auto decoded = decode_history(session, info, std::move(raw));
    if (!decoded) return decoded.error();
    if (decoded->torn_tail) {
      rocksdb::WriteBatch batch;
      batch.Delete(prefix + be64(decoded->torn_tail->seq) + decoded->torn_tail->step_name);
      if (auto w = db_->Write(sync_, &batch); !w.ok()) return failed("dropping the torn last record", w);
    }
    if (!decoded->history.steps.empty()) next_seq_[session.str()] = decoded->history.steps.back().seq + 1;
    // A loaded session is about to run: its step names answer "already written?" from memory.
    auto& known = known_[session.str()];
    known.clear();
    for (const auto& step : decoded->history.steps) known.emplace(step.step_name, step.seq);
    return std::move(decoded->history);
  }

  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    rocksdb::WriteBatch write;
    for (auto& info : batch.sessions) {
      if (auto ok = check_key_part("session id", info.session_id.str()); !ok) return ok.error();
      write.Put(session_key(info.session_id.str()), encode_session(info));
    }
    std::vector<StepRecord> committed;
    committed.reserve(batch.steps.size());
    std::unordered_map<std::string, std::size_t> in_batch;  // "<session>\0<step>" → index in committed
    for (auto& [session, step] : batch.steps) {
      if (auto ok = check_key_part("session id", session.str()); !ok) return ok.error();
      if (auto ok = check_key_part("step name", step.step_name); !ok) return ok.error();
      std::string name_key = session.str() + std::string(1, '\0') + step.step_name;
      if (auto dup = in_batch.find(name_key); dup != in_batch.end()) {
        committed.push_back(committed[dup->second]);
        continue;
      }
      auto existing_seq = written_seq(session.str(), step.step_name);
      if (!existing_seq) return existing_seq.error();
      if (*existing_seq) {
        auto existing = existing_step(session.str(), step.step_name, **existing_seq);
        if (!existing) return existing.error();
        committed.push_back(std::move(*existing));
        continue;
      }
      auto seq = next_seq(session.str());
      if (!seq) return seq.error();
      step.seq = *seq;
      write.Put(steps_prefix(session.str()) + be64(step.seq) + step.step_name, encode_step(step));
      in_batch.emplace(std::move(name_key), committed.size());
      committed.push_back(std::move(step));
    }
    if (write.Count() > 0) {
      if (auto s = db_->Write(sync_, &write); !s.ok()) {
        next_seq_.clear();  // the sequence numbers handed out above were not used
        known_.clear();
        return failed("committing " + std::to_string(write.Count()) + " records", s);
      }
    }
    for (std::size_t i = 0; i < committed.size(); ++i) {  // (the batch's records were moved out)
      auto it = known_.find(batch.steps[i].first.str());
      if (it != known_.end()) it->second.emplace(committed[i].step_name, committed[i].seq);
    }
    // A session that ended will not be written to again soon: drop what we remember of it.
    for (const auto& info : batch.sessions)
      if (info.status != SessionStatus::running) forget(info.session_id.str());
    return committed;
  }

  Expected<std::vector<SessionInfo>> sessions(const SessionFilter& filter) override {
    std::vector<SessionInfo> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("m"); it->Valid() && it->key().starts_with("m"); it->Next()) {
      auto info = decode_session(it->value().ToStringView());
      if (!info)
        return Error{ErrorCode::journal_corrupt,
                     "session '" + it->key().ToString().substr(1) + "': its session record: " + info.error().message};
      if (filter.user_id && info->user_id != *filter.user_id) continue;
      if (filter.updated_before_unix_ms && info->updated_unix_ms >= *filter.updated_before_unix_ms) continue;
      out.push_back(std::move(*info));
    }
    if (!it->status().ok()) return failed("listing sessions", it->status());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.updated_unix_ms > b.updated_unix_ms; });
    return out;
  }

  Expected<std::size_t> erase(const std::vector<SessionId>& ids) override {
    rocksdb::WriteBatch batch;
    std::size_t n = 0;
    for (const auto& id : ids) {
      if (auto ok = check_key_part("session id", id.str()); !ok) return ok.error();
      std::string value;
      auto s = db_->Get(rocksdb::ReadOptions(), session_key(id.str()), &value);
      if (s.ok()) ++n;
      batch.Delete(session_key(id.str()));
      const std::string prefix = steps_prefix(id.str());
      std::string end = prefix;
      end.back() = '\x01';  // every step key of the session sorts below "<prefix minus NUL>\x01"
      batch.DeleteRange(prefix, end);
      forget(id.str());
    }
    if (auto s = db_->Write(sync_, &batch); !s.ok()) return failed("deleting sessions", s);
    // Space is reclaimed as RocksDB compacts; nudge it so pruning shows on disk.
    db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr);
    return n;
  }

  Expected<JournalStats> stats() override {
    JournalStats out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const char tag = it->key().size() > 0 ? it->key()[0] : '?';
      if (tag == 'm') ++out.sessions;
      if (tag == 's') ++out.steps;
      if (tag == 'm' || tag == 's') out.bytes += it->value().size();
    }
    if (!it->status().ok()) return failed("computing statistics", it->status());
    return out;
  }

 private:
  Error failed(const std::string& what, const rocksdb::Status& s) const {
    return Error{s.IsCorruption() ? ErrorCode::journal_corrupt : ErrorCode::journal_error,
                 "journal rocksdb:" + path_ + ": " + what + ": " + s.ToString()};
  }

  Expected<StepRecord> existing_step(const std::string& session, const std::string& step_name, std::uint64_t seq) {
    std::string bytes;
    auto s = db_->Get(rocksdb::ReadOptions(), steps_prefix(session) + be64(seq) + step_name, &bytes);
    if (!s.ok()) return failed("reading step '" + step_name + "' of session '" + session + "'", s);
    auto step = decode_step(bytes);
    if (!step)
      return Error{ErrorCode::journal_corrupt,
                   "session '" + session + "', step '" + step_name + "': " + step.error().message};
    step->seq = seq;
    return step;
  }

  // The seq of a step already written, or nullopt, from the session's in-memory index (built from
  // its keys the first time the session is written in this process).
  Expected<std::optional<std::uint64_t>> written_seq(const std::string& session, const std::string& step_name) {
    auto it = known_.find(session);
    if (it == known_.end()) {
      std::unordered_map<std::string, std::uint64_t> index;
      const std::string prefix = steps_prefix(session);
      std::unique_ptr<rocksdb::Iterator> iter(db_->NewIterator(rocksdb::ReadOptions()));
      for (iter->Seek(prefix); iter->Valid() && iter->key().starts_with(prefix); iter->Next()) {
        auto rest = iter->key().ToStringView().substr(prefix.size());
        if (rest.size() >= 8) index.emplace(std::string(rest.substr(8)), read_be64(rest));
      }
      if (!iter->status().ok()) return failed("indexing the steps of session '" + session + "'", iter->status());
      it = known_.emplace(session, std::move(index)).first;
    }
    auto found = it->second.find(step_name);
    if (found == it->second.end()) return std::optional<std::uint64_t>{};
    return std::optional<std::uint64_t>{found->second};
  }

  void forget(const std::string& session) {
    next_seq_.erase(session);
    known_.erase(session);
  }

  Expected<std::uint64_t> next_seq(const std::string& session) {
    auto it = next_seq_.find(session);
    if (it == next_seq_.end()) {
      std::uint64_t next = 1;
      std::string upper = steps_prefix(session);
      upper.back() = '\x01';
      std::unique_ptr<rocksdb::Iterator> iter(db_->NewIterator(rocksdb::ReadOptions()));
      iter->SeekForPrev(upper);
      const std::string prefix = steps_prefix(session);
      if (iter->Valid() && iter->key().starts_with(prefix))
        next = read_be64(iter->key().ToStringView().substr(prefix.size())) + 1;
      if (!iter->status().ok()) return failed("finding the last step of session '" + session + "'", iter->status());
      it = next_seq_.emplace(session, next).first;
    }
    return it->second++;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::string path_;
  rocksdb::WriteOptions sync_;
  std::unordered_map<std::string, std::uint64_t> next_seq_;
  // Step names → seq of the sessions written and still running in this process.
  std::unordered_map<std::string, std::unordered_map<std::string, std::uint64_t>> known_;
};

}  // namespace

Expected<std::shared_ptr<JournalStore>> open_rocksdb(const std::string& path) {
  if (path.empty()) return Error{ErrorCode::invalid_argument, "journal URI 'rocksdb:' needs a directory path"};
  rocksdb::Options options;
  options.create_if_missing = true;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 2;
  options.max_total_wal_size = 64 << 20;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    std::string hint = s.IsIOError() && s.ToString().find("lock") != std::string::npos
                           ? " (another process has this journal open; RocksDB journals belong to one process — "
                             "use postgres:// to share one)"
                           : "";
    return Error{s.IsCorruption() ? ErrorCode::journal_corrupt : ErrorCode::journal_error,
                 "journal rocksdb:" + path + ": cannot open: " + s.ToString() + hint};
  }
  return std::shared_ptr<JournalStore>(std::make_shared<RocksStore>(std::unique_ptr<rocksdb::DB>(raw), path));
}

}  // namespace loomflow::journal
