#include "tests/support/muster_process.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>

#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster::testing {
namespace {

// Starts the muster binary under test with stdout and stderr sent to the given files.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path,
            const std::string& in_path = "") {
  ChildOutput output;
  output.out_path = out_path;
  output.err_path = err_path;
  output.in_path = in_path;
  return spawn_process(MUSTER_BINARY, args, output);
}

HttpAnswer to_answer(const httplib::Result& result) {
  HttpAnswer answer;
  if (!result) return answer;
  answer.status = result->status;
  answer.body = result->body;
  answer.headers = result->headers;
  answer.json = nlohmann::json::parse(answer.body, nullptr, false);
  return answer;
}

}  // namespace

MusterServer::MusterServer(std::string data_dir, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)), log_path_(data_dir_ + ".server.log") {
  std::vector<std::string> args = {"serve", "--data", data_dir_, "--listen", "127.0.0.1:0"};
  const auto tls_cert = std::find(extra_args.begin(), extra_args.end(), "--tls-cert");
  if (tls_cert != extra_args.end() && tls_cert + 1 != extra_args.end()) tls_ca_path_ = *(tls_cert + 1);
  if (std::find(extra_args.begin(), extra_args.end(), "--agent-listen") == extra_args.end()) {
    args.insert(args.end(), {"--agent-listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // Empty the log before the child starts: a restart on the same data dir
  // must not read the previous server's "listening" line.
  std::ofstream(log_path_, std::ios::trunc).close();
  pid_ = spawn(args, "/dev/null", log_path_);
  const std::regex listening(R"re("agent_port":(\d+).*"msg":"listening".*"port":(\d+))re");
  const bool listening_seen = eventually(
      [&] {
        std::smatch found;
        const std::string log = log_text();
        if (!std::regex_search(log, found, listening)) return false;
        agent_port_ = std::stoi(found[1]);
        port_ = std::stoi(found[2]);
        request_port_ = port_;
        return true;
      },
      std::chrono::seconds(30));
  if (!listening_seen) {
    kill9();
    throw std::runtime_error("muster did not start listening; log:\n" + log_text());
  }
  if (!eventually([&] { return get("/readyz").status == 200; }, std::chrono::seconds(30))) {
    kill9();
    throw std::runtime_error("muster did not become ready; log:\n" + log_text());
  }
  admin_key_ = read_file(data_dir_ + "/admin.key");
  while (!admin_key_.empty() && admin_key_.back() == '\n') admin_key_.pop_back();
}

MusterServer::~MusterServer() {
  kill9();
}

std::string MusterServer::log_text() const {
  return read_file(log_path_);
}

namespace {

std::mutex agent_tokens_mutex;
std::map<std::string, std::string> agent_tokens;

void remember_agent_token(const HttpAnswer& answer) {
  if (!answer.json.is_object() || !answer.json.contains("agent_token")) return;
  std::lock_guard<std::mutex> lock(agent_tokens_mutex);
  agent_tokens[answer.json.at("agent_id").get<std::string>()] =
      answer.json.at("agent_token").get<std::string>();
}

// The agent named by an agent-only route ("/api/v1/agents/<id>/heartbeat",
// ".../token/rotate", ".../config/status", ".../config/effective"); empty otherwise.
std::string agent_route_id(const std::string& path) {
  static const std::regex agent_route(
      R"(^/api/v1/agents/([^/?]+)/(heartbeat|token/rotate|config/status|config/effective)(\?.*)?$)");
  std::smatch match;
  return std::regex_match(path, match, agent_route) ? match[1].str() : std::string();
}

}  // namespace

std::string MusterServer::agent_token_of(const std::string& agent_id) {
  std::lock_guard<std::mutex> lock(agent_tokens_mutex);
  const auto found = agent_tokens.find(agent_id);
  return found == agent_tokens.end() ? std::string() : found->second;
}

const std::string& MusterServer::enrollment_token() const {
  std::call_once(enrollment_token_made_, [this] {
    const HttpAnswer made =
        send("POST", "/api/v1/enrollment-tokens", R"({"name":"e2e"})",
             {{"Authorization", "Bearer " + admin_key_}, {"Content-Type", "application/json"}});
    if (made.status != 201) throw std::runtime_error("cannot make an enrollment token: " + made.body);
    enrollment_token_ = made.json.at("token").get<std::string>();
  });
  return enrollment_token_;
}

HttpAnswer MusterServer::send(const std::string& method, const std::string& path, const std::string& body,
                              const httplib::Headers& headers) const {
  const bool registration = path.rfind("/api/v1/agents/register", 0) == 0;
  const std::string agent_id = agent_route_id(path);
  std::string credential;
  if (headers.find("Authorization") == headers.end()) {
    credential = registration ? enrollment_token() : !agent_id.empty() ? agent_token_of(agent_id) : admin_key_;
  }
  httplib::Client client((tls_ca_path_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
                         std::to_string(request_port_));
  if (!tls_ca_path_.empty()) client.set_ca_cert_path(tls_ca_path_.c_str());
  client.set_read_timeout(30, 0);
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.headers = headers;
  if (request.headers.find("Authorization") == request.headers.end() && !credential.empty()) {
    request.headers.emplace("Authorization", "Bearer " + credential);
  }
  request.body = body;
  if (method != "GET" && method != "HEAD") {
    request.headers.emplace("Content-Length", std::to_string(body.size()));
  }
  HttpAnswer answer = to_answer(client.send(request));
  if (registration || !agent_id.empty()) remember_agent_token(answer);
  return answer;
}

HttpAnswer MusterServer::get(const std::string& path) const {
  return send("GET", path, "", {});
}

HttpAnswer MusterServer::post(const std::string& path, const std::string& body,
                              const std::string& content_type) const {
  return send("POST", path, body, {{"Content-Type", content_type}});
}

HttpAnswer MusterServer::del(const std::string& path) const {
  return send("DELETE", path, "", {});
}

int MusterServer::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int code = wait_for_exit(pid_);
  pid_ = -1;
  return code;
}

void MusterServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for_exit(pid_);
  pid_ = -1;
}

CommandResult run_muster(const std::vector<std::string>& args, std::chrono::seconds timeout,
                         const std::optional<std::string>& input) {
  TempDir scratch;
  const std::string out_path = scratch.file("out");
  const std::string err_path = scratch.file("err");
  const std::string in_path = input ? scratch.file("in") : std::string();
  if (input) std::ofstream(in_path, std::ios::binary) << *input;
  const pid_t pid = spawn(args, out_path, err_path, in_path);
  CommandResult result;
  const bool finished = eventually(
      [&] {
        const std::optional<int> code = exit_status_if_exited(pid);
        if (!code) return false;
        result.exit_code = *code;
        return true;
      },
      timeout);
  if (!finished) {
    ::kill(pid, SIGKILL);
    wait_for_exit(pid);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace muster::testing
