#include "tests/support/muster_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "tests/support/temp_dir.hpp"

namespace muster::testing {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Starts `binary args...` with stdout and stderr sent to the given files.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path,
            const std::string& in_path = "") {
  std::vector<char*> argv;
  std::string binary = MUSTER_BINARY;
  argv.push_back(binary.data());
  std::vector<std::string> copies = args;
  for (std::string& arg : copies) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    if (!in_path.empty()) ::dup2(::open(in_path.c_str(), O_RDONLY), STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
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
  const int code = wait_exit(pid_);
  pid_ = -1;
  return code;
}

void MusterServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_exit(pid_);
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
        int status = 0;
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done != pid) return false;
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return true;
      },
      timeout);
  if (!finished) {
    ::kill(pid, SIGKILL);
    wait_exit(pid);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace muster::testing
