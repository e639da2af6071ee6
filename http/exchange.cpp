#include "http/exchange.hpp"

#include <cctype>

namespace muster::http {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t index = 0; index < a.size(); ++index) {
    if (std::tolower(static_cast<unsigned char>(a[index])) != std::tolower(static_cast<unsigned char>(b[index]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split_header_list(std::string_view value) {
  std::vector<std::string_view> items;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trim_whitespace(value.substr(0, comma));
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) return items;
    value.remove_prefix(comma + 1);
  }
}

bool accepts_gzip(std::string_view accept_encoding) {
  for (const std::string_view item : split_header_list(accept_encoding)) {
    const std::size_t semicolon = item.find(';');
    const std::string_view coding = trim_whitespace(item.substr(0, semicolon));
    if (!equals_ignoring_case(coding, "gzip") && coding != "*") continue;
    if (semicolon == std::string_view::npos) return true;
    std::string_view parameter = trim_whitespace(item.substr(semicolon + 1));
    if (parameter.size() < 2 || std::tolower(static_cast<unsigned char>(parameter[0])) != 'q' ||
        parameter[1] != '=') {
      return true;
    }
    parameter.remove_prefix(2);
    // q=0, q=0.0, q=0.000 refuse; any other weight accepts.
    if (parameter.find_first_not_of("0.") != std::string_view::npos) return true;
  }
  return false;
}

std::optional<std::string_view> Headers::find(std::string_view name) const {
  for (const auto& [field, value] : fields_) {
    if (equals_ignoring_case(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::size_t Headers::count(std::string_view name) const {
  std::size_t found = 0;
  for (const auto& field : fields_) found += equals_ignoring_case(field.first, name) ? 1 : 0;
  return found;
}

}  // namespace muster::http
