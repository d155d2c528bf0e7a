#pragma once
// Drives a libcurl multi handle from an io_context (STYLE.md: libcurl runs
// through one multi handle driven by the event loop): curl tells which
// sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
// (CURLMOPT_TIMERFUNCTION); readiness is waited for by the io_context's
// reactor and handed back with curl_multi_socket_action. Single-threaded:
// every member runs on the io_context's thread.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <curl/curl.h>

namespace medgw::daemon {

class CurlDriver {
 public:
  CurlDriver(const boost::asio::any_io_executor& executor, CURLM* multi);
  ~CurlDriver();
  CurlDriver(const CurlDriver&) = delete;
  CurlDriver& operator=(const CurlDriver&) = delete;

  // Hands curl what happened since the last call (ready sockets, its timer);
  // completed transfers are then in curl_multi_info_read.
  void process();
  // Suspends until a socket is ready, curl's timer expires, wake() is
  // called, or `limit` passes.
  [[nodiscard]] boost::asio::awaitable<void> wait(std::chrono::milliseconds limit);
  void wake();

 private:
  struct Socket {
    curl_socket_t fd;
    boost::asio::posix::stream_descriptor stream;
    int wanted = 0;  // CURL_POLL_IN / OUT / INOUT
    bool reading = false;
    bool writing = false;
    bool closed = false;
    Socket(const boost::asio::any_io_executor& executor, curl_socket_t s) : fd(s), stream(executor, s) {}
  };
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void arm(const std::shared_ptr<Socket>& socket);
  void ready(curl_socket_t fd, int events);

  boost::asio::any_io_executor executor_;
  CURLM* multi_;
  // When curl wants to be called back (CURLMOPT_TIMERFUNCTION), folded into
  // wait(): no timer of its own to re-arm at every call.
  std::optional<std::chrono::steady_clock::time_point> curl_deadline_;
  boost::asio::steady_timer wake_timer_;
  std::map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::vector<std::pair<curl_socket_t, int>> ready_;
  bool woken_ = false;
};

}  // namespace medgw::daemon
