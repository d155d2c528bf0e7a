#pragma once
// The daemon's local HTTP endpoint (status.listen, loopback by default):
// GET /healthz, /metrics, /status. Plain HTTP/1.1 on the daemon's
// io_context, one coroutine per connection, every read and write with a
// deadline, a cap on connections; only GET and HEAD.
#include <base/log.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace medgw::daemon {

struct HttpAnswer {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct StatusServerLimits {
  std::size_t max_connections = 16;  // more are closed at once (a local client hammering us)
  std::chrono::milliseconds request_deadline{10'000};  // to read a request and write its answer
  std::chrono::milliseconds accept_backoff{100};  // after an accept error (EMFILE...): wait, don't spin
};

class StatusServer {
 public:
  using Handler = std::function<HttpAnswer(std::string_view path)>;

  StatusServer(boost::asio::io_context& io, log::Logger logger, Handler handler, StatusServerLimits limits = {});
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Binds "host:port" (port 0 = any) and starts accepting; returns the port.
  // Throws std::runtime_error naming status.listen when it cannot bind.
  std::uint16_t start(const std::string& listen);
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace medgw::daemon
