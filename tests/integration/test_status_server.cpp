// The daemon's status server on a real loopback socket, driven by clients
// that behave and clients that do not: wrong methods, oversized headers, a
// flood of idle connections, a client that never finishes its request, a
// handler that throws.
#include <tests/support/test_support.hpp>

#include <daemon/service/status_server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace medgw {
namespace {

using namespace std::chrono_literals;

// The server on its own io_context thread.
struct Running {
  explicit Running(daemon::StatusServerLimits limits = {}) {
    server.emplace(io, test::capture_logger(capture, "status"), [this](std::string_view path) -> daemon::HttpAnswer {
      paths.push_back(std::string(path));
      if (path == "/boom") throw std::runtime_error("the handler broke");
      if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
      return {404, "text/plain; charset=utf-8", "not found\n"};
    }, limits);
    port = server->start("127.0.0.1:0");
    thread = std::thread([this] { io.run(); });
  }
  ~Running() {
    boost::asio::post(io, [this] { server->stop(); });
    io.stop();
    thread.join();
  }

  boost::asio::io_context io;
  std::shared_ptr<test::LogCapture> capture = std::make_shared<test::LogCapture>();
  std::optional<daemon::StatusServer> server;
  std::vector<std::string> paths;  // the handler runs on the io thread; read after a reply
  std::uint16_t port = 0;
  std::thread thread;
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

void send_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // the server closed: the caller looks at what it read
    text.remove_prefix(static_cast<std::size_t>(sent));
  }
}

// Everything the server sends until it closes or `timeout` passes.
std::string read_until_closed(int fd, std::chrono::milliseconds timeout = 5s) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char block[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd waiting{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&waiting, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) <= 0) break;
    const ssize_t got = ::recv(fd, block, sizeof block, 0);
    if (got <= 0) break;
    out.append(block, static_cast<std::size_t>(got));
  }
  return out;
}

std::string request(std::uint16_t port, const std::string& text) {
  const int fd = connect_to(port);
  send_all(fd, text);
  std::string answer = read_until_closed(fd);
  ::close(fd);
  return answer;
}

}  // namespace

TEST_CASE("the status server answers GET and HEAD, strips the query, refuses other methods", "[status_server]") {
  Running running;
  const std::string ok = request(running.port, "GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_THAT(ok, Catch::StartsWith("HTTP/1.1 200 OK") && Catch::Contains("Cache-Control: no-store") &&
                     Catch::EndsWith("\r\n\r\nok\n"));
  const std::string head = request(running.port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 200 OK") && Catch::Contains("Content-Length: 3") &&
                       Catch::EndsWith("\r\n\r\n"));
  const std::string post = request(running.port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                                 "Connection: close\r\n\r\n");
  CHECK_THAT(post, Catch::StartsWith("HTTP/1.1 405") && Catch::Contains("Allow: GET, HEAD"));
  const std::string missing = request(running.port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_THAT(missing, Catch::StartsWith("HTTP/1.1 404"));
  CHECK(running.paths == std::vector<std::string>{"/healthz", "/healthz", "/nope"});  // never "/healthz?verbose=1"
}

TEST_CASE("several requests on one kept-alive connection", "[status_server]") {
  Running running;
  const std::string answers = request(running.port,
                                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t count = 0;
  for (std::size_t at = answers.find("HTTP/1.1 200"); at != std::string::npos; at = answers.find("HTTP/1.1 200", at + 1)) {
    ++count;
  }
  CHECK(count == 2);
}

TEST_CASE("a handler that throws gives a 500 and a log line, and the server goes on", "[status_server]") {
  Running running;
  const std::string broken = request(running.port, "GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_THAT(broken, Catch::StartsWith("HTTP/1.1 500") && Catch::Contains("internal error; see the log"));
  CHECK_FALSE(Catch::Contains("the handler broke").match(broken));  // the error text stays in the log
  CHECK(running.capture->contains("event=status.handler_failed"));
  CHECK_THAT(request(running.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("hostile clients: oversized headers, garbage, a body, are closed without an answer", "[status_server]") {
  Running running;
  CHECK(request(running.port, "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n").empty());
  CHECK(request(running.port, "\x16\x03\x01\x02\x00 not http at all\r\n\r\n").empty());
  CHECK(request(running.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789").empty());
  CHECK_THAT(request(running.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("a flood of idle connections is capped and a silent client is cut at the deadline", "[status_server]") {
  daemon::StatusServerLimits limits;
  limits.max_connections = 4;
  limits.request_deadline = 300ms;
  Running running(limits);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_to(running.port));
  // The fifth is closed at once (EOF), without waiting for its request.
  const int refused = connect_to(running.port);
  const auto started = std::chrono::steady_clock::now();
  CHECK(read_until_closed(refused, 2s).empty());
  CHECK(std::chrono::steady_clock::now() - started < 250ms);
  ::close(refused);
  // The silent ones are cut at the deadline, which frees their slots.
  for (int fd : idle) {
    CHECK(read_until_closed(fd, 3s).empty());
    ::close(fd);
  }
  CHECK_THAT(request(running.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("a port in use is an error naming status.listen", "[status_server]") {
  Running running;
  boost::asio::io_context io;
  daemon::StatusServer second(io, test::capture_logger(std::make_shared<test::LogCapture>(), "status"),
                              [](std::string_view) { return daemon::HttpAnswer{}; });
  CHECK_THROWS_WITH(second.start("127.0.0.1:" + std::to_string(running.port)),
                    Catch::Contains("status.listen") && Catch::Contains("cannot listen"));
  CHECK_THROWS_WITH(second.start("localhost:0"), Catch::Contains("is not an IP address"));
}

}  // namespace medgw
