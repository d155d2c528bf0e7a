#pragma once
// Who may hold a connection (issue 14, finding 4). Event-loop thread only.
//
//  - At most max_connections at once. A connection that has not finished its
//    TLS handshake costs an attacker nothing, so when a limit is reached the
//    OLDEST unauthenticated connection is closed to make room; only when every
//    connection is authenticated is the new one refused (closed at once,
//    before any TLS). An idle flood therefore cannot keep a gateway out: its
//    handshake takes milliseconds, the flood's connections wait for seconds.
//  - At most max_handshakes unauthenticated ones (same eviction).
//  - At most max_connections_per_facility authenticated ones per facility
//    (a stolen certificate cannot take the whole receiver).
// Every connection registers how to close it, so stop() can close them all.
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

namespace medgw::receiver {

struct ConnectionLimits {
  std::uint64_t max_connections = 4096;
  std::uint64_t max_handshakes = 1024;
  std::uint64_t max_per_facility = 64;
};

struct ConnectionCounters {
  std::uint64_t open = 0;
  std::uint64_t handshaking = 0;
  std::uint64_t accepted_total = 0;
  std::uint64_t refused_total = 0;  // closed at once: every connection authenticated
  std::uint64_t evicted_total = 0;  // unauthenticated ones closed to make room
  std::uint64_t facility_refused_total = 0;
};

class ConnectionLimiter {
  struct Entry {
    std::function<void()> close;  // empty once called
    bool handshaking = true;
    std::string facility;
  };
  struct State {
    ConnectionLimits limits;
    std::list<Entry> connections;  // handshaking ones in arrival order among the others
    std::map<std::string, std::uint64_t> per_facility;
    ConnectionCounters counters;
    std::uint64_t evicted_pending = 0;  // handshakes closed whose sessions have not ended yet
  };

 public:
  // Held by a session for its whole life; releases its place when dropped.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : state_(std::move(other.state_)), entry_(other.entry_) {}
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    [[nodiscard]] bool admitted() const { return state_ != nullptr; }

   private:
    friend class ConnectionLimiter;
    Slot(std::shared_ptr<State> state, std::list<Entry>::iterator entry) : state_(std::move(state)), entry_(entry) {}
    void release() noexcept;
    std::shared_ptr<State> state_;  // shared: a session may end after the server
    std::list<Entry>::iterator entry_;
  };

  explicit ConnectionLimiter(ConnectionLimits limits);

  // A new TCP connection; `close` closes its socket. Not admitted (slot
  // empty) when every connection is authenticated and the cap is reached.
  [[nodiscard]] Slot admit(std::function<void()> close);
  // The handshake succeeded for `facility` (empty: not mapped). False when the
  // facility holds its maximum already (the caller answers 503 and closes).
  [[nodiscard]] bool authenticated(Slot& slot, const std::string& facility);
  // Makes room by closing the oldest unauthenticated connection (EMFILE).
  bool evict_oldest_handshake();
  void close_all();

  [[nodiscard]] const ConnectionCounters& counters() const { return state_->counters; }
  [[nodiscard]] const ConnectionLimits& limits() const { return state_->limits; }

 private:
  std::shared_ptr<State> state_;
};

// Raises the soft RLIMIT_NOFILE to the hard one and returns the limit now in
// force, so the caps below it can be set to fit.
std::uint64_t raise_open_file_limit();

// max_connections held under the descriptor limit: each connection may hold
// a socket and an upload file; `reserve` descriptors stay for the database,
// landing and logs.
[[nodiscard]] std::uint64_t connections_within_file_limit(std::uint64_t configured, std::uint64_t file_limit);

}  // namespace medgw::receiver
