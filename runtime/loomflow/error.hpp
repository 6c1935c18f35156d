// loomflow/error.hpp — the one error type of Loomflow and `Expected<T>`, a value-or-error.
//
// Every fallible function across a module boundary returns `Expected<T>`; errors are plain data
// (a code and a message naming what failed and where) so they can travel inside actor messages
// and, later, between cluster nodes. Thread-safety: value types, no shared state.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace loomflow {

// Grouped like Abseil's canonical codes; `is_retryable` is the one place that decides retries.
enum class ErrorCode : std::uint8_t {
  ok = 0,
  // Input and definitions.
  invalid_argument,   // a caller passed something unusable
  invalid_spec,       // a declarative spec is malformed (names file, JSON path, problem)
  invalid_workflow,   // a workflow failed validation when built
  // Workflow control.
  unknown_route_label,  // a router produced a label that maps to no target
  visit_cap_exceeded,   // a node was entered more than max_visits_per_node times
  max_turns_exceeded,   // an agent needed more model turns than its cap
  // Models and tools.
  model_error,               // a provider failed or returned something unusable
  unavailable,               // a transient failure (overload, timeout): worth retrying
  script_exhausted,          // a scripted model was called more often than scripted
  script_mismatch,           // a scripted model got a call it did not expect
  output_schema_violation,   // an agent's final output does not match its output schema
  tool_error,                // a tool failed
  // Journals.
  journal_error,        // the journal could not be opened, read or written
  journal_corrupt,      // a journaled record failed its checksum or could not be decoded
  journal_divergence,   // a resumed run asked for other steps than its journal recorded
  permission_denied,    // e.g. resuming another user's session
  // Run control.
  cancelled,
  deadline_exceeded,
  // Everything else.
  internal,
};

std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;

  // "<code>: <message>", for logs and the CLI.
  std::string describe() const;
};

bool is_retryable(ErrorCode code) noexcept;

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// Thrown only by Expected::value() on misuse (reading the value of an error).
class BadExpectedAccess : public std::runtime_error {
 public:
  explicit BadExpectedAccess(const Error& error) : std::runtime_error(error.describe()), error_(error) {}
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

// A value of T or an Error, never both. Mirrors the parts of std::expected we need.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::move(std::get<0>(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::move(std::get<1>(state_)); }

 private:
  void check() const {
    if (!has_value()) throw BadExpectedAccess(std::get<1>(state_));
  }
  std::variant<T, Error> state_;
};

// Expected<void>: success or an Error.
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)), ok_(false) {}
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw BadExpectedAccess(error_);
  }
  const Error& error() const& { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace loomflow
