#pragma once
/// What revoking an API key and revoking an enrollment token share: the id
/// checked, another organization's record hidden, the revocation decided by
/// the record's own actor, the answer given once a read would see it.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "actors/access/credentials.hpp"
#include "actors/access/principal.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/when_folded.hpp"

namespace muster {

/// How a revocation names the record in its errors.
struct RecordNames {
  std::string_view noun;        ///< "API key"
  std::string_view code;        ///< "API_KEY": <code>_NOT_FOUND
  std::string_view invalid_id;  ///< "INVALID_KEY_ID"
};

/// Runs `then` once the read models hold `position` (at once without a `when_folded`).
inline void once_folded(const WhenFolded& when_folded, std::uint64_t position, std::function<void()> then) {
  if (when_folded) return when_folded(position, std::move(then));
  then();
}

/// Sends `RevokeCommand` to the record `id` of `host` for `caller`; `done`
/// gets the revocation's log position. `record_org` is the record's
/// organization as the read model knows it. Refused: `invalid_argument`
/// (a malformed id), `not_found` (another organization's record, for a
/// scoped caller), and whatever the record's decider refuses.
template <class RevokeCommand, class Aggregate>
void revoke_record(runtime::AggregateHost<Aggregate>& host, const Principal& caller, const std::string& id,
                   const std::optional<std::string>& record_org, const RecordNames& names,
                   const RequestContext& context, const WhenFolded& when_folded,
                   std::function<void(Result<std::uint64_t>)> done) {
  if (!is_valid_credential_id(id)) {
    return done(make_error(ErrorCode::invalid_argument,
                           fmt::format("{} id must be 16 lowercase hex digits", names.noun),
                           std::string(names.invalid_id)));
  }
  // Another organization's record does not exist for a scoped caller.
  if (caller.org != kAllOrgs && !visible_to(caller, record_org)) {
    return done(make_error(ErrorCode::not_found, fmt::format("no {} with this id", names.noun),
                           fmt::format("{}_NOT_FOUND", names.code)));
  }
  host.send(id, RevokeCommand{}, context,
            [when_folded, done = std::move(done)](Result<runtime::Outcome<typename Aggregate::State>> outcome) {
              if (!outcome) return done(outcome.error());
              const std::uint64_t position = outcome->position;
              once_folded(when_folded, position, [done, position] { done(position); });
            });
}

}  // namespace muster
