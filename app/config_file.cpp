#include "app/config_file.hpp"

#include <cctype>
#include <cstdint>

#include <fmt/format.h>

namespace muster::app {
namespace {

Error line_error(std::size_t line, std::string_view message) {
  return make_error(ErrorCode::invalid_argument, fmt::format("line {}: {}", line, message));
}

bool is_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

// A basic string's body from just after its opening quote; `rest` is left
// just after the closing one. Nullopt with `problem` set when malformed.
std::optional<std::string> basic_string(std::string_view& rest, std::string& problem) {
  std::string out;
  while (!rest.empty()) {
    const char c = rest.front();
    rest.remove_prefix(1);
    if (c == '"') return out;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (rest.empty()) break;
    const char escaped = rest.front();
    rest.remove_prefix(1);
    switch (escaped) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        if (rest.size() < 4) {
          problem = "\\u needs four hex digits";
          return std::nullopt;
        }
        std::uint32_t code_point = 0;
        for (char digit : rest.substr(0, 4)) {
          if (std::isxdigit(static_cast<unsigned char>(digit)) == 0) {
            problem = "\\u needs four hex digits";
            return std::nullopt;
          }
          const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(digit)));
          code_point = code_point * 16 + static_cast<std::uint32_t>(lower <= '9' ? lower - '0' : lower - 'a' + 10);
        }
        rest.remove_prefix(4);
        append_utf8(out, code_point);
        break;
      }
      default:
        problem = fmt::format("unknown escape \\{}", escaped);
        return std::nullopt;
    }
  }
  problem = "a string without its closing quote (multi-line strings are not supported)";
  return std::nullopt;
}

}  // namespace

Result<std::vector<ConfigSetting>> parse_config_file(std::string_view text) {
  std::vector<ConfigSetting> settings;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto skip_spaces = [&line] {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    };
    skip_spaces();
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') return line_error(line_number, "tables ([section]) are not supported: settings are flat");
    std::size_t key_size = 0;
    while (key_size < line.size() && is_key_char(line[key_size])) ++key_size;
    if (key_size == 0) return line_error(line_number, "expected a setting's name, as `name = value`");
    ConfigSetting setting;
    setting.line = line_number;
    setting.flag = "--" + std::string(line.substr(0, key_size));
    for (char& c : setting.flag) c = c == '_' ? '-' : c;
    line.remove_prefix(key_size);
    skip_spaces();
    if (line.empty() || line.front() != '=') {
      return line_error(line_number, line.empty() || line.front() != '.'
                                          ? "expected `=` after the name"
                                          : "dotted keys are not supported: settings are flat");
    }
    line.remove_prefix(1);
    skip_spaces();
    if (line.empty()) return line_error(line_number, "a setting without a value");
    if (line.front() == '"') {
      line.remove_prefix(1);
      std::string problem;
      auto value = basic_string(line, problem);
      if (!value) return line_error(line_number, problem);
      setting.value = std::move(*value);
    } else if (line.front() == '\'') {
      const auto closing = line.find('\'', 1);
      if (closing == std::string_view::npos) return line_error(line_number, "a string without its closing quote");
      setting.value = std::string(line.substr(1, closing - 1));
      line.remove_prefix(closing + 1);
    } else if (line.front() == '[' || line.front() == '{') {
      return line_error(line_number, "arrays and inline tables are not supported");
    } else {
      std::size_t size = 0;
      while (size < line.size() && line[size] != ' ' && line[size] != '\t' && line[size] != '#') ++size;
      const std::string_view bare = line.substr(0, size);
      line.remove_prefix(size);
      if (bare == "true" || bare == "false") {
        setting.boolean = bare == "true";
      } else if (bare.find_first_not_of("0123456789") != std::string_view::npos) {
        return line_error(line_number, fmt::format("'{}' is not a value: quote strings (\"...\")", bare));
      }
      setting.value = std::string(bare);
    }
    skip_spaces();
    if (!line.empty() && line.front() != '#') return line_error(line_number, "unexpected text after the value");
    settings.push_back(std::move(setting));
  }
  return settings;
}

std::string environment_name(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  std::string name = "MUSTER_";
  for (char c : flag) {
    name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

}  // namespace muster::app
