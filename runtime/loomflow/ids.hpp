// loomflow/ids.hpp — `UserId` and `SessionId`: distinct strong types, never interchangeable strings.
//
// Every message of a run carries both. `UserId` partitions memory, budgets, permissions, audit and
// journals; `SessionId` keys the durable journal (`(session_id, step_name)`).
// Thread-safety: immutable value types.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <utility>

namespace loomflow {

template <class Tag>
class StrongId {
 public:
  StrongId() = default;
  explicit StrongId(std::string value) : value_(std::move(value)) {}

  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  friend auto operator<=>(const StrongId&, const StrongId&) = default;

  // For serialization (CAF's inspect) only; ordinary code treats ids as immutable.
  std::string& mutable_value() noexcept { return value_; }

 private:
  std::string value_;
};

struct UserIdTag {};
struct SessionIdTag {};
using UserId = StrongId<UserIdTag>;
using SessionId = StrongId<SessionIdTag>;

}  // namespace loomflow

template <class Tag>
struct std::hash<loomflow::StrongId<Tag>> {
  std::size_t operator()(const loomflow::StrongId<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
