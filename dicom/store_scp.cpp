#include <dicom/store_scp.hpp>

#include <dicom/association.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace medgw::dicom {
namespace {

std::string peer_address(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, text, sizeof text);
  }
  std::string out(text);
  if (out.starts_with("::ffff:") && out.find('.') != std::string::npos) out.erase(0, 7);
  return out;
}

// "host:port" or "[v6]:port".
std::pair<std::string, std::string> split_listen(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen \"" + listen + "\" is not host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, listen.substr(colon + 1)};
}

}  // namespace

StoreScp::StoreScp(ScpSettings settings, std::shared_ptr<const Staging> staging, RoomCheck room, log::Logger logger)
    : settings_(std::move(settings)), counters_(std::make_shared<ScpCounters>()) {
  shared_ = std::make_shared<Shared>(settings_, std::move(staging), std::move(room), std::move(logger), counters_);
}

StoreScp::~StoreScp() { stop(); }

void StoreScp::start() {
  const auto [host, port] = split_listen(settings_.listen);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("sources[" + settings_.source + "].listen \"" + settings_.listen +
                             "\": cannot resolve: " + ::gai_strerror(rc));
  }
  base::UniqueFd fd(::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0));
  const int one = 1;
  if (fd) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool bound = fd && ::bind(fd.get(), found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd.get(), 64) == 0;
  const int error = errno;
  ::freeaddrinfo(found);
  if (!bound) {
    throw std::runtime_error("source " + settings_.source + ": cannot listen on " + settings_.listen + ": " +
                             std::strerror(error) +
                             (error == EADDRINUSE ? " (another program uses the port: stop it or change listen)" : "") +
                             (error == EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : ""));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length);
  port_ = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  listen_fd_ = fd.release();
  shared_->stopping = false;
  running_ = true;
  acceptor_ = std::thread([this] { accept_loop(); });
  shared_->logger.info("dicom.listening", "the DICOM storage SCP accepts associations",
                       {{"source", settings_.source}, {"listen", settings_.listen}, {"port", port_},
                        {"ae_title", settings_.ae_title}});
}

void StoreScp::stop() {
  if (!running_.exchange(false)) return;
  shared_->stopping = true;
  if (acceptor_.joinable()) acceptor_.join();
  reap(true);
  ::close(listen_fd_);
  listen_fd_ = -1;
}

std::size_t StoreScp::active_associations() const {
  std::lock_guard lock(mutex_);
  std::size_t active = 0;
  for (const Worker& worker : workers_) active += worker.done->load() ? 0 : 1;
  return active;
}

void StoreScp::reap(bool all) {
  std::vector<Worker> finished;
  {
    std::lock_guard lock(mutex_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (all || it->done->load()) {
        finished.push_back(std::move(*it));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Worker& worker : finished) worker.thread.join();
}

void StoreScp::accept_loop() {
  while (!shared_->stopping) {
    pollfd ready{listen_fd_, POLLIN, 0};
    const int rc = ::poll(&ready, 1, 500);
    reap(false);
    if (rc <= 0) continue;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    base::UniqueFd connection(::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC));
    if (!connection) continue;
    if (active_associations() >= settings_.max_associations) {
      // Rejected at once, without a thread or reading the request (a flood
      // of connections costs nothing): transient, local limit exceeded.
      const std::string reject = associate_rj(2, 3, 2);
      (void)::send(connection.get(), reject.data(), reject.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ++counters_->associations_rejected;
      continue;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([shared = shared_, fd = connection.release(), peer = peer_address(address), done] {
      Association association(base::UniqueFd(fd), peer, *shared);
      association.run();
      done->store(true);
    });
    std::lock_guard lock(mutex_);
    workers_.push_back({std::move(thread), std::move(done)});
  }
}

}  // namespace medgw::dicom
