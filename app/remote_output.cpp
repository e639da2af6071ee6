// What the remote subcommands share: query strings, printing answers as
// tables or JSON, and failures as one line with their exit code.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "app/remote_command.hpp"
#include "app/terminal_text.hpp"

namespace muster::app {
namespace {

using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The value at `field` ("a.b": b inside a); null when absent.
const json& field_of(const json& item, const std::string& field) {
  static const json kNull;
  const json* at = &item;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = field.find('.', start);
    const std::string name = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object() || !at->contains(name)) return kNull;
    at = &at->at(name);
    if (dot == std::string::npos) return *at;
    start = dot + 1;
  }
}

// Characters on screen, near enough: UTF-8 continuation bytes take no column.
std::size_t width_of(const std::string& text) {
  std::size_t width = 0;
  for (const char c : text) width += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return width;
}

void print_table(const std::vector<Column>& columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const Column& column : columns) widths.push_back(width_of(column.header));
  for (const auto& row : rows) {
    for (std::size_t index = 0; index < row.size(); ++index)
      widths[index] = std::max(widths[index], width_of(row[index]));
  }
  const auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t index = 0; index < cells.size(); ++index) {
      line += cells[index];
      if (index + 1 < cells.size()) line += std::string(widths[index] - width_of(cells[index]) + 2, ' ');
    }
    std::puts(line.c_str());
  };
  std::vector<std::string> headers;
  for (const Column& column : columns) headers.push_back(column.header);
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

}  // namespace

Query& Query::add(const std::string& parameter, const std::optional<std::string>& value) {
  if (!value) return *this;
  text_ += text_.empty() ? "?" : "&";
  text_ += url_encode(parameter) + "=" + url_encode(*value);
  return *this;
}

Query& Query::add_each(const std::string& parameter, const std::vector<std::string>& values) {
  for (const std::string& value : values) add(parameter, value);
  return *this;
}

std::string Query::on(const std::string& path) const {
  return path + text_;
}

json body_of(const RemoteInvocation& invocation,
             const std::vector<std::pair<std::string, std::string>>& fields) {
  json body = json::object();
  for (const auto& [option, field] : fields) {
    if (auto value = invocation.value(option)) body[field] = *value;
  }
  return body;
}

json number_or_text(const std::string& text) {
  const json parsed = json::parse(text, nullptr, false);
  return parsed.is_number_integer() ? parsed : json(text);
}

std::string cell_text(const json& value) {
  if (value.is_null()) return "-";
  return terminal_safe_text(value.is_string() ? value.get<std::string>() : dump(value));
}

void print_json_line(const json& document) {
  std::puts(terminal_safe_json(dump(document)).c_str());
}

int finish_output() {
  return std::fflush(stdout) == 0 ? kExitOk : kExitUnavailable;
}

int report_failure(const RemoteInvocation& invocation, const ApiAnswer& answer) {
  if (invocation.output == OutputFormat::json && answer.body.is_object()) {
    // Scripts get the server's error document as it is.
    std::fprintf(stderr, "%s\n", terminal_safe_json(dump(answer.body)).c_str());
  } else {
    std::fprintf(stderr, "muster %s: %s\n", invocation.command.c_str(),
                 terminal_safe_text(describe_failure(answer, invocation.client.server_url)).c_str());
  }
  return exit_code_of(answer);
}

int run_list(ApiClient& client, const RemoteInvocation& invocation, const std::string& target,
             const std::string& items_key, const std::vector<Column>& columns) {
  const ApiAnswer answer = client.get(target);
  if (!answer.ok()) return report_failure(invocation, answer);
  if (invocation.output == OutputFormat::json) {
    print_json_line(answer.body);
    return finish_output();
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& item : answer.body.value(items_key, json::array())) {
    std::vector<std::string> row;
    for (const Column& column : columns) row.push_back(cell_text(field_of(item, column.field)));
    rows.push_back(std::move(row));
  }
  print_table(columns, rows);
  if (answer.body.contains("total")) std::printf("total: %s\n", cell_text(answer.body.at("total")).c_str());
  if (const json& next = field_of(answer.body, "next_cursor"); next.is_string()) {
    std::printf("more: --cursor %s\n", cell_text(next).c_str());
  }
  return finish_output();
}

int run_one(ApiClient& client, const RemoteInvocation& invocation, const std::string& method,
            const std::string& target, const std::optional<json>& body) {
  return print_one(invocation, client.request(method, target, body ? &*body : nullptr));
}

int print_one(const RemoteInvocation& invocation, const ApiAnswer& answer) {
  if (!answer.ok()) return report_failure(invocation, answer);
  if (invocation.output == OutputFormat::json) {
    print_json_line(answer.body);
    return finish_output();
  }
  if (!answer.body.is_object()) {
    std::puts(terminal_safe_text(answer.text).c_str());
    return finish_output();
  }
  std::size_t width = 0;
  for (const auto& [name, value] : answer.body.items()) width = std::max(width, name.size());
  for (const auto& [name, value] : answer.body.items()) {
    std::printf("%s:%s %s\n", name.c_str(), std::string(width - name.size(), ' ').c_str(),
                cell_text(value).c_str());
  }
  return finish_output();
}

std::string path_of(const std::string& collection, const std::string& id, const std::string& tail) {
  return collection + "/" + url_encode(id) + tail;
}

RemoteCommand command_on_one(const std::string& group, const std::string& verb, const std::string& argument,
                             const std::string& summary, const std::string& method,
                             const std::string& collection, const std::string& tail) {
  return {group,
          verb,
          argument,
          summary,
          {{argument}, {}, {}, {}},
          [method, collection, tail](ApiClient& client, const RemoteInvocation& invocation) {
            return run_one(client, invocation, method, path_of(collection, invocation.arguments[0], tail));
          }};
}

std::optional<std::string> read_local_file(const RemoteInvocation& invocation, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  if (!file.is_open() || file.bad()) {
    std::fprintf(stderr, "muster %s: cannot read %s: %s\n", invocation.command.c_str(),
                 terminal_safe_text(path).c_str(), std::strerror(errno));
    return std::nullopt;
  }
  return text.str();
}

}  // namespace muster::app
