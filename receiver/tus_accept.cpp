// TusServer: the accept loop. Out of descriptors (EMFILE/ENFILE) or kernel
// memory, accepting again at once would spin a core while the connection
// stays in the backlog: the loop closes the oldest unauthenticated
// connection and backs off (100 ms, doubling to 1 s) instead. The caps
// themselves are ConnectionLimiter's (connection_limiter.hpp).
#include <receiver/tus_server_impl.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>

namespace medgw::receiver {
namespace {

bool out_of_resources(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

asio::awaitable<void> TusServer::Impl::accept_loop() {
  asio::steady_timer backoff_timer(io);
  std::chrono::milliseconds backoff{0};
  while (acceptor.is_open()) {
    tcp::socket socket(io);
    boost::system::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec && out_of_resources(ec)) {
      backoff = std::clamp<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(100), std::chrono::seconds(1));
      limiter.evict_oldest_handshake();
      if (const auto suppressed = may_log(accept_log)) {
        logger.warn("receiver.accept_backoff",
                    "out of descriptors or memory while accepting; backing off (raise LimitNOFILE, lower max_connections)",
                    {{"error", ec.message()}, {"backoff_ms", static_cast<std::int64_t>(backoff.count())},
                     {"open", limiter.counters().open}, {"suppressed_before", *suppressed}});
      }
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (ec) continue;  // the client gave up while queued (ECONNABORTED and the like)
    backoff = std::chrono::milliseconds(0);
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

}  // namespace medgw::receiver
