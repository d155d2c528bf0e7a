#include <daemon/delivery/curl_driver.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace medgw::daemon {

namespace asio = boost::asio;

CurlDriver::CurlDriver(const asio::any_io_executor& executor, CURLM* multi)
    : executor_(executor), multi_(multi), wake_timer_(executor) {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlDriver::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlDriver::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlDriver::~CurlDriver() {
  // curl may still close sockets (curl_multi_cleanup): it must not call us then.
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, nullptr);
  for (auto& [fd, socket] : sockets_) {
    socket->closed = true;
    boost::system::error_code ignored;
    socket->stream.cancel(ignored);
    (void)socket->stream.release();  // curl owns the descriptor
  }
}

int CurlDriver::on_socket(CURL*, curl_socket_t fd, int what, void* self_ptr, void*) {
  auto& self = *static_cast<CurlDriver*>(self_ptr);
  auto found = self.sockets_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (found != self.sockets_.end()) {
      found->second->closed = true;
      boost::system::error_code ignored;
      found->second->stream.cancel(ignored);
      (void)found->second->stream.release();
      self.sockets_.erase(found);
    }
    return 0;
  }
  if (found == self.sockets_.end()) {
    found = self.sockets_.emplace(fd, std::make_shared<Socket>(self.executor_, fd)).first;
  }
  found->second->wanted = what;
  self.arm(found->second);
  return 0;
}

int CurlDriver::on_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto& self = *static_cast<CurlDriver*>(self_ptr);
  if (timeout_ms < 0) {
    self.curl_deadline_.reset();
  } else {
    self.curl_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  return 0;
}

// Waits for the directions curl wants that are not waited for yet. A
// direction that fired is armed again only after curl has had it (process()),
// so a socket that stays readable does not spin.
void CurlDriver::arm(const std::shared_ptr<Socket>& socket) {
  if ((socket->wanted & CURL_POLL_IN) != 0 && !socket->reading) {
    socket->reading = true;
    socket->stream.async_wait(asio::posix::stream_descriptor::wait_read,
                              [this, socket](const boost::system::error_code& ec) {
                                socket->reading = false;
                                if (ec || socket->closed) return;
                                ready(socket->fd, CURL_CSELECT_IN);
                              });
  }
  if ((socket->wanted & CURL_POLL_OUT) != 0 && !socket->writing) {
    socket->writing = true;
    socket->stream.async_wait(asio::posix::stream_descriptor::wait_write,
                              [this, socket](const boost::system::error_code& ec) {
                                socket->writing = false;
                                if (ec || socket->closed) return;
                                ready(socket->fd, CURL_CSELECT_OUT);
                              });
  }
}

void CurlDriver::ready(curl_socket_t fd, int events) {
  ready_.emplace_back(fd, events);
  wake_timer_.cancel();
}

void CurlDriver::process() {
  int running = 0;
  if (curl_deadline_ && *curl_deadline_ <= std::chrono::steady_clock::now()) {
    curl_deadline_.reset();
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  std::vector<std::pair<curl_socket_t, int>> events;
  events.swap(ready_);
  for (const auto& [fd, mask] : events) {
    if (!sockets_.contains(fd)) continue;  // closed meanwhile
    curl_multi_socket_action(multi_, fd, mask, &running);
  }
  // Re-arm what curl still wants (copies: callbacks may change the map).
  std::vector<std::shared_ptr<Socket>> live;
  live.reserve(sockets_.size());
  for (const auto& [fd, socket] : sockets_) live.push_back(socket);
  for (const auto& socket : live) {
    if (!socket->closed) arm(socket);
  }
}

asio::awaitable<void> CurlDriver::wait(std::chrono::milliseconds limit) {
  const auto now = std::chrono::steady_clock::now();
  auto until = now + limit;
  if (curl_deadline_) until = std::min(until, *curl_deadline_);
  if (!ready_.empty() || woken_ || until <= now) {
    woken_ = false;
    co_return;
  }
  wake_timer_.expires_at(until);
  boost::system::error_code ec;
  co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  woken_ = false;
}

void CurlDriver::wake() {
  woken_ = true;
  wake_timer_.cancel();
}

}  // namespace medgw::daemon
