#pragma once
/// gzip (RFC 1952) for HTTP bodies: OpAMP agents may send gzipped messages
/// and take gzipped answers (whether they do: `accepts_gzip`, http/exchange.hpp).

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace muster {

/// The gzip stream of `data`.
std::string gzip_compress(std::string_view data);

/// What the gzip stream `data` holds, if it is at most `max_bytes` once
/// decompressed. Errors: `invalid_argument` for a stream that is not gzip,
/// is cut short or has trailing bytes; `failed_precondition` when the
/// result would exceed `max_bytes` (a decompression bomb stops there).
Result<std::string> gzip_decompress(std::string_view data, std::size_t max_bytes);

}  // namespace muster
