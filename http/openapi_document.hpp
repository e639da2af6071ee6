#pragma once
/// The OpenAPI 3.1 document of muster's HTTP API: http/openapi.json, written
/// by hand and embedded in the binary at build time (cmake/embed_text.cmake),
/// so serving it reads no file. Constant data: safe from any thread.

#include <string_view>

namespace muster::http {

/// The document's text, byte for byte as in http/openapi.json.
std::string_view openapi_document();

}  // namespace muster::http
