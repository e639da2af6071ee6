#include "app/api_client.hpp"

#include <cctype>

#include <fmt/format.h>

namespace muster::app {

std::string normalize_server_url(const std::string& text) {
  // cpp-httplib takes scheme, host and port: no path.
  std::string url = text;
  if (!url.empty() && url.back() == '/') url.pop_back();
  const auto host = url.find("://");
  const std::string scheme = host == std::string::npos ? std::string() : url.substr(0, host);
  if ((scheme != "http" && scheme != "https") || url.size() == host + 3 ||
      url.find('/', host + 3) != std::string::npos) {
    return {};
  }
  return url;
}

int exit_code_of(const ApiAnswer& answer) {
  if (answer.ok()) return kExitOk;
  if (answer.status == 401 || answer.status == 403) return kExitAuth;
  if (answer.status == 404) return kExitNotFound;
  if (answer.status >= 400 && answer.status < 500) return kExitRefused;
  return kExitUnavailable;
}

std::string describe_failure(const ApiAnswer& answer, const std::string& server_url) {
  if (answer.status == 0) return fmt::format("cannot reach {}: {}", server_url, answer.transport_error);
  const nlohmann::json& body = answer.body;
  if (!body.is_object() || !body.contains("error")) {
    // Not the API's error shape (a proxy's page, say): its status and a bounded start of the body.
    std::string start = answer.text.substr(0, 200);
    for (char& c : start) {
      if (std::iscntrl(static_cast<unsigned char>(c))) c = ' ';
    }
    return fmt::format("the server answered {}: {}", answer.status, start);
  }
  const auto text_of = [](const nlohmann::json& value) {
    return value.is_string() ? value.get<std::string>()
                             : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string line = fmt::format("{} ({} {})", text_of(body.at("error")), answer.status,
                                 text_of(body.value("code", nlohmann::json())));
  if (const auto details = body.find("details"); details != body.end() && !details->empty()) {
    line += " " + details->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return line;
}

ApiClient::ApiClient(ApiClientOptions options)
    : options_(std::move(options)), client_(std::make_unique<httplib::Client>(options_.server_url)) {
  if (!options_.ca_cert_path.empty()) client_->set_ca_cert_path(options_.ca_cert_path.c_str());
  client_->set_connection_timeout(options_.connect_timeout);
  client_->set_read_timeout(options_.read_timeout);
  client_->set_write_timeout(options_.read_timeout);
  client_->set_keep_alive(true);
}

httplib::Headers ApiClient::headers() const {
  httplib::Headers headers{{"Accept", "application/json"}};
  if (!options_.key.empty()) headers.emplace("Authorization", "Bearer " + options_.key);
  return headers;
}

namespace {

ApiAnswer to_answer(const httplib::Result& result) {
  ApiAnswer answer;
  if (!result) {
    answer.transport_error = httplib::to_string(result.error());
    return answer;
  }
  answer.status = result->status;
  answer.text = result->body;
  answer.body = nlohmann::json::parse(answer.text, nullptr, false);
  return answer;
}

}  // namespace

ApiAnswer ApiClient::request(const std::string& method, const std::string& target,
                             const nlohmann::json* body) {
  httplib::Request request;
  request.method = method;
  request.path = target;
  request.headers = headers();
  if (body != nullptr) {
    request.body = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    request.headers.emplace("Content-Type", "application/json");
  }
  return to_answer(client_->send(request));
}

ApiAnswer ApiClient::stream(const std::string& target, const std::function<bool(std::string_view)>& on_data) {
  int status = 0;
  std::string error_body;
  auto result = client_->Get(
      target, headers(),
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t length) {
        if (status < 200 || status >= 300) {
          error_body.append(data, length);
          return true;
        }
        return on_data(std::string_view(data, length));
      });
  if (!result && status == 0) return to_answer(result);
  ApiAnswer answer;
  answer.status = status;
  answer.text = std::move(error_body);
  answer.body = nlohmann::json::parse(answer.text, nullptr, false);
  return answer;
}

}  // namespace muster::app
