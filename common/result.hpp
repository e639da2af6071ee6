#pragma once
/// Errors as values: every module boundary returns `Status` or `Result<T>`.
///
/// An `Error` carries a category (`ErrorCode`, which decides how callers react,
/// e.g. which HTTP status), a stable machine-readable `reason` (the API's
/// `code`, such as "AGENT_NOT_FOUND") and a human-readable message.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace muster {

enum class ErrorCode {
  invalid_argument,   ///< The caller sent something malformed; nothing changed.
  unauthenticated,    ///< The caller's credentials are missing, unknown or no longer valid.
  permission_denied,  ///< The caller is known but may not do this.
  not_found,          ///< The thing named does not exist (or the caller may not know it does).
  conflict,           ///< The state of the thing forbids it (it exists, it is in use, it was retired).
  failed_precondition,  ///< The caller's own condition (If-Match: an expected version) did not hold.
  unavailable,        ///< Temporarily unable; retrying later may succeed.
  io_error,           ///< Storage failed; the outcome of a write is not acknowledged.
  corruption,         ///< Stored data cannot be decoded.
  internal,           ///< A bug: an invariant did not hold.
};

/// Returns the lowercase name of `code`, e.g. "not_found".
const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  /// Stable API code such as "AGENT_NOT_FOUND"; empty means "derive from code".
  std::string reason = {};
  /// For `invalid_argument`: the request field at fault ("version",
  /// "files.a.yaml"); the API names it in the answer's details.
  std::string field = {};
};

/// A success or an `Error`. Cheap to move; `[[nodiscard]]` so no error is dropped.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  /// REQUIRES: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  /// REQUIRES: !ok().
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

/// The result of an operation that returns nothing but may fail.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  static Status success() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  /// REQUIRES: !ok().
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

inline Error make_error(ErrorCode code, std::string message, std::string reason = {}) {
  return Error{code, std::move(message), std::move(reason)};
}

/// `error`, naming `field` (the request's name for what it refuses).
inline Error with_field(Error error, std::string field) {
  error.field = std::move(field);
  return error;
}

/// The answer to work asked of muster while it stops.
inline Error shutting_down() {
  return make_error(ErrorCode::unavailable, "muster is shutting down", "SHUTTING_DOWN");
}

/// An `invalid_argument` error naming the field at fault.
inline Error invalid_field(std::string field, std::string message, std::string reason = "VALIDATION_FAILED") {
  return Error{ErrorCode::invalid_argument, std::move(message), std::move(reason), std::move(field)};
}

}  // namespace muster
