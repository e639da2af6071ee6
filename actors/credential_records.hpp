#pragma once
/// What API keys and enrollment tokens share. Each is a record in a stream
/// "<kind>:<id>": the first event creates it, a second one revokes it. Its id
/// is 16 hex digits; its secret is 32 random bytes of which only the SHA-256
/// is stored. The plaintext a caller presents reads "<prefix>_<id>_<secret>",
/// so checking it costs one in-memory lookup, one SHA-256 and a
/// constant-time compare.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "eventstore/event_store.hpp"

namespace muster {

struct NewCredential {
  std::string id;
  std::string secret_sha256;
  std::string plaintext;  ///< Exists only here: hand it to the caller once.
};

/// A fresh id and secret. Errors: `internal` if the OS has no randomness.
Result<NewCredential> new_credential(std::string_view prefix);

/// True for a record id: 16 lowercase hex digits.
bool is_valid_credential_id(std::string_view text);

/// A plaintext as presented: the record it names and its secret's digest.
struct PresentedCredential {
  std::string id;
  std::string secret_sha256;
};

/// Reads "<prefix>_<id>_<secret>"; nullopt if `plaintext` has another shape.
std::optional<PresentedCredential> read_credential(std::string_view plaintext, std::string_view prefix);

/// The id in a stream "<prefix><id>" (prefix such as "apikey:"); nullopt for another kind of stream.
std::optional<std::string> record_id_of(std::string_view stream, std::string_view prefix);

/// Reads of a record event's payload that never throw: the member's value,
/// or nullopt if it is of another type or (when `required`) absent; an absent
/// optional text reads as empty. Counts are non-negative integers.
std::optional<std::string> payload_text(const nlohmann::json& data, const char* key, bool required);
std::optional<std::uint64_t> payload_count(const nlohmann::json& data, const char* key);

/// The `corruption` error for an event of a record's stream that cannot be folded.
Error record_corruption(const Event& event, std::string_view why);

/// What a revocation calls the record in its errors: "API key" and "API_KEY".
struct RecordKind {
  std::string_view noun;
  std::string_view code;
};

/// Appends `revoked_type` as the second event of `stream`; returns its
/// position. Errors: `not_found` / <code>_NOT_FOUND if the record was never
/// made, `conflict` / <code>_REVOKED if it is already revoked, those of the store.
Result<std::uint64_t> revoke_credential(EventStore& store, const std::string& stream,
                                        const char* revoked_type, RecordKind kind, const std::string& meta);

}  // namespace muster
