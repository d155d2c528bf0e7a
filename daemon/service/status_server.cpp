#include <daemon/service/status_server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <stdexcept>

namespace medgw::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct StatusServer::Impl : std::enable_shared_from_this<StatusServer::Impl> {
  asio::io_context& io;
  log::Logger logger;
  Handler handler;
  StatusServerLimits limits;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  std::size_t connections = 0;
  bool stopped = false;

  Impl(asio::io_context& context, log::Logger log, Handler h, StatusServerLimits l)
      : io(context), logger(std::move(log)), handler(std::move(h)), limits(l), acceptor(context), backoff(context) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors (EMFILE/ENFILE) or memory: the pending connection
        // stays queued, so retrying at once would spin; wait a little.
        logger.warn("status.accept_failed", "the status server could not accept a connection; retrying shortly",
                    {{"error", ec.message()}});
        backoff.expires_after(limits.accept_backoff);
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (connections >= limits.max_connections) continue;  // closes it: a local client hammering us
      ++connections;
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    try {
      while (!stopped) {
        stream.expires_after(limits.request_deadline);
        http::request_parser<http::empty_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(0);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        const auto& request = parser.get();
        http::response<http::string_body> response;
        response.version(request.version());
        response.keep_alive(request.keep_alive());
        response.set(http::field::server, "medgw");
        response.set(http::field::cache_control, "no-store");
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
          response.result(http::status::method_not_allowed);
          response.set(http::field::allow, "GET, HEAD");
          response.set(http::field::content_type, "text/plain; charset=utf-8");
          response.body() = "only GET and HEAD\n";
        } else {
          std::string_view target(request.target().data(), request.target().size());
          target = target.substr(0, target.find('?'));
          HttpAnswer answer;
          try {
            answer = handler(target);
          } catch (const std::exception& error) {
            logger.error("status.handler_failed", "the status server could not answer", {{"error", error.what()}});
            answer = {500, "text/plain; charset=utf-8", "internal error; see the log\n"};
          }
          response.result(static_cast<http::status>(answer.status));
          response.set(http::field::content_type, answer.content_type);
          response.body() = std::move(answer.body);
        }
        response.prepare_payload();
        if (request.method() == http::verb::head) {
          http::response<http::empty_body> head{response.base()};
          co_await http::async_write(stream, head, asio::use_awaitable);
        } else {
          co_await http::async_write(stream, response, asio::use_awaitable);
        }
        if (!response.keep_alive()) break;
      }
    } catch (const boost::system::system_error&) {
      // timeout, reset, malformed request: the connection is closed.
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    --connections;
  }
};

StatusServer::StatusServer(asio::io_context& io, log::Logger logger, Handler handler, StatusServerLimits limits)
    : impl_(std::make_shared<Impl>(io, std::move(logger), std::move(handler), limits)) {}

StatusServer::~StatusServer() { stop(); }

std::uint16_t StatusServer::start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("status.listen: expected host:port, got " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("status.listen: " + host + " is not an IP address");
  const auto port = static_cast<std::uint16_t>(std::stoul(listen.substr(colon + 1)));
  const tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    acceptor.close();
    throw std::runtime_error("status.listen: cannot listen on " + listen + ": " + ec.message() +
                             " (another medgw running? choose another port)");
  }
  acceptor.listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  return acceptor.local_endpoint().port();
}

void StatusServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->backoff.cancel();
}

}  // namespace medgw::daemon
